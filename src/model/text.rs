//! Text rules shared by the API's field types, the inbound-events core and the store's codec.

/// Invisible format characters that can disguise text in a list, a log line or a terminal:
/// the bidirectional controls (Unicode's "Trojan Source" set: ALM, LRM, RLM, LRE…RLO,
/// LRI…PDI) and the zero-width or invisible characters without a joining use (ZWSP, word
/// joiner and invisible operators, BOM). ZWJ/ZWNJ stay allowed: scripts and emoji need them.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The deepest nesting of arrays and objects in `json` (brackets inside strings do not
/// count), counted up to `stop + 1`. It only counts: bytes that are not JSON are left to the
/// decoder to refuse. Computed without parsing, so a hostile body cannot exhaust a parser's
/// stack before a limit applies (the API's `api.json_depth_max`, the store's record depth).
pub fn json_depth(json: &[u8], stop: usize) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > stop {
                    break;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"a": [1, {"b": "[[[{{{"}]}"#, usize::MAX), 3);
        assert_eq!(json_depth(br#""\"[""#, usize::MAX), 0);
        assert_eq!(json_depth(b"1", usize::MAX), 0);
        assert_eq!(json_depth(b"[[[[[[", 2), 3, "counted up to stop + 1");
    }
}
