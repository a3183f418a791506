//! Egress policy: which addresses deliveries may connect to.
//!
//! The check is applied to the addresses a host name actually resolves to, inside the HTTP
//! client's resolver (so there is no check-then-re-resolve window), and to IP-literal hosts
//! (which never reach a resolver; `2130706433`, `0x7f000001` and `[::ffff:127.0.0.1]` are
//! normalised to IPv4 by the URL parser first). Order: an address in `allow_cidrs` is allowed;
//! otherwise one in `deny_cidrs` or in the preset's list is denied. `default` denies link-local
//! and cloud-metadata addresses; `strict` also denies loopback, private, shared and other
//! non-public ranges.
//!
//! An IPv6 address that spells an IPv4 address is judged as that IPv4 address too (every
//! embedded address must pass): IPv4-mapped `::ffff:a.b.c.d` and IPv4-translated
//! `::ffff:0:a.b.c.d` (RFC 4291, RFC 2765), IPv4-compatible `::a.b.c.d` (RFC 4291 §2.5.5.1;
//! `::` and `::1` keep their IPv6 meaning), NAT64 `64:ff9b::/96` and the local-use
//! `64:ff9b:1::/48` at every RFC 6052 prefix length that fits it, 6to4 `2002::/16` (bits
//! 16–48, RFC 3056) and Teredo `2001::/32` (server in bits 32–64, client in the last 32 bits
//! inverted, RFC 4380). A refusal is the typed [`EgressDenied`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address (a single-address range); `None` when
    /// the text is not a range.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        // An IPv4-mapped range (`::ffff:a.b.c.d/n`) is the IPv4 range of its last 32 bits; a
        // prefix shorter than 96 reaches beyond the mapped block and is refused.
        match (addr, canonical(addr)) {
            (IpAddr::V6(_), v4 @ IpAddr::V4(_)) => Some(Cidr { addr: v4, prefix: prefix.checked_sub(96)? }),
            (_, a) => Some(Cidr { addr: a, prefix }),
        }
    }

    /// True when `ip` (IPv4-mapped IPv6 taken as IPv4) is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// How an IPv6 address carries an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::a.b.c.d` (deprecated by RFC 4291, still routed by some stacks).
    Compatible,
    /// `::ffff:0:a.b.c.d` (SIIT, RFC 2765).
    Translated,
    /// `64:ff9b::a.b.c.d` (RFC 6052 well-known prefix).
    Nat64,
    /// `64:ff9b:1::/48` (RFC 8215), at one of the RFC 6052 positions.
    Nat64Local,
    /// `2002:aabb:ccdd::/48` (RFC 3056).
    SixToFour,
    /// The Teredo server address, bits 32–64 of `2001::/32` (RFC 4380).
    TeredoServer,
    /// The Teredo client address, the last 32 bits of `2001::/32` inverted (RFC 4380).
    TeredoClient,
}

impl Embedding {
    fn name(self) -> &'static str {
        match self {
            Embedding::Compatible => "IPv4-compatible",
            Embedding::Translated => "IPv4-translated",
            Embedding::Nat64 => "NAT64",
            Embedding::Nat64Local => "local-use NAT64",
            Embedding::SixToFour => "6to4",
            Embedding::TeredoServer => "Teredo server",
            Embedding::TeredoClient => "Teredo client",
        }
    }
}

fn v4_at(octets: &[u8; 16], at: [usize; 4]) -> Ipv4Addr {
    Ipv4Addr::new(octets[at[0]], octets[at[1]], octets[at[2]], octets[at[3]])
}

