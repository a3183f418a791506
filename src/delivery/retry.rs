//! Attempt outcomes and retry timing, pure.
//!
//! 2xx succeeds. `410 Gone` fails for good (the receiver asked us to stop). Everything else —
//! other statuses (3xx included: redirects are not followed), timeouts, connection and TLS
//! errors — fails the attempt and is retried while retries remain. `429` and `503` honour
//! `Retry-After` (RFC 9110 §10.2.3: delay-seconds, or an HTTP-date in any of the three forms
//! of §5.6.7), capped by the maximum delay.
//! Delays: `linear` = retry_delay × n, `exponential` = retry_delay × 2^(n−1), for retry n ≥ 1,
//! capped at `retry_delay_max`.

use crate::model::{Backoff, RetryPolicy};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Failed; may be retried. `retry_after_ms` is the receiver's requested delay, if any.
    Retryable {
        retry_after_ms: Option<i64>,
    },
    /// Failed; never retried.
    Permanent,
}

/// Classifies an HTTP status (None = no response: timeout, connect or TLS error).
pub fn classify(status: Option<u16>, retry_after: Option<&str>, now: Millis) -> Outcome {
    match status {
        Some(s) if (200..300).contains(&s) => Outcome::Success,
        Some(410) => Outcome::Permanent,
        Some(429 | 503) => Outcome::Retryable { retry_after_ms: retry_after.and_then(|v| parse_retry_after(v, now)) },
        _ => Outcome::Retryable { retry_after_ms: None },
    }
}

/// Longest delay a `Retry-After` in seconds is read as (about 136 years); longer values are
/// saturated to it, never ignored, and the caller's cap (`retry_delay_max`) applies after.
const RETRY_AFTER_SECONDS_MAX: u64 = u32::MAX as u64;

/// `Retry-After` (RFC 9110 §10.2.3) as a delay in ms from `now`, or `None` when it is neither
/// form (the header is then ignored):
/// - delay-seconds: one or more digits (any length; saturated at [`RETRY_AFTER_SECONDS_MAX`]);
/// - an HTTP-date (§5.6.7) in any of its three forms — IMF-fixdate `Sun, 06 Nov 1994 08:49:37
///   GMT`, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years are 1970–2069), asctime
///   `Sun Nov  6 08:49:37 1994` — parsed by the `httpdate` crate; other RFC 5322 dates (a
///   numeric zone such as `+0000`) are accepted too. A date in the past means "now" (0).
pub fn parse_retry_after(v: &str, now: Millis) -> Option<i64> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let secs = v.parse::<u64>().unwrap_or(u64::MAX).min(RETRY_AFTER_SECONDS_MAX);
        return Some(secs as i64 * 1000);
    }
    let when = match httpdate::parse_http_date(v) {
        Ok(t) => i64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()?,
        Err(_) => jiff::fmt::rfc2822::parse(v).ok()?.timestamp().as_millisecond(),
    };
    Some(when.saturating_sub(now).max(0))
}

/// The delay before retry `n` (1-based) under `policy`, capped at `cap_ms`.
pub fn backoff_ms(policy: &RetryPolicy, n: u32, cap_ms: i64) -> i64 {
    let base = i64::from(policy.retry_delay_seconds) * 1000;
    let raw = match policy.backoff {
        Backoff::Linear => base.saturating_mul(i64::from(n)),
        Backoff::Exponential => {
            base.saturating_mul(1i64.checked_shl(n.saturating_sub(1)).filter(|m| *m > 0).unwrap_or(i64::MAX))
        }
    };
    raw.clamp(0, cap_ms)
}

