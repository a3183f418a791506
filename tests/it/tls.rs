//! TLS via rustls (product.md §7) and live reload on SIGHUP (§3): limits and certificates
//! change without a restart; a broken file is refused and the running configuration kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Api, TestDaemon, assert_ok, install_crypto, temp_dir, wait_for};

/// A self-signed certificate for 127.0.0.1 and localhost; returns its PEM.
fn write_cert(cert_file: &Path, key_file: &Path) -> String {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("rcgen");
    std::fs::write(cert_file, cert.pem()).unwrap();
    std::fs::write(key_file, signing_key.serialize_pem()).unwrap();
    cert.pem()
}

/// A client that trusts exactly `pem` (and no system roots).
fn client_trusting(pem: &str) -> reqwest::blocking::Client {
    install_crypto();
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("PEM")])
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

struct Certs {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    pem: String,
}

fn certs() -> Certs {
    let dir = temp_dir();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let pem = write_cert(&cert, &key);
    Certs { _dir: dir, cert, key, pem }
}

fn tls_config(c: &Certs, rate_limit_per_minute: u32) -> String {
    format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n[api]\nrate_limit_per_minute = {rate_limit_per_minute}\n",
        c.cert.display(),
        c.key.display()
    )
}

fn rate_limit(api: &Api) -> u32 {
    let r = api.get("get_domain_paginated?page=1");
    assert_ok(&r);
    r.headers["x-ratelimit-limit"].to_str().unwrap().parse().unwrap()
}

#[test]
fn https_with_a_trusted_certificate() {
    let c = certs();
    let d = TestDaemon::start_with(&tls_config(&c, 100));
    assert!(d.base.starts_with("https://127.0.0.1:"), "the daemon printed {}", d.base);
    let http = client_trusting(&c.pem);
    let r = http.get(format!("{}/healthz", d.base)).send().expect("TLS handshake with the trusted certificate");
    assert_eq!(r.status(), 200);

    let api = d.client().with_http(http);
    let domain = api.add_domain("tls.example");
    let r = api.get("get_domain_paginated?page=1");
    assert_ok(&r);
    assert_eq!(r.json["data"][0]["domain_uuid"], domain.as_str());
    assert_eq!(rate_limit(&api), 100);

    // A client that does not trust this certificate is refused by its own verification.
    let stranger = certs();
    let other = client_trusting(&stranger.pem);
    assert!(other.get(format!("{}/healthz", d.base)).send().is_err(), "an untrusted certificate was accepted");
    // Plain HTTP on the TLS port gets no answer.
    let plain = d.base.replacen("https://", "http://", 1);
    let r = reqwest::blocking::Client::new().get(format!("{plain}/healthz")).send();
    assert!(r.is_err() || r.is_ok_and(|r| r.status() != 200), "plain HTTP was served on the TLS port");
}

#[test]
fn sighup_reloads_limits_and_certificates_without_a_restart() {
    let c = certs();
    let mut d = TestDaemon::start_with(&tls_config(&c, 100));
    let pid = d.pid();
    let api = d.client().with_http(client_trusting(&c.pem));
    assert_eq!(rate_limit(&api), 100);

    d.set_extra_config(&tls_config(&c, 200));
    d.sighup();
    wait_for("the new rate limit", Duration::from_secs(30), || (rate_limit(&api) == 200).then_some(()));
    assert_eq!(d.pid(), pid);
    assert!(d.is_running());

    // New certificate files: new connections present the new certificate.
    let old_pem = c.pem.clone();
    let new_pem = write_cert(&c.cert, &c.key);
    d.sighup();
    let healthz = format!("{}/healthz", d.base);
    wait_for("the new certificate", Duration::from_secs(30), || {
        client_trusting(&new_pem).get(&healthz).send().ok().filter(|r| r.status() == 200)
    });
    assert!(client_trusting(&old_pem).get(&healthz).send().is_err(), "the old certificate is still served");
    let api = d.client().with_http(client_trusting(&new_pem));
    assert_eq!(rate_limit(&api), 200);
    assert_eq!(d.pid(), pid);

    // A broken file is refused; the running configuration stays.
    d.set_extra_config(&format!("{}\n[log]\nformat = \"xml\"\n", tls_config(&c, 300)));
    d.sighup();
    wait_for("the refused reload in the log", Duration::from_secs(30), || {
        d.output().contains("reload refused").then_some(())
    });
    assert!(d.is_running());
    assert_eq!(rate_limit(&api), 200);
}