/// The IPv4 addresses an IPv6 address spells, with how (see the module doc). IPv4-mapped
/// addresses are not listed: [`canonical`] turns them into IPv4 before any check.
pub fn embedded_ipv4(v6: Ipv6Addr) -> Vec<(Embedding, Ipv4Addr)> {
    let o = v6.octets();
    let bits = u128::from(v6);
    let prefix = |len: u32, net: u128| bits >> (128 - len) == net >> (128 - len);
    let last = v4_at(&o, [12, 13, 14, 15]);
    let mut out = Vec::new();
    if prefix(96, 0) && bits > 1 {
        out.push((Embedding::Compatible, last));
    }
    if prefix(96, 0xffffu128 << 48) {
        out.push((Embedding::Translated, last));
    }
    if prefix(96, 0x0064_ff9bu128 << 96) {
        out.push((Embedding::Nat64, last));
    }
    if prefix(48, 0x0064_ff9b_0001u128 << 80) {
        // RFC 6052 §2.2: /48 → octets 6,7 + 9,10; /56 → 7 + 9,10,11; /64 → 9..13; /96 → 12..16
        // (octet 8 is the reserved "u" octet). The prefix length is the translator's choice,
        // so every position is judged, except candidates in 0.0.0.0/8: those are the zero
        // padding of another position's format, and no translator forwards to "this network".
        for at in [[6, 7, 9, 10], [7, 9, 10, 11], [9, 10, 11, 12], [12, 13, 14, 15]] {
            let v4 = v4_at(&o, at);
            if v4.octets()[0] != 0 {
                out.push((Embedding::Nat64Local, v4));
            }
        }
    }
    if prefix(16, 0x2002u128 << 112) {
        out.push((Embedding::SixToFour, v4_at(&o, [2, 3, 4, 5])));
    }
    if prefix(32, 0x2001_0000u128 << 96) {
        out.push((Embedding::TeredoServer, v4_at(&o, [4, 5, 6, 7])));
        out.push((Embedding::TeredoClient, Ipv4Addr::from(!u32::from(last))));
    }
    out
}

/// Denied by every preset: link-local (which holds 169.254.169.254, the metadata address of
/// most clouds) and AWS's IPv6 metadata address; "this network" 0.0.0.0/8 and `::`.
const ALWAYS_DENIED: &[&str] = &["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "0.0.0.0/8", "::/128"];

/// Denied by `strict` in addition: loopback, private, shared (CGNAT), unique-local and the
/// deprecated site-local, multicast, benchmarking (198.18/15, 2001:2::/48), discard-only
/// (100::/64), ORCHID, SRv6 SIDs (5f00::/16, RFC 9602), reserved and documentation ranges
/// (IANA's special-purpose address registries).
const STRICT_DENIED: &[&str] = &[
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::1/128",
    "fc00::/7",
    "fec0::/10",
    "ff00::/8",
    "100::/64",
    "2001:2::/48",
    "2001:10::/28",
    "2001:20::/28",
    "2001:db8::/32",
    "3fff::/20",
    "5f00::/16",
];

/// The preset lists, parsed once (the check runs on every connection).
fn preset_ranges() -> (&'static [Cidr], &'static [Cidr]) {
    static RANGES: std::sync::OnceLock<(Vec<Cidr>, Vec<Cidr>)> = std::sync::OnceLock::new();
    let (a, s) = RANGES.get_or_init(|| {
        let parse = |l: &[&str]| l.iter().map(|c| Cidr::parse(c).expect("built-in range")).collect::<Vec<_>>();
        (parse(ALWAYS_DENIED), parse(STRICT_DENIED))
    });
    (a, s)
}

/// The built-in lists of denied ranges (config `egress.preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Link-local and cloud-metadata addresses only.
    Default,
    /// Also loopback, private, shared and other non-public ranges.
    Strict,
}

impl Preset {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Default => "default",
            Preset::Strict => "strict",
        }
    }
}

/// The policy of config `[egress]`: a preset plus the operator's allow and deny ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    pub preset: Preset,
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy { preset: Preset::Default, allow: Vec::new(), deny: Vec::new() }
    }
}

/// The list a refused address was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyList {
    /// `egress.deny_cidrs`.
    DenyCidrs,
    /// The preset's built-in list.
    Preset(Preset),
}

/// Why the policy refuses an address: the range and list that matched, and the embedded
/// IPv4 address that matched when the address is an IPv6 spelling of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub list: DenyList,
    pub range: Cidr,
    pub via: Option<(Embedding, Ipv4Addr)>,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((how, v4)) = self.via {
            write!(f, "it is the {} spelling of {v4}, which is ", how.name())?;
        }
        match self.list {
            DenyList::DenyCidrs => write!(f, "in egress.deny_cidrs ({})", self.range),
            DenyList::Preset(p) => write!(f, "denied by the {} preset ({})", p.as_str(), self.range),
        }
    }
}

