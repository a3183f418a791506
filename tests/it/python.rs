//! Helpers for tests that run Python tools: virtualenvs under `target/` with pinned packages
//! (`tests/sdk/requirements.txt` for the SDK, `tests/schemathesis/requirements.txt` for the
//! API fuzzer, `tests/senders/requirements.txt` for the webhook senders' signing libraries,
//! `tests/smtp/requirements.txt` for the alert tests' SMTP sink, `tests/ui/requirements.txt`
//! for the dashboard's browser test),
//! each created on first use (needs PyPI access once).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The python of the venv `target/<name>` with `requirements` (relative to the crate)
/// installed; rebuilt when the requirements file changes. Panics with pip's output on failure.
fn venv(name: &str, requirements: &str, interpreters: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join(name);
    let py = dir.join("bin").join("python");
    let requirements = root.join(requirements);
    let stamp = dir.join(".requirements");
    let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && py.exists() {
        return py;
    }
    let python = interpreters
        .iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()))
        .unwrap_or(&"python3");
    let out = Command::new(python).args(["-m", "venv", "--clear"]).arg(&dir).output().expect("python3 -m venv");
    assert!(out.status.success(), "venv: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(&py)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .output()
        .expect("pip install");
    assert!(
        out.status.success(),
        "pip install failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&stamp, wanted).expect("stamp");
    py
}

/// The SDK venv's python.
pub fn python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| venv("py-venv", "tests/sdk/requirements.txt", &["python3"])).clone()
}

/// The `schemathesis` command of its own venv.
pub fn schemathesis() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            // The system's `python3` (Debian's 3.11 on CI) before one found on PATH (pyenv's,
            // a developer's). hooks.py uses no lambdas: Hypothesis parses a lambda's source to
            // describe it, and that parse is where some 3.11 builds have failed ("AST
            // constructor recursion depth mismatch").
            let py = venv("schemathesis-venv", "tests/schemathesis/requirements.txt", &["/usr/bin/python3", "python3"]);
            py.with_file_name("schemathesis")
        })
        .clone()
}

/// The python of the senders' venv: the reference signing libraries of Standard Webhooks
/// (`standardwebhooks`) and Stripe (`stripe`), pinned in `tests/senders/requirements.txt`.
pub fn senders() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| venv("senders-venv", "tests/senders/requirements.txt", &["python3"])).clone()
}

/// The python of the SMTP sink's venv (`aiosmtpd`, pinned in `tests/smtp/requirements.txt`).
pub fn smtp_sink_python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| venv("smtp-venv", "tests/smtp/requirements.txt", &["python3"])).clone()
}

/// The python of the dashboard's browser test venv (Selenium, pinned in
/// `tests/ui/requirements.txt`). Selenium never downloads a browser or driver here: the
/// script names the system's.
pub fn selenium() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| venv("ui-venv", "tests/ui/requirements.txt", &["python3"])).clone()
}
