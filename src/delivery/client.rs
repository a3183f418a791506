//! The one HTTP client of deliveries: pooled, HTTP/1.1 keep-alive and HTTP/2 (ALPN), rustls,
//! no redirects followed, and a resolver that applies the egress policy to the addresses a
//! name resolves to — the connection then goes to exactly those addresses.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::egress::EgressPolicy;

/// The policy shared by the resolver and the IP-literal check; replaced on reload.
pub type SharedPolicy = Arc<RwLock<EgressPolicy>>;

/// The prefix of every egress refusal, so an attempt failure can be recognised as one.
pub const EGRESS_DENIED: &str = "egress policy";

struct PolicyResolver(SharedPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let policy = policy.read().unwrap_or_else(|e| e.into_inner()).clone();
            let mut denied = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        denied = Some(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = denied.unwrap_or_else(|| "no addresses".into());
                return Err(format!("{EGRESS_DENIED}: {host} resolves to a denied address: {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// `idle_per_host`: connections kept open per host between requests; at the global in-flight
/// cap, so a busy receiver is not reconnected to for every burst.
pub fn build(policy: SharedPolicy, idle_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hookwheel/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(idle_per_host)
        .dns_resolver(Arc::new(PolicyResolver(policy)))
        .build()
        .expect("HTTP client")
}

/// Checks a URL whose host is an IP literal (those never reach the resolver). The URL parser
/// has already normalised `2130706433`, `0x7f000001` and `[::ffff:7f00:1]` to addresses.
pub fn check_literal(url: &reqwest::Url, policy: &SharedPolicy) -> Result<(), String> {
    let ip: Option<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    match ip {
        Some(ip) => {
            policy.read().unwrap_or_else(|e| e.into_inner()).check(ip).map_err(|why| format!("{EGRESS_DENIED}: {why}"))
        }
        None => Ok(()),
    }
}

/// True when a request error came from the egress policy (anywhere in its source chain).
pub fn is_egress_denial(e: &reqwest::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains(EGRESS_DENIED) {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_in_every_encoding_are_checked() {
        let policy: SharedPolicy = Arc::new(RwLock::new(EgressPolicy::default()));
        for u in [
            "http://169.254.169.254/latest/meta-data",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00:ec2::254]/",
        ] {
            let url = reqwest::Url::parse(u).unwrap();
            assert!(check_literal(&url, &policy).is_err(), "{u} allowed");
        }
        assert!(check_literal(&reqwest::Url::parse("http://127.0.0.1:9/").unwrap(), &policy).is_ok());
        assert!(
            check_literal(&reqwest::Url::parse("http://example.com/").unwrap(), &policy).is_ok(),
            "names go through the resolver"
        );
    }
}
