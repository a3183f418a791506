//! Subscription transforms (`events::transform`): compile time and time per event of the three
//! transforms docs/dependencies.md compares (a GitHub push, a Stripe `invoice.paid`, a Shopify
//! order), each on its sender's documented payload inside the event envelope.
//!
//!     cargo bench --bench transform

use criterion::{Criterion, criterion_group, criterion_main};
use hookwheel::events::transform::{Transform, compile};
use serde_json::{Value, json};

fn envelope(kind: &str, body: Value) -> Value {
    json!({"event": {
        "uuid": "0190c8e4-7d2a-7b1c-9a53-2f1e0c3b4a5d", "type": kind,
        "source_uuid": "0190c8e4-0000-7000-8000-000000000001", "received_at": "2026-03-01T12:00:00Z",
        "method": "POST", "path": "/v1/ingest/tok", "query": {}, "headers": {"content-type": "application/json"},
        "body": body, "labels": {},
    }})
}

fn cases() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "github_push",
            r#"{repo: .event.body.repository.full_name, branch: (.event.body.ref | ltrimstr("refs/heads/")), pusher: .event.body.pusher.name, commits: (.event.body.commits | length)}"#,
            envelope(
                "push",
                json!({
                    "ref": "refs/heads/main", "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                    "repository": {"id": 186853002, "full_name": "Codertocat/Hello-World", "owner": {"login": "Codertocat"}},
                    "pusher": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"},
                    "commits": [{"id": "a1", "message": "Fix"}, {"id": "b2", "message": "Add"}, {"id": "c3", "message": "Doc"}]
                }),
            ),
        ),
        (
            "stripe_invoice_paid",
            r#".event.body.data.object | {customer, amount: (.amount_paid / 100), currency: (.currency | ascii_upcase)}"#,
            envelope(
                "invoice.paid",
                json!({"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "type": "invoice.paid", "data": {"object": {
                    "id": "in_1NG8Du2eZvKYlo2C", "customer": "cus_NffrFeUfNV2Hib", "amount_paid": 2000,
                    "currency": "usd", "status": "paid"}}}),
            ),
        ),
        (
            "shopify_order",
            r#".event.body | {order_id: .id, skus: [.line_items[].sku], total: (.total_price | tonumber)}"#,
            envelope(
                "orders/create",
                json!({"id": 820982911946154508_u64, "total_price": "598.94", "currency": "USD", "line_items": [
                    {"id": 866550311766439020_u64, "sku": "IPOD2008BLACK", "price": "199.00"},
                    {"id": 141249953214522974_u64, "sku": "IPOD2008GREEN", "price": "199.00"},
                    {"id": 257004973105704598_u64, "sku": "IPOD2008RED", "price": "199.00"}]}),
            ),
        ),
    ]
}

fn transforms(c: &mut Criterion) {
    for (name, src, input) in cases() {
        c.bench_function(&format!("compile/{name}"), |b| b.iter(|| compile(std::hint::black_box(src)).unwrap()));
        let t: Transform = compile(src).unwrap();
        c.bench_function(&format!("apply/{name}"), |b| {
            b.iter(|| t.apply(std::hint::black_box(&input), &mut || false).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = transforms
}
criterion_main!(benches);
