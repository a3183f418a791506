//! The one HTTP client of deliveries: pooled, HTTP/1.1 keep-alive and HTTP/2 (ALPN), rustls,
//! no redirects followed, and a resolver that applies the egress policy to the addresses a
//! name resolves to — the connection then goes to exactly those addresses.
//!
//! Proxies: the client never reads `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` from the
//! environment (reqwest would by default, and a proxy resolves the target itself, out of the
//! resolver's sight). Only `egress.proxy_url` sets one; then [`check_via_proxy`] resolves the
//! target here and refuses it when any of its addresses is denied, before the request is
//! sent. The proxy itself is the operator's choice and is not judged by the policy.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::egress::{EgressDenied, EgressPolicy};

/// The policy shared by the resolver and the IP-literal check; replaced on reload.
pub type SharedPolicy = Arc<RwLock<EgressPolicy>>;

fn current(policy: &SharedPolicy) -> EgressPolicy {
    policy.read().unwrap_or_else(|e| e.into_inner()).clone()
}

struct PolicyResolver {
    policy: SharedPolicy,
    /// The configured proxy's host name: resolved without the policy (see the module doc).
    proxy_host: Option<String>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let exempt = self.proxy_host.as_deref() == Some(name.as_str());
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if exempt {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let policy = current(&policy);
            let mut denied = None;
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| match policy.check_host(&host, a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        denied.get_or_insert(e);
                        false
                    }
                })
                .collect();
            match denied {
                Some(e) if allowed.is_empty() => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
                _ if allowed.is_empty() => Err(format!("{host} resolves to no address").into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// `idle_per_host`: connections kept open per host between requests; at the global in-flight
/// cap, so a busy receiver is not reconnected to for every burst. `proxy`: `egress.proxy_url`
/// (validated by the config); without one no proxy is used, whatever the environment says.
pub fn build(
    policy: SharedPolicy,
    idle_per_host: usize,
    proxy: Option<&reqwest::Url>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hookwheel/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(idle_per_host)
        .dns_resolver(Arc::new(PolicyResolver {
            policy,
            proxy_host: proxy.and_then(|p| p.host_str()).map(str::to_string),
        }));
    b = match proxy {
        Some(p) => b.proxy(reqwest::Proxy::all(p.clone())?),
        None => b.no_proxy(),
    };
    b.build()
}

/// The IP address of a URL whose host is an IP literal.
fn literal(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    }
}

/// Checks a URL whose host is an IP literal (those never reach the resolver). The URL parser
/// has already normalised `2130706433`, `0x7f000001` and `[::ffff:7f00:1]` to addresses.
pub fn check_literal(url: &reqwest::Url, policy: &SharedPolicy) -> Result<(), EgressDenied> {
    match literal(url) {
        Some(ip) => current(policy).check_host(url.host_str().unwrap_or_default(), ip),
        None => Ok(()),
    }
}

/// Why a target could not be checked before sending it to a proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyCheckError {
    #[error(transparent)]
    Denied(#[from] EgressDenied),
    /// The name did not resolve here (retried like any connection failure).
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

/// With a proxy configured: resolves the target's host name here and refuses the request when
/// any address it resolves to is denied (the proxy resolves it again and may pick any of them).
pub async fn check_via_proxy(url: &reqwest::Url, policy: &SharedPolicy) -> Result<(), ProxyCheckError> {
    check_literal(url, policy)?;
    if literal(url).is_some() {
        return Ok(());
    }
    let Some(host) = url.host_str() else { return Ok(()) };
    let port = url.port_or_known_default().unwrap_or(0);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| ProxyCheckError::Resolve { host: host.to_string(), source })?
        .collect();
    let policy = current(policy);
    for a in addrs {
        policy.check_host(host, a.ip())?;
    }
    Ok(())
}

/// The egress refusal in a request error's source chain, if the policy refused it.
pub fn egress_denial(e: &reqwest::Error) -> Option<&EgressDenied> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(d) = err.downcast_ref::<EgressDenied>() {
            return Some(d);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::egress::{DenyList, Preset};

    fn shared(p: EgressPolicy) -> SharedPolicy {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(RwLock::new(p))
    }

    #[test]
    fn ip_literals_in_every_encoding_are_checked() {
        let policy = shared(EgressPolicy::default());
        for u in [
            "http://169.254.169.254/latest/meta-data",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00:ec2::254]/",
            "http://[::169.254.169.254]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",
        ] {
            let url = reqwest::Url::parse(u).unwrap();
            let e = check_literal(&url, &policy).expect_err(u);
            assert!(e.to_string().starts_with("egress policy refuses "), "{e}");
        }
        assert!(check_literal(&reqwest::Url::parse("http://127.0.0.1:9/").unwrap(), &policy).is_ok());
        assert!(
            check_literal(&reqwest::Url::parse("http://example.com/").unwrap(), &policy).is_ok(),
            "names go through the resolver"
        );
    }

    /// The resolver's refusal reaches the caller as the typed error inside reqwest's error.
    /// `localhost` resolves to loopback, which `strict` denies: nothing is ever connected to.
    #[tokio::test]
    async fn a_resolver_refusal_is_found_by_type_in_the_error_chain() {
        let policy = shared(EgressPolicy { preset: Preset::Strict, allow: Vec::new(), deny: Vec::new() });
        let client = build(policy, 1, None).unwrap();
        let err = client.get("http://localhost:9/").send().await.expect_err("refused");
        let denied = egress_denial(&err).unwrap_or_else(|| panic!("no EgressDenied in {err:?}"));
        assert_eq!(denied.host, "localhost");
        assert!(denied.addr.is_loopback(), "{denied}");
        assert_eq!(denied.rule.list, DenyList::Preset(Preset::Strict));
    }

    #[tokio::test]
    async fn a_proxied_target_is_resolved_and_judged_here() {
        let policy = shared(EgressPolicy { preset: Preset::Strict, allow: Vec::new(), deny: Vec::new() });
        let url = reqwest::Url::parse("http://localhost:9/x").unwrap();
        match check_via_proxy(&url, &policy).await {
            Err(ProxyCheckError::Denied(d)) => assert_eq!(d.host, "localhost"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let literal = reqwest::Url::parse("http://[::169.254.169.254]/").unwrap();
        assert!(matches!(check_via_proxy(&literal, &policy).await, Err(ProxyCheckError::Denied(_))));
        let ok = shared(EgressPolicy::default());
        assert!(check_via_proxy(&url, &ok).await.is_ok(), "loopback is allowed by default");
    }
}
