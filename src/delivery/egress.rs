//! Egress policy: which addresses deliveries may connect to.
//!
//! The check is applied to the addresses a host name actually resolves to, inside the HTTP
//! client's resolver (so there is no check-then-re-resolve window), and to IP-literal hosts
//! (which never reach a resolver; `2130706433`, `0x7f000001` and `[::ffff:127.0.0.1]` are
//! normalised to IPv4 by the URL parser first). IPv4-mapped IPv6 addresses are judged as IPv4.
//! Order: an address in `allow_cidrs` is allowed; otherwise one in `deny_cidrs` or in the
//! preset's list is denied. `default` denies link-local and cloud-metadata addresses;
//! `strict` also denies loopback, private, shared and other non-public ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
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
        Some(Cidr { addr: canonical(addr), prefix })
    }

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

/// Denied by every preset: link-local (which holds 169.254.169.254, the metadata address of
/// most clouds) and AWS's IPv6 metadata address; "this network" 0.0.0.0/8 and `::`.
const ALWAYS_DENIED: &[&str] = &["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "0.0.0.0/8", "::/128"];

/// Denied by `strict` in addition: loopback, private, shared (CGNAT), unique-local, multicast,
/// benchmarking, reserved and documentation ranges.
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
    "ff00::/8",
    "2001:db8::/32",
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Default,
    Strict,
}

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

impl EgressPolicy {
    /// `Err` names the range that denies `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = canonical(ip);
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        if let Some(c) = self.deny.iter().find(|c| c.contains(ip)) {
            return Err(format!("{ip} is in egress.deny_cidrs ({c})"));
        }
        let (always, strict) = preset_ranges();
        let lists: &[&[Cidr]] = match self.preset {
            Preset::Default => &[always],
            Preset::Strict => &[always, strict],
        };
        for list in lists {
            if let Some(c) = list.iter().find(|c| c.contains(ip)) {
                return Err(format!("{ip} is denied by the egress policy ({c})"));
            }
        }
        Ok(())
    }
}

/// The cloud metadata addresses (AWS, GCP, Azure use the IPv4 one), for tests and docs.
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
pub const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

#[cfg(test)]
mod tests {
    use super::*;

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
        for a in ["127.0.0.1", "10.0.0.1", "172.20.0.1", "192.168.1.1", "::1", "fd12::1", "::ffff:127.0.0.1"] {
            assert!(p.check(ip(a)).is_err(), "{a}");
        }
        assert!(p.check(ip("93.184.216.34")).is_ok());
        p.allow.push(Cidr::parse("10.20.0.0/16").unwrap());
        assert!(p.check(ip("10.20.3.4")).is_ok());
        assert!(p.check(ip("10.21.3.4")).is_err());
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
