//! Isolation for tests that name addresses off loopback (cloud metadata, private ranges, IPv6
//! spellings of them): [`isolated`] runs the calling test again, alone, in a copy of this test
//! binary inside new network and mount namespaces (`unshare --net --mount`). The network
//! namespace has only a loopback interface, so a regression that lets a request through can
//! never send a packet off the machine; the mount namespace gets a private `/etc/hosts`
//! (bind-mounted, propagation private) for names such as `metadata.hookwheel.test`, so nothing
//! outside the test's namespaces changes. The tests run as root (CI too): when `unshare`,
//! `ip` or `mount` fails the test fails, loudly — it never skips.

use std::process::Command;

use super::temp_dir;

/// A name the isolated tests map to the cloud metadata address (`.test` is reserved, RFC 2606).
pub const METADATA_NAME: &str = "metadata.hookwheel.test";

/// Set in the isolated copy: the test it runs.
const CHILD_ENV: &str = "HOOKWHEEL_IT_ISOLATED";
/// The private hosts file the copy's mount namespace shows at /etc/hosts.
const HOSTS_ENV: &str = "HOOKWHEEL_IT_HOSTS";

/// Inside the new namespaces: bring loopback up, put the private hosts file over /etc/hosts,
/// then become the test binary.
const SETUP: &str = r#"set -e
ip link set lo up
mount --bind "$HOOKWHEEL_IT_HOSTS" /etc/hosts
exec "$@""#;

/// Runs `body` in an isolated copy of the calling test (see the module doc). `module` is the
/// caller's `module_path!()`, `name` its function name, `hosts` extra `/etc/hosts` entries
/// (address, name) for the copy. In the calling process it only starts the copy and fails
/// with the copy's output unless the copy passed.
pub fn isolated(module: &str, name: &str, hosts: &[(&str, &str)], body: impl FnOnce()) {
    // module_path!() starts with the crate name of the test binary ("it").
    let module = module.split_once("::").map_or(module, |(_, m)| m);
    let test = format!("{module}::{name}");
    match std::env::var(CHILD_ENV) {
        Ok(running) => {
            assert_eq!(running, test, "the isolated copy runs another test than it was started for");
            assert_isolated(hosts);
            body();
        }
        Err(_) => run_copy(&test, hosts),
    }
}

fn run_copy(test: &str, hosts: &[(&str, &str)]) {
    let dir = temp_dir();
    let hosts_file = dir.path().join("hosts");
    let mut text = String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
    for (addr, name) in hosts {
        text.push_str(&format!("{addr} {name}\n"));
    }
    std::fs::write(&hosts_file, text).expect("write the private hosts file");
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--", "sh", "-c", SETUP, "isolated"])
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env(HOSTS_ENV, &hosts_file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `unshare` ({e}): tests naming addresses off loopback need util-linux and root")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the isolated run of {test} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the isolated run did not run {test}:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
}

/// Checks, inside the copy, that loopback is the only interface and the private names resolve.
fn assert_isolated(hosts: &[(&str, &str)]) {
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("read /proc/self/net/dev");
    let interfaces: Vec<&str> =
        dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(interfaces, ["lo"], "the isolated network namespace must hold only loopback");
    for (addr, name) in hosts {
        let want: std::net::IpAddr = addr.parse().expect("an address in the hosts list");
        let got: Vec<std::net::IpAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(*name, 80))
            .map(|it| it.map(|a| a.ip()).collect())
            .unwrap_or_default();
        assert!(got.contains(&want), "{name} does not resolve to {addr} in the isolated copy: {got:?}");
    }
}