/// A delivery refused by the egress policy, before any connection to `addr`. Carried in the
/// HTTP client's error chain (find it with `downcast_ref`); its text starts "egress policy".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress policy refuses {host} ({addr}): {rule}")]
pub struct EgressDenied {
    /// The host of the URL (a name or an IP literal).
    pub host: String,
    /// The address that was refused (for a name, one it resolves to).
    pub addr: IpAddr,
    pub rule: Rule,
}

impl EgressPolicy {
    /// `Err` names the rule that denies `ip` (see the module doc for the order).
    pub fn check(&self, ip: IpAddr) -> Result<(), Rule> {
        let ip = canonical(ip);
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        if let Some((list, range)) = self.denied_by(ip) {
            return Err(Rule { list, range, via: None });
        }
        if let IpAddr::V6(v6) = ip {
            for (how, v4) in embedded_ipv4(v6) {
                let v4ip = IpAddr::V4(v4);
                if self.allow.iter().any(|c| c.contains(v4ip)) {
                    continue;
                }
                if let Some((list, range)) = self.denied_by(v4ip) {
                    return Err(Rule { list, range, via: Some((how, v4)) });
                }
            }
        }
        Ok(())
    }

    /// [`EgressPolicy::check`] as the typed refusal for `host`.
    pub fn check_host(&self, host: &str, ip: IpAddr) -> Result<(), EgressDenied> {
        self.check(ip).map_err(|rule| EgressDenied { host: host.to_string(), addr: canonical(ip), rule })
    }

    fn denied_by(&self, ip: IpAddr) -> Option<(DenyList, Cidr)> {
        if let Some(c) = self.deny.iter().find(|c| c.contains(ip)) {
            return Some((DenyList::DenyCidrs, *c));
        }
        let (always, strict) = preset_ranges();
        let lists: &[&[Cidr]] = match self.preset {
            Preset::Default => &[always],
            Preset::Strict => &[always, strict],
        };
        lists.iter().find_map(|l| l.iter().find(|c| c.contains(ip))).map(|c| (DenyList::Preset(self.preset), *c))
    }
}

