//! Helpers for tests that run Python tools: a virtualenv under `target/` with the pinned
//! packages from `tests/sdk/requirements.txt`, created on first use (needs PyPI access once).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn venv_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("py-venv")
}

/// The venv's python, with the requirements installed. Panics with pip's output on failure.
pub fn python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = venv_dir();
            let py = dir.join("bin").join("python");
            let requirements = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/requirements.txt");
            let stamp = dir.join(".requirements");
            let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
            if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && py.exists() {
                return py;
            }
            let out = Command::new("python3").args(["-m", "venv"]).arg(&dir).output().expect("python3 -m venv");
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
        })
        .clone()
}
