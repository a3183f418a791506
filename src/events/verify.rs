//! A source's verification of an inbound request (product.md §10, `verification`): `none`,
//! `hmac_sha256` (a header holding an HMAC-SHA256 of the body, hex or base64, after an optional
//! prefix such as `sha256=`), `standard_webhooks` (<https://www.standardwebhooks.com/>:
//! `webhook-id`, `webhook-timestamp` within the tolerance, `webhook-signature` with `v1,`
//! entries), `stripe_signature` (Stripe's `stripe-signature: t=<unix s>,v1=<hex>` over
//! `{t}.{body}`), `basic_auth` (RFC 7617) and `header_token`.
//!
//! Every comparison of a presented value with a secret runs in constant time: HMACs through
//! `Mac::verify_slice`, tokens and passwords by comparing SHA-256 digests with `subtle` (so a
//! length difference is not visible either). A refusal names what failed, never a value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How an HMAC is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

/// A source's verification mode with its secrets (taken from the vault by the caller).
#[derive(Debug, Clone)]
pub enum Verification {
    None,
    /// GitHub: `x-hub-signature-256`, prefix `sha256=`, hex. Shopify:
    /// `x-shopify-hmac-sha256`, no prefix, base64.
    HmacSha256 {
        header: String,
        prefix: String,
        encoding: Encoding,
        secret: zeroize::Zeroizing<Vec<u8>>,
    },
    /// `whsec_…` secrets (several during a rotation); `tolerance_s` (default 300).
    StandardWebhooks {
        secrets: Vec<zeroize::Zeroizing<String>>,
        tolerance_s: u64,
    },
    /// Stripe's scheme: `stripe-signature: t=…,v1=…[,v1=…]`, HMAC-SHA256 hex of `{t}.{body}`
    /// with the endpoint secret as key bytes; `tolerance_s` (Stripe's libraries use 300).
    StripeSignature {
        secret: zeroize::Zeroizing<Vec<u8>>,
        tolerance_s: u64,
    },
    /// `Authorization: Basic base64(user:password)`.
    BasicAuth {
        username: String,
        password: zeroize::Zeroizing<String>,
    },
    /// A header whose whole value is the token.
    HeaderToken {
        header: String,
        token: zeroize::Zeroizing<String>,
    },
}

/// Why a request was refused (recorded with the event as its reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("timestamp outside the tolerance")]
    StaleTimestamp,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a request. `header(name)` returns the request's header value for a lower-case name
/// (several lines of one name joined with `, `, RFC 9110 §5.3); `now_s` is Unix seconds.
pub fn verify(
    v: &Verification,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_s: i64,
) -> Result<(), Refusal> {
    let need = |name: &str| header(&name.to_ascii_lowercase()).ok_or_else(|| Refusal::MissingHeader(name.into()));
    match v {
        Verification::None => Ok(()),
        Verification::HmacSha256 { header: name, prefix, encoding, secret } => {
            let value = need(name)?;
            let presented = value.trim().strip_prefix(prefix.as_str()).ok_or(Refusal::Malformed("signature prefix"))?;
            let presented = match encoding {
                Encoding::Hex => hex::decode(presented).map_err(|_| Refusal::Malformed("hex signature"))?,
                Encoding::Base64 => STANDARD.decode(presented).map_err(|_| Refusal::Malformed("base64 signature"))?,
            };
            mac(secret, &[body]).verify_slice(&presented).map_err(|_| Refusal::Mismatch)
        }
        Verification::StandardWebhooks { secrets, tolerance_s } => {
            // An empty id is a missing one (the reference libraries refuse it too).
            let id = need("webhook-id").and_then(|id| {
                if id.trim().is_empty() { Err(Refusal::MissingHeader("webhook-id".into())) } else { Ok(id) }
            })?;
            let ts = need("webhook-timestamp")?;
            // Signed as the number it is, like the reference libraries (they parse the header
            // and sign the integer again), so `0017…` and `17…` sign the same text.
            let ts: i64 = ts.trim().parse().map_err(|_| Refusal::Malformed("webhook-timestamp"))?;
            if now_s.abs_diff(ts) > *tolerance_s {
                return Err(Refusal::StaleTimestamp);
            }
            let sigs = need("webhook-signature")?;
            let ok = sigs
                .split([' ', ','])
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| w[0] == "v1")
                .filter_map(|w| STANDARD.decode(w[1]).ok())
                .any(|sig| {
                    secrets.iter().any(|s| {
                        STANDARD
                            .decode(s.strip_prefix("whsec_").unwrap_or(s))
                            .ok()
                            .filter(|k| !k.is_empty())
                            .is_some_and(|k| {
                                mac(&k, &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body])
                                    .verify_slice(&sig)
                                    .is_ok()
                            })
                    })
                });
            if ok { Ok(()) } else { Err(Refusal::Mismatch) }
        }
        Verification::StripeSignature { secret, tolerance_s } => {
            let value = need("stripe-signature")?;
            let mut t = None;
            let mut v1 = Vec::new();
            for part in value.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", x)) => t = Some(x.parse::<i64>().map_err(|_| Refusal::Malformed("stripe-signature t"))?),
                    // Stripe's libraries compare each `v1` as text: one that is not hex
                    // matches nothing, and the others are still tried.
                    Some(("v1", x)) => v1.extend(hex::decode(x).ok()),
                    _ => {}
                }
            }
            let t = t.ok_or(Refusal::Malformed("stripe-signature without t"))?;
            if now_s.abs_diff(t) > *tolerance_s {
                return Err(Refusal::StaleTimestamp);
            }
            let signed = t.to_string();
            let ok = v1.iter().any(|sig| mac(secret, &[signed.as_bytes(), b".", body]).verify_slice(sig).is_ok());
            if ok { Ok(()) } else { Err(Refusal::Mismatch) }
        }
        Verification::BasicAuth { username, password } => {
            let value = need("authorization")?;
            // The scheme's name is case-insensitive (RFC 9110 §11.1).
            let encoded = value
                .trim()
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
                .map(|(_, rest)| rest)
                .ok_or(Refusal::Malformed("authorization scheme"))?;
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| Refusal::Malformed("basic credentials"))?;
            let expected = format!("{username}:{}", password.as_str());
            if same(&decoded, expected.as_bytes()) { Ok(()) } else { Err(Refusal::Mismatch) }
        }
        Verification::HeaderToken { header: name, token } => {
            let value = need(name)?;
            if same(value.trim().as_bytes(), token.as_bytes()) { Ok(()) } else { Err(Refusal::Mismatch) }
        }
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for p in parts {
        m.update(p);
    }
    m
}

