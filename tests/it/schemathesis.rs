//! Schemathesis (pinned in `tests/schemathesis/requirements.txt`) against the real daemon over
//! loopback, with its default checks — `response_schema_conformance`,
//! `negative_data_rejection` and `positive_data_acceptance` among them — over every operation
//! of `/openapi.json`. The run fails on any finding, or when an operation goes untested, and
//! prints schemathesis's report. One worker and `--generation-deterministic` (no random seed,
//! no example database): the same daemon gets the same requests on every run.
//!
//! String formats JSON Schema cannot spell out (`date-time` within the accepted range, `cron`,
//! `host-port`, `http-url`) get their value generators from `tests/schemathesis/hooks.py`,
//! which also keeps positive data to the document's vendor keywords for relations JSON Schema
//! cannot state (`x-minimum-field`, `x-differs-from`, ...; see docs/api.md).
//! `negative_data_rejection` also counts 413 as a rejection: a body over `api.body_bytes_max`
//! is refused before its fields are read. The run takes under a minute on two cores
//! (`--max-examples`).

use std::collections::BTreeSet;
use std::process::Command;

use crate::python::schemathesis;
use crate::support::TestDaemon;

/// Examples per operation and phase: with ~75 operations the run takes under a minute.
const MAX_EXAMPLES: &str = "10";

/// `(finding, operation)` pairs from schemathesis's text report: each `___ METHOD /path ___`
/// heading of the FAILURES and ERRORS sections, with the check codes (`ST202`) or error kinds
/// (`Schema Error`) under it.
fn findings(report: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut op: Option<String> = None;
    let mut in_sections = false;
    for line in report.lines() {
        if line.starts_with("====") {
            in_sections = line.contains(" FAILURES ") || line.contains(" ERRORS ");
            op = None;
            continue;
        }
        if !in_sections {
            continue;
        }
        if line.starts_with("___") {
            op = Some(line.trim_matches(|c| c == '_' || c == ' ').to_string());
            continue;
        }
        let Some(op) = &op else { continue };
        if let Some(rest) = line.strip_prefix("- ST") {
            let code = rest.split_whitespace().next().unwrap_or("");
            out.insert((format!("ST{code}"), op.clone()));
        } else if line.ends_with(" Error") && !line.starts_with(' ') {
            out.insert((line.trim().to_string(), op.clone()));
        }
    }
    out
}

#[test]
fn schemathesis_finds_nothing() {
    let st = schemathesis();
    // The schema states the bounds of the largest configuration (`steps` up to the highest
    // `workflows.steps_per_workflow_max`); the daemon under test runs with those, and with a
    // body limit that such a body fits in. An SMTP server is configured (nothing listens on
    // its port) so that `email` channels can be created.
    let d = TestDaemon::start_with(
        "[api]\nrate_limit_per_minute = 10000000\nbody_bytes_max = 67108864\n\
         [workflows]\nsteps_per_workflow_max = 10000\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\n",
    );
    let config = d.dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        "[checks.negative_data_rejection]\n\
         expected-statuses = [\"400\", \"401\", \"403\", \"404\", \"405\", \"406\", \"409\", \"413\", \"415\", \"422\", \"428\", \"429\", \"5xx\"]\n",
    )
    .expect("write the schemathesis config");
    let out = Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/openapi.json", d.base))
        .args(["-H", &format!("x-hookpulse-api-key: {}", d.key), "-H", &format!("x-brand-uuid: {}", d.brand)])
        // The Hook0 dialect's routes take the same key as a bearer token.
        .args(["-H", &format!("Authorization: Bearer {}", d.key)])
        .args(["--max-examples", MAX_EXAMPLES, "--workers", "1", "--generation-deterministic", "--no-color"])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis"))
        .current_dir(&d.dir)
        .output()
        .expect("run schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("API Operations:"), "schemathesis did not run:\n{report}");
    let found: Vec<String> = findings(&report).into_iter().map(|(c, o)| format!("{c} | {o}")).collect();
    assert!(found.is_empty(), "schemathesis found:\n{}\n\n{report}", found.join("\n"));
    assert!(out.status.success(), "schemathesis failed:\n{report}");
    // Every operation was exercised (one the generator cannot draw for is not "Tested").
    let count = |label: &str| -> Option<String> {
        let line = report.lines().find(|l| l.trim_start().starts_with(label))?;
        Some(line.trim_start()[label.len()..].trim().to_string())
    };
    let selected = count("Selected:").unwrap_or_default();
    let (selected, total) = selected.split_once('/').unwrap_or(("", "?"));
    assert_eq!(selected, total, "not every operation was selected:\n{report}");
    assert_eq!(count("Tested:").as_deref(), Some(total), "not every operation was tested:\n{report}");
    // The summary (operations, phases, cases generated) in the test's output.
    println!("{}", report.split("SUMMARY").nth(1).unwrap_or(&report));
}
