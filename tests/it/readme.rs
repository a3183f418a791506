//! README.md's walkthrough, run verbatim: every ```sh block preceded by a
//! `<!-- walkthrough -->` line, in order, in one `bash` (as a user pastes them into one
//! shell), with `set -euo pipefail` so any failing command fails the test. The daemon runs as
//! the quick start runs it (`serve` on the embedded defaults: 127.0.0.1:8080,
//! `./hookwheel-data`), from the built binary instead of `cargo run --release`, in a fresh
//! directory; `hookwheel` on PATH is the built binary. The walkthrough uses fixed ports
//! (8080, 9000), so the test runs in a network namespace of its own (loopback only): nothing
//! else on the machine can hold them.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{BIN, netns, now, temp_dir};

/// The text of every block marked for the walkthrough, in order.
fn walkthrough_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- walkthrough -->" {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(fence.trim(), "```sh", "a walkthrough marker must be followed by a ```sh block");
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(body.join("\n"));
    }
    blocks
}

/// True when `addr` answers `GET /healthz` with 200.
fn answers_healthz(addr: &str) -> bool {
    use std::io::Write;
    let Ok(mut c) = std::net::TcpStream::connect(addr) else { return false };
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    if c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// Waits until `path` holds at least `want` lines containing all of `needles`; returns the
/// file's text either way.
fn wait_for_lines(path: &Path, needles: &[&str], want: usize) -> String {
    let deadline = now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let n = text.lines().filter(|l| needles.iter().all(|n| l.contains(n))).count();
        if n >= want || now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_readme_walkthrough_runs_verbatim_and_the_receiver_sees_every_delivery() {
    netns::isolated(
        module_path!(),
        "the_readme_walkthrough_runs_verbatim_and_the_receiver_sees_every_delivery",
        &[],
        || {
            let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
            let blocks = walkthrough_blocks(&readme);
            assert!(blocks.len() >= 5, "README.md has {} walkthrough blocks", blocks.len());

            let dir = temp_dir();
            let bin_dir = Path::new(BIN).parent().expect("binary directory");
            let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());

            // The quick start's first command.
            let serve_log = std::fs::File::create(dir.path().join("serve.log")).expect("serve.log");
            let mut serve = Command::new(BIN)
                .arg("serve")
                .current_dir(dir.path())
                .stdout(serve_log.try_clone().expect("serve.log"))
                .stderr(serve_log)
                .spawn()
                .expect("start serve");
            // Ready when it answers HTTP, as a user sees it: the listening socket is bound
            // before the first start writes `initial-credentials.json` (a busy port fails
            // first), so an accepted connect alone raced the walkthrough's first line.
            let mut ready = false;
            let deadline = now() + Duration::from_secs(30);
            while now() < deadline {
                if answers_healthz("127.0.0.1:8080") {
                    ready = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(ready, "serve did not answer GET /healthz on 127.0.0.1:8080");

            let script = format!("set -euo pipefail\n{}\n", blocks.join("\n"));
            let mut shell = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(dir.path())
                .env("PATH", &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run bash");
            let mut out = String::new();
            let mut err = String::new();
            shell.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
            shell.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
            let status = shell.wait().expect("bash exit");
            let _ = serve.kill();
            let _ = serve.wait();
            assert!(status.success(), "the walkthrough failed ({status}):\n--- stdout\n{out}\n--- stderr\n{err}");
            assert!(!out.contains("\"success\":false"), "an API call was refused:\n{out}");

            let log = dir.path().join("receiver.log");
            let text = wait_for_lines(&log, &["POST /refund"], 1);
            let requests: Vec<&str> = text.lines().filter(|l| l.contains(" POST /")).collect();
            assert!(
                requests.iter().all(|l| l.ends_with("signature ok")),
                "every delivery is signed with the domain's secret:\n{text}"
            );
            let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
            assert!(count("{\"hello\":\"world\"}") >= 2, "two interval fires:\n{text}");
            assert_eq!(count("{\"hello\":\"debounced\"}"), 1, "two triggers, one debounced fire:\n{text}");
            assert_eq!(count("POST /orders"), 1, "{text}");
            assert_eq!(count("{\"created\":\"A-17\"}"), 1, "the second step used the first's response:\n{text}");
            assert_eq!(count("POST /refund"), 1, "the approved step ran once:\n{text}");
            assert_eq!(count("{\"hello\":\"order A-18\"}"), 1, "the event, transformed, reached the template:\n{text}");
        },
    );
}

#[test]
fn walkthrough_blocks_are_found_in_order() {
    let text =
        "x\n<!-- walkthrough -->\n```sh\na\nb\n```\n```sh\nnot marked\n```\n<!-- walkthrough -->\n```sh\nc\n```\n";
    assert_eq!(walkthrough_blocks(text), ["a\nb", "c"]);
}
