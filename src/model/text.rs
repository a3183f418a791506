//! Text rules shared by the API's field types and the inbound-events core.

/// Invisible format characters that can disguise text in a list, a log line or a terminal:
/// the bidirectional controls (Unicode's "Trojan Source" set: ALM, LRM, RLM, LRE…RLO,
/// LRI…PDI) and the zero-width or invisible characters without a joining use (ZWSP, word
/// joiner and invisible operators, BOM). ZWJ/ZWNJ stay allowed: scripts and emoji need them.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}