/// The cloud metadata addresses (AWS, GCP, Azure use the IPv4 one), for tests and docs.
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
pub const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_ranges_are_their_ipv4_ranges() {
        let c = Cidr::parse("::ffff:127.0.0.1/128").expect("range");
        assert!(c.contains("127.0.0.1".parse().expect("ip")) && !c.contains("127.0.0.2".parse().expect("ip")));
        let c = Cidr::parse("::ffff:10.0.0.0/104").expect("range");
        assert!(c.contains("10.1.2.3".parse().expect("ip")) && !c.contains("11.0.0.1".parse().expect("ip")));
        assert_eq!(Cidr::parse("::ffff:10.0.0.0/64"), None, "reaches beyond the mapped block");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_denies_metadata_and_link_local_in_every_encoding() {
        let p = EgressPolicy::default();
        assert!(p.check(IpAddr::V4(METADATA_V4)).is_err());
        assert!(p.check(IpAddr::V6(METADATA_V6)).is_err());
        assert!(p.check(ip("::ffff:169.254.169.254")).is_err(), "IPv4-mapped");
        assert!(p.check(ip("fe80::1")).is_err());
        assert!(p.check(ip("127.0.0.1")).is_ok(), "loopback is allowed by default");
        assert!(p.check(ip("10.1.2.3")).is_ok());
        assert!(p.check(ip("93.184.216.34")).is_ok());
    }

    #[test]
    fn strict_denies_private_ranges_and_allow_overrides() {
        let mut p = EgressPolicy { preset: Preset::Strict, allow: Vec::new(), deny: Vec::new() };
        for a in [
            "127.0.0.1",
            "10.0.0.1",
            "172.20.0.1",
            "192.168.1.1",
            "::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "fec0::1",
            "100::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "3fff::1",
            "5f00::1",
        ] {
            assert!(p.check(ip(a)).is_err(), "{a}");
        }
        assert!(p.check(ip("2606:4700::1111")).is_ok(), "a public IPv6 address");
        assert!(p.check(ip("93.184.216.34")).is_ok());
        p.allow.push(Cidr::parse("10.20.0.0/16").unwrap());
        assert!(p.check(ip("10.20.3.4")).is_ok());
        assert!(p.check(ip("10.21.3.4")).is_err());
    }

    fn v6(bits: u128) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(bits))
    }

    fn local_nat64(at: [usize; 4], v4: Ipv4Addr) -> IpAddr {
        let mut o = [0u8; 16];
        o[..6].copy_from_slice(&[0, 0x64, 0xff, 0x9b, 0, 1]);
        for (i, b) in at.into_iter().zip(v4.octets()) {
            o[i] = b;
        }
        IpAddr::V6(Ipv6Addr::from(o))
    }

    /// A public address used where a spelling needs a second IPv4 address (Teredo).
    const PUBLIC: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

    /// Every IPv6 spelling of `v4`, with the embedding the policy should report.
    fn spellings(v4: Ipv4Addr) -> Vec<(&'static str, IpAddr, Option<Embedding>)> {
        let n = u128::from(u32::from(v4));
        let public = u128::from(u32::from(PUBLIC));
        vec![
            ("IPv4-mapped", IpAddr::V6(v4.to_ipv6_mapped()), None),
            ("IPv4-compatible", v6(n), Some(Embedding::Compatible)),
            ("IPv4-translated", v6(0xffff << 48 | n), Some(Embedding::Translated)),
            ("NAT64", v6(0x0064_ff9b << 96 | n), Some(Embedding::Nat64)),
            ("local NAT64 /48", local_nat64([6, 7, 9, 10], v4), Some(Embedding::Nat64Local)),
            ("local NAT64 /56", local_nat64([7, 9, 10, 11], v4), Some(Embedding::Nat64Local)),
            ("local NAT64 /64", local_nat64([9, 10, 11, 12], v4), Some(Embedding::Nat64Local)),
            ("local NAT64 /96", local_nat64([12, 13, 14, 15], v4), Some(Embedding::Nat64Local)),
            ("6to4", v6(0x2002 << 112 | n << 80 | 1), Some(Embedding::SixToFour)),
            (
                "Teredo client",
                v6(0x2001_0000 << 96 | public << 64 | u128::from(!u32::from(v4))),
                Some(Embedding::TeredoClient),
            ),
            (
                "Teredo server",
                v6(0x2001_0000 << 96 | n << 64 | u128::from(!u32::from(PUBLIC))),
                Some(Embedding::TeredoServer),
            ),
        ]
    }

    #[test]
    fn spellings_match_their_published_forms() {
        let m = Ipv4Addr::new(169, 254, 169, 254);
        let find = |name: &str| spellings(m).into_iter().find(|s| s.0 == name).unwrap().1;
        assert_eq!(find("IPv4-compatible"), ip("::169.254.169.254"));
        assert_eq!(find("IPv4-translated"), ip("::ffff:0:169.254.169.254"));
        assert_eq!(find("NAT64"), ip("64:ff9b::169.254.169.254"));
        assert_eq!(find("local NAT64 /96"), ip("64:ff9b:1::169.254.169.254"));
        assert_eq!(find("local NAT64 /48"), ip("64:ff9b:1:a9fe:a9:fe00::"));
        assert_eq!(find("6to4"), ip("2002:a9fe:a9fe::1"));
        // RFC 4380 §4's example layout: server 65.54.227.120, client address inverted.
        let teredo = ip("2001:0:4136:e378:8000:63bf:5601:5601");
        let got = match teredo {
            IpAddr::V6(a) => embedded_ipv4(a),
            _ => unreachable!(),
        };
        assert_eq!(
            got,
            vec![
                (Embedding::TeredoServer, Ipv4Addr::new(65, 54, 227, 120)),
                (Embedding::TeredoClient, Ipv4Addr::new(169, 254, 169, 254))
            ]
        );
    }

    #[test]
    fn every_ipv6_spelling_is_judged_as_its_ipv4_address_under_both_presets() {
        // (address, denied by default, denied by strict)
        let table = [
            (Ipv4Addr::new(169, 254, 169, 254), true, true),
            (Ipv4Addr::new(169, 254, 1, 1), true, true),
            (Ipv4Addr::new(0, 0, 0, 0), true, true),
            (Ipv4Addr::new(10, 1, 2, 3), false, true),
            (Ipv4Addr::new(127, 0, 0, 1), false, true),
            (Ipv4Addr::new(192, 168, 1, 1), false, true),
            (Ipv4Addr::new(100, 64, 0, 1), false, true),
            (PUBLIC, false, false),
        ];
        for preset in [Preset::Default, Preset::Strict] {
            let p = EgressPolicy { preset, allow: Vec::new(), deny: Vec::new() };
            for (v4, by_default, by_strict) in table {
                let denied = if preset == Preset::Default { by_default } else { by_strict };
                assert_eq!(p.check(IpAddr::V4(v4)).is_err(), denied, "{v4} under {preset:?}");
                for (name, addr, how) in spellings(v4) {
                    if v4.octets()[0] == 0 && name.starts_with("local NAT64") {
                        continue; // 0.0.0.0/8 candidates are padding there (see embedded_ipv4)
                    }
                    match p.check(addr) {
                        Ok(()) => assert!(!denied, "{name} {addr} of {v4} allowed under {preset:?}"),
                        Err(rule) => {
                            assert!(denied, "{name} {addr} of {v4} denied under {preset:?}: {rule}");
                            // `::` (the compatible spelling of 0.0.0.0) is denied as itself.
                            if let Some(how) = how.filter(|_| !v4.is_unspecified()) {
                                assert_eq!(rule.via, Some((how, v4)), "{name} {addr}: {rule}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_reported_cases_are_refused() {
        let default = EgressPolicy::default();
        let strict = EgressPolicy { preset: Preset::Strict, allow: Vec::new(), deny: Vec::new() };
        for a in ["::169.254.169.254", "2002:a9fe:a9fe::1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"] {
            assert!(default.check(ip(a)).is_err(), "{a} under default");
            assert!(strict.check(ip(a)).is_err(), "{a} under strict");
        }
        assert!(strict.check(ip("::10.1.2.3")).is_err());
        assert!(default.check(ip("::10.1.2.3")).is_ok());
        let rule = default.check(ip("2002:a9fe:a9fe::1")).unwrap_err();
        assert_eq!(
            rule.to_string(),
            "it is the 6to4 spelling of 169.254.169.254, which is denied by the default preset (169.254.0.0/16)"
        );
        // The IPv6 meanings of :: and ::1 stay: "::1" is loopback (allowed by default).
        assert!(default.check(ip("::1")).is_ok());
        assert!(strict.check(ip("::1")).is_err());
        assert!(default.check(ip("::")).is_err());
    }

    #[test]
    fn allow_and_deny_lists_apply_to_embedded_addresses() {
        let deny = EgressPolicy {
            preset: Preset::Default,
            allow: Vec::new(),
            deny: vec![Cidr::parse("203.0.113.0/24").unwrap()],
        };
        let allow = EgressPolicy {
            preset: Preset::Strict,
            allow: vec![Cidr::parse("10.20.0.0/16").unwrap()],
            deny: Vec::new(),
        };
        for (name, addr, _) in spellings(Ipv4Addr::new(203, 0, 113, 9)) {
            let rule = deny.check(addr).expect_err(name);
            assert_eq!(rule.list, DenyList::DenyCidrs, "{name}");
        }
        for (name, addr, _) in spellings(Ipv4Addr::new(10, 20, 3, 4)) {
            assert_eq!(allow.check(addr), Ok(()), "{name}: an allowed range stays allowed");
        }
        for (name, addr, _) in spellings(Ipv4Addr::new(10, 21, 3, 4)) {
            assert!(allow.check(addr).is_err(), "{name}: outside the allowed range");
        }
        // An explicitly allowed IPv6 range is not second-guessed.
        let v6_allowed =
            EgressPolicy { preset: Preset::Strict, allow: vec![Cidr::parse("2002::/16").unwrap()], deny: Vec::new() };
        assert_eq!(v6_allowed.check(ip("2002:0a01:0203::1")), Ok(()));
    }

    #[test]
    fn deny_list_applies_and_cidrs_parse() {
        let p = EgressPolicy {
            preset: Preset::Default,
            allow: Vec::new(),
            deny: vec![Cidr::parse("203.0.113.0/24").unwrap()],
        };
        assert!(p.check(ip("203.0.113.9")).is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nope").is_none());
        assert_eq!(Cidr::parse("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }
}