/// When the next attempt happens after `attempts_done` attempts ended with `outcome`, or
/// `None` when the execution is finished (succeeded, permanent failure, retries exhausted).
pub fn next_attempt_at(
    policy: &RetryPolicy,
    attempts_done: u32,
    outcome: &Outcome,
    now: Millis,
    cap_ms: i64,
) -> Option<Millis> {
    match outcome {
        Outcome::Success | Outcome::Permanent => None,
        Outcome::Retryable { retry_after_ms } => {
            let retry_n = attempts_done; // attempt 1 failed → retry 1
            if retry_n > policy.max_retries {
                return None;
            }
            let delay = match retry_after_ms {
                Some(ra) => (*ra).clamp(0, cap_ms),
                None => backoff_ms(policy, retry_n, cap_ms),
            };
            Some(now + delay)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff, delay: u32, max: u32) -> RetryPolicy {
        RetryPolicy { retry_delay_seconds: delay, backoff, max_retries: max, request_timeout_ms: 1000 }
    }

    #[test]
    fn outcomes() {
        assert_eq!(classify(Some(200), None, 0), Outcome::Success);
        assert_eq!(classify(Some(204), None, 0), Outcome::Success);
        assert_eq!(classify(Some(410), None, 0), Outcome::Permanent);
        assert_eq!(classify(Some(302), None, 0), Outcome::Retryable { retry_after_ms: None });
        assert_eq!(
            classify(Some(500), Some("7"), 0),
            Outcome::Retryable { retry_after_ms: None },
            "only 429/503 honour Retry-After"
        );
        assert_eq!(classify(Some(429), Some("7"), 0), Outcome::Retryable { retry_after_ms: Some(7000) });
        assert_eq!(classify(None, None, 0), Outcome::Retryable { retry_after_ms: None });
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = "2026-11-27T12:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now), Some(30_000));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now), Some(0));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    /// Every form of RFC 9110 §10.2.3 / §5.6.7, past dates, garbage and huge values.
    #[test]
    fn retry_after_in_every_form() {
        let now = "2026-11-27T12:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond();
        let cases: &[(&str, Option<i64>)] = &[
            // delay-seconds
            ("0", Some(0)),
            ("7", Some(7_000)),
            (" 120 ", Some(120_000)),
            ("0042", Some(42_000)),
            // IMF-fixdate, RFC 850 and asctime: the same instant, 90 s from now.
            ("Fri, 27 Nov 2026 12:01:30 GMT", Some(90_000)),
            ("Friday, 27-Nov-26 12:01:30 GMT", Some(90_000)),
            ("Fri Nov 27 12:01:30 2026", Some(90_000)),
            ("Tue Dec  1 12:00:00 2026", Some(4 * 86_400_000)),
            ("Tuesday, 01-Dec-26 12:00:00 GMT", Some(4 * 86_400_000)),
            // Another RFC 5322 spelling (numeric zone) is understood too.
            ("Fri, 27 Nov 2026 13:01:30 +0100", Some(90_000)),
            // The examples of RFC 9110 §5.6.7 (1994): in the past, so retry now.
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(0)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(0)),
            ("Sun Nov  6 08:49:37 1994", Some(0)),
            ("Fri, 27 Nov 2026 11:59:59 GMT", Some(0)),
            ("Fri, 27 Nov 2026 12:00:00 GMT", Some(0)),
            // Huge values are saturated (the caller then caps them), never ignored.
            ("4294967295", Some(4_294_967_295_000)),
            ("4294967296", Some(4_294_967_295_000)),
            ("99999999999999999999999999", Some(4_294_967_295_000)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Some(253_402_300_799_000 - now)),
            // Garbage is ignored.
            ("", None),
            ("soon", None),
            ("-5", None),
            ("1.5", None),
            ("+5", None),
            ("5 s", None),
            ("Sat, 27 Nov 2026 12:01:30 GMT", None),
            ("Fri, 27 Nov 2026 25:01:30 GMT", None),
            ("Friday, 27-Nov-2026 12:01:30 GMT", None),
            ("Fri Nov 27 12:01:30", None),
            ("Fri, 27 Nov 2026 12:01:30 GMT garbage", None),
        ];
        for (header, expected) in cases {
            assert_eq!(parse_retry_after(header, now), *expected, "Retry-After: {header:?}");
        }
        // Through the classification and the retry timing: the cap applies.
        let p = policy(Backoff::Linear, 1, 3);
        for header in ["Friday, 27-Nov-26 12:01:30 GMT", "Fri Nov 27 12:01:30 2026"] {
            let o = classify(Some(503), Some(header), now);
            assert_eq!(o, Outcome::Retryable { retry_after_ms: Some(90_000) }, "{header}");
            assert_eq!(next_attempt_at(&p, 1, &o, now, 60_000), Some(now + 60_000), "{header}: capped");
        }
        let o = classify(Some(429), Some("Sunday, 06-Nov-94 08:49:37 GMT"), now);
        assert_eq!(next_attempt_at(&p, 1, &o, now, 60_000), Some(now), "a past date retries now");
        let o = classify(Some(429), Some("garbage"), now);
        assert_eq!(next_attempt_at(&p, 1, &o, now, 60_000), Some(now + 1_000), "ignored: the backoff applies");
    }

    #[test]
    fn linear_and_exponential_delays_with_the_cap() {
        let lin = policy(Backoff::Linear, 10, 5);
        assert_eq!((1..=5).map(|n| backoff_ms(&lin, n, i64::MAX) / 1000).collect::<Vec<_>>(), [10, 20, 30, 40, 50]);
        let exp = policy(Backoff::Exponential, 10, 5);
        assert_eq!((1..=5).map(|n| backoff_ms(&exp, n, i64::MAX) / 1000).collect::<Vec<_>>(), [10, 20, 40, 80, 160]);
        assert_eq!(backoff_ms(&exp, 5, 60_000), 60_000, "capped");
        assert_eq!(backoff_ms(&exp, 200, 86_400_000), 86_400_000, "no overflow");
    }

    #[test]
    fn retries_stop_after_max_retries_and_on_410() {
        let p = policy(Backoff::Linear, 1, 2);
        let fail = Outcome::Retryable { retry_after_ms: None };
        assert_eq!(next_attempt_at(&p, 1, &fail, 0, i64::MAX), Some(1000));
        assert_eq!(next_attempt_at(&p, 2, &fail, 0, i64::MAX), Some(2000));
        assert_eq!(next_attempt_at(&p, 3, &fail, 0, i64::MAX), None, "1 attempt + 2 retries");
        assert_eq!(next_attempt_at(&p, 1, &Outcome::Permanent, 0, i64::MAX), None);
        let ra = Outcome::Retryable { retry_after_ms: Some(90_000) };
        assert_eq!(next_attempt_at(&p, 1, &ra, 0, 60_000), Some(60_000), "Retry-After capped");
    }
}
