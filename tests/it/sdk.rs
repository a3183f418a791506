//! The official HookPulse Python SDK, pointed at the daemon with `base_url`.

use std::process::Command;

use crate::python::python;
use crate::support::TestDaemon;

#[test]
fn official_python_sdk_works() {
    let d = TestDaemon::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/test_sdk.py");
    let out = Command::new(python())
        .arg(script)
        .env("HOOKWHEEL_URL", &d.base)
        .env("HOOKWHEEL_BRAND", &d.brand)
        .env("HOOKWHEEL_KEY", &d.key)
        .output()
        .expect("run the SDK script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("8 passed, 0 failed"), "{stdout}");
}
