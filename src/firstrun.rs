//! The first-run credentials and their hygiene: the bootstrap key is shown once on a terminal
//! but never written where output is kept (the systemd journal), and every start reminds the
//! operator while the plaintext credentials file is still there.
//!
//! Detection of systemd follows systemd.exec(5), "Environment variables in spawned processes":
//! `INVOCATION_ID` is set for every unit's processes, `NOTIFY_SOCKET` for `Type=notify`
//! services, and `JOURNAL_STREAM` (`DEVICE:INODE`, decimal) names the stream connected to the
//! journal, which is stdout or stderr only when they still are that stream (a child started
//! from a service with its output redirected to a terminal inherits the variable, so it is
//! compared, as the man page recommends).

use std::path::Path;

use crate::model::BrandId;

/// Where the process's standard output ends up, as far as the bootstrap key is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A terminal or a pipe of the operator's choosing: the key is shown once.
    Shown,
    /// A systemd unit (journal or otherwise kept): the key stays in the credentials file.
    Systemd,
}

/// The environment systemd gives a unit's processes, and the identity (device, inode) of this
/// process's stdout and stderr.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    pub invocation_id: Option<String>,
    pub notify_socket: Option<String>,
    pub journal_stream: Option<String>,
    pub stdio: Vec<(u64, u64)>,
}

impl Environment {
    /// Reads the variables and `fstat`s stdout and stderr.
    pub fn current() -> Environment {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut stdio = Vec::new();
        for st in [rustix::fs::fstat(std::io::stdout()), rustix::fs::fstat(std::io::stderr())].into_iter().flatten() {
            stdio.push((st.st_dev, st.st_ino));
        }
        Environment {
            invocation_id: var("INVOCATION_ID"),
            notify_socket: var("NOTIFY_SOCKET"),
            journal_stream: var("JOURNAL_STREAM"),
            stdio,
        }
    }

    /// [`Output::Systemd`] when the process is a unit's (`INVOCATION_ID`, `NOTIFY_SOCKET`) or
    /// its stdout or stderr is the journal stream (`JOURNAL_STREAM` matches one of them).
    pub fn output(&self) -> Output {
        let journal = self.journal_stream.as_deref().and_then(parse_dev_ino).is_some_and(|s| self.stdio.contains(&s));
        if self.invocation_id.is_some() || self.notify_socket.is_some() || journal {
            Output::Systemd
        } else {
            Output::Shown
        }
    }
}

fn parse_dev_ino(s: &str) -> Option<(u64, u64)> {
    let (dev, ino) = s.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// What `serve` prints on stdout after creating the bootstrap brand and key (the key itself
/// only for [`Output::Shown`]).
pub fn announcement(output: Output, brand: BrandId, key: &str, file: &Path) -> String {
    let file = file.display();
    match output {
        Output::Shown => format!(
            "hookwheel: first start, created brand \"default\" and an API key (shown once):\n  \
             x-brand-uuid:        {brand}\n  \
             x-hookpulse-api-key: {key}\n  \
             (also saved to {file}, mode 0600)\n"
        ),
        Output::Systemd => format!(
            "hookwheel: first start, created brand \"default\" ({brand}) and an API key.\n  \
             The key is not printed here (running under systemd, whose journal would keep it): \
             read it from {file} (mode 0600, e.g. `sudo cat {file}`).\n"
        ),
    }
}

/// Logs a WARN line while the plaintext credentials file `file` exists (at every start), with
/// the command that removes it.
pub fn warn_if_present(file: &Path) {
    if file.symlink_metadata().is_ok() {
        let shown = file.display();
        tracing::warn!(
            file = %shown,
            "{shown} holds a plaintext API key (the first-start credentials); once the key is kept \
             somewhere safe, remove the file: rm {shown}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(invocation: Option<&str>, notify: Option<&str>, journal: Option<&str>) -> Environment {
        Environment {
            invocation_id: invocation.map(str::to_string),
            notify_socket: notify.map(str::to_string),
            journal_stream: journal.map(str::to_string),
            stdio: vec![(64769, 1234), (64769, 1234)],
        }
    }

    #[test]
    fn systemd_is_detected_from_its_variables_and_the_journal_stream_is_compared() {
        assert_eq!(env(None, None, None).output(), Output::Shown);
        assert_eq!(env(Some("5f3c0c1e2a"), None, None).output(), Output::Systemd);
        assert_eq!(env(None, Some("/run/systemd/notify"), None).output(), Output::Systemd);
        assert_eq!(env(None, None, Some("64769:1234")).output(), Output::Systemd);
        // Inherited from a service, but stdout and stderr now go elsewhere (a terminal).
        assert_eq!(env(None, None, Some("64769:99")).output(), Output::Shown);
        assert_eq!(env(None, None, Some("garbage")).output(), Output::Shown);
    }

    #[test]
    fn the_key_is_announced_only_where_output_is_not_kept() {
        let brand = BrandId::new();
        let file = Path::new("/var/lib/hookwheel/initial-credentials.json");
        let key = "hwk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
        let shown = announcement(Output::Shown, brand, key, file);
        assert!(shown.contains(key) && shown.contains(&brand.to_string()), "{shown}");
        let quiet = announcement(Output::Systemd, brand, key, file);
        assert!(!quiet.contains(key) && !quiet.contains("hwk_"), "{quiet}");
        assert!(quiet.contains(&brand.to_string()) && quiet.contains(&file.display().to_string()), "{quiet}");
    }
}