/// Equality of two secrets in constant time, lengths included (their SHA-256 digests compared).
fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(Sha256::digest(a).ct_eq(&Sha256::digest(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn headers(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn github_s_published_example_verifies() {
        // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        let v = Verification::HmacSha256 {
            header: "X-Hub-Signature-256".into(),
            prefix: "sha256=".into(),
            encoding: Encoding::Hex,
            secret: Zeroizing::new(b"It's a Secret to Everybody".to_vec()),
        };
        let h = headers(&[(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert_eq!(verify(&v, &h, b"Hello, World!", 0), Ok(()));
        assert_eq!(verify(&v, &h, b"Hello, World?", 0), Err(Refusal::Mismatch));
        let unprefixed =
            headers(&[("x-hub-signature-256", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")]);
        assert_eq!(verify(&v, &unprefixed, b"Hello, World!", 0), Err(Refusal::Malformed("signature prefix")));
        assert_eq!(
            verify(&v, &headers(&[]), b"Hello, World!", 0),
            Err(Refusal::MissingHeader("X-Hub-Signature-256".into()))
        );
    }

    #[test]
    fn shopify_style_base64_hmac_verifies() {
        let secret = b"hush".to_vec();
        let sig = STANDARD.encode(mac(&secret, &[b"{\"id\":1}"]).finalize().into_bytes());
        let sig: &'static str = Box::leak(sig.into_boxed_str());
        let pairs: &'static [(&str, &str)] = Box::leak(vec![("x-shopify-hmac-sha256", sig)].into_boxed_slice());
        let v = Verification::HmacSha256 {
            header: "X-Shopify-Hmac-Sha256".into(),
            prefix: String::new(),
            encoding: Encoding::Base64,
            secret: Zeroizing::new(secret),
        };
        assert_eq!(verify(&v, &headers(pairs), b"{\"id\":1}", 0), Ok(()));
        assert_eq!(verify(&v, &headers(pairs), b"{\"id\":2}", 0), Err(Refusal::Mismatch));
    }

    #[test]
    fn standard_webhooks_test_vector_verifies_within_the_tolerance() {
        let v = Verification::StandardWebhooks {
            secrets: vec![
                Zeroizing::new("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
                Zeroizing::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            ],
            tolerance_s: 300,
        };
        let h = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ]);
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(verify(&v, &h, body, 1614265330 + 300), Ok(()));
        assert_eq!(verify(&v, &h, body, 1614265330 + 301), Err(Refusal::StaleTimestamp));
        assert_eq!(verify(&v, &h, body, i64::MIN), Err(Refusal::StaleTimestamp));
        assert_eq!(verify(&v, &h, b"{}", 1614265330), Err(Refusal::Mismatch));
        let no_id = headers(&[
            ("webhook-id", " "),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ]);
        assert_eq!(verify(&v, &no_id, body, 1614265330), Err(Refusal::MissingHeader("webhook-id".into())));
        let empty = Verification::StandardWebhooks { secrets: vec![Zeroizing::new("whsec_".into())], tolerance_s: 300 };
        assert_eq!(verify(&empty, &h, body, 1614265330), Err(Refusal::Mismatch), "an empty key never verifies");
    }

    #[test]
    fn stripe_s_scheme_verifies_any_v1_and_checks_the_timestamp() {
        let secret = b"whsec_test_secret".to_vec();
        let body = br#"{"id":"evt_1"}"#;
        let good = hex::encode(mac(&secret, &[b"1700000000", b".", body]).finalize().into_bytes());
        let value: &'static str = Box::leak(format!("t=1700000000,v1=00ff,v1={good},v0=abc").into_boxed_str());
        let pairs: &'static [(&str, &str)] = Box::leak(vec![("stripe-signature", value)].into_boxed_slice());
        let v = Verification::StripeSignature { secret: Zeroizing::new(secret), tolerance_s: 300 };
        assert_eq!(verify(&v, &headers(pairs), body, 1_700_000_100), Ok(()));
        assert_eq!(verify(&v, &headers(pairs), body, 1_700_000_301), Err(Refusal::StaleTimestamp));
        assert_eq!(verify(&v, &headers(pairs), b"{}", 1_700_000_000), Err(Refusal::Mismatch));
        // A `v1` that is not hex matches nothing; a valid one after it still verifies.
        let junk_first: &'static str = Box::leak(format!("t=1700000000,v1=not-hex,v1={good}").into_boxed_str());
        let pairs: &'static [(&str, &str)] = Box::leak(vec![("stripe-signature", junk_first)].into_boxed_slice());
        assert_eq!(verify(&v, &headers(pairs), body, 1_700_000_000), Ok(()));
        let only_junk = headers(&[("stripe-signature", "t=1700000000,v1=zz")]);
        assert_eq!(verify(&v, &only_junk, body, 1_700_000_000), Err(Refusal::Mismatch));
        let no_t = headers(&[("stripe-signature", "v1=00")]);
        assert_eq!(verify(&v, &no_t, body, 0), Err(Refusal::Malformed("stripe-signature without t")));
    }

    #[test]
    fn basic_auth_and_header_tokens_compare_whole_values() {
        let v = Verification::BasicAuth { username: "aladdin".into(), password: Zeroizing::new("opensesame".into()) };
        // RFC 7617 §2's example credentials.
        let ok = headers(&[("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")]);
        assert_eq!(verify(&v, &ok, b"", 0), Ok(()));
        // The scheme's name in any case (RFC 9110 §11.1).
        for scheme in ["basic", "BASIC", "bAsIc"] {
            let value: &'static str = Box::leak(format!("{scheme} YWxhZGRpbjpvcGVuc2VzYW1l").into_boxed_str());
            let pairs: &'static [(&str, &str)] = Box::leak(vec![("authorization", value)].into_boxed_slice());
            assert_eq!(verify(&v, &headers(pairs), b"", 0), Ok(()), "{scheme}");
        }
        let wrong = headers(&[("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW0=")]);
        assert_eq!(verify(&v, &wrong, b"", 0), Err(Refusal::Mismatch));
        let bearer = headers(&[("authorization", "Bearer x")]);
        assert_eq!(verify(&v, &bearer, b"", 0), Err(Refusal::Malformed("authorization scheme")));

        let t = Verification::HeaderToken { header: "X-Token".into(), token: Zeroizing::new("s3cr3t-token".into()) };
        assert_eq!(verify(&t, &headers(&[("x-token", "s3cr3t-token")]), b"", 0), Ok(()));
        assert_eq!(verify(&t, &headers(&[("x-token", "s3cr3t-toke")]), b"", 0), Err(Refusal::Mismatch));
        assert_eq!(verify(&t, &headers(&[("x-token", "s3cr3t-token-and-more")]), b"", 0), Err(Refusal::Mismatch));
    }

    #[test]
    fn refusals_never_carry_a_presented_or_secret_value() {
        let t = Verification::HeaderToken { header: "X-Token".into(), token: Zeroizing::new("s3cr3t-token".into()) };
        let e = verify(&t, &headers(&[("x-token", "guess-1234")]), b"", 0).unwrap_err().to_string();
        assert!(!e.contains("guess") && !e.contains("s3cr3t"), "{e}");
    }
}
