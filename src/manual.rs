//! Shell completion scripts and man pages, generated from the command line's own definition
//! (`clap::Command`), so they can never drift from what the binary accepts.
//!
//! `hookwheel completions bash|zsh|fish` prints a script (clap_complete); `hookwheel man`
//! prints the roff page `hookwheel(1)`, and `hookwheel man --out-dir DIR` writes it together
//! with one page per subcommand, named `hookwheel-<sub>[-<subsub>].1` as git does
//! (clap_mangen). The Debian package is built with these files (`scripts/package`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Examples under `hookwheel --help`.
pub const MAIN_EXAMPLES: &str = "\
Examples:
  hookwheel serve                                     # run on the embedded defaults (127.0.0.1:8080, ./hookwheel-data)
  hookwheel serve --config /etc/hookwheel/hookwheel.toml
  hookwheel config check --config /etc/hookwheel/hookwheel.toml
  sudo -u hookwheel hookwheel brand list --config /etc/hookwheel/hookwheel.toml   # as the daemon's user
  hookwheel completions bash > /usr/share/bash-completion/completions/hookwheel

Admin commands work with the daemon running (over its admin socket) or stopped (on the store);
run them as the user the daemon runs as (the package's service runs as `hookwheel`).";

/// Examples under `hookwheel serve --help`.
pub const SERVE_EXAMPLES: &str = "\
Examples:
  hookwheel serve                                     # embedded defaults: 127.0.0.1:8080, ./hookwheel-data
  hookwheel serve --listen 0.0.0.0:8080 --data-dir /srv/hookwheel
  hookwheel serve --config /etc/hookwheel/hookwheel.toml

The first start creates brand \"default\" and an API key, saved to <data dir>/initial-credentials.json
(mode 0600). On a terminal the key is also shown once; under systemd it is not (the journal keeps
what it is given). Delete the file once the key is stored elsewhere: every start warns while it exists.";

/// Examples under `hookwheel brand --help`.
pub const BRAND_EXAMPLES: &str = "\
Examples:
  hookwheel brand create --name acme --timezone Europe/Berlin
  hookwheel brand list --json";

/// Examples under `hookwheel key --help`.
pub const KEY_EXAMPLES: &str = "\
Examples:
  hookwheel key create --brand 0192f6a4-1c7e-7d3a-9a51-2f0c8e6b4d21
  hookwheel key list --brand 0192f6a4-1c7e-7d3a-9a51-2f0c8e6b4d21
  hookwheel key revoke hwk_AbCd1234                   # the prefix `key list` shows, or the key id";

/// Examples under `hookwheel config --help`.
pub const CONFIG_EXAMPLES: &str = "\
Examples:
  hookwheel config check --config /etc/hookwheel/hookwheel.toml
  hookwheel config defaults > hookwheel.toml          # every key, commented, with its default";

/// Examples under `hookwheel backup --help`.
pub const BACKUP_EXAMPLES: &str = "\
Examples:
  hookwheel backup --config /etc/hookwheel/hookwheel.toml --out /var/backups/hookwheel-$(date +%F).redb";

/// Examples under `hookwheel schedule --help`.
pub const SCHEDULE_EXAMPLES: &str = "\
Examples:
  hookwheel schedule preview driver_type=cron cron_expression='30 2 * * *' cron_timezone=America/New_York count=5
  hookwheel schedule preview driver_type=interval interval_seconds=90 count=3 --json";

/// Examples under `hookwheel completions --help`.
pub const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  hookwheel completions bash > /usr/share/bash-completion/completions/hookwheel
  source <(hookwheel completions bash)                # this shell only
  hookwheel completions zsh > /usr/share/zsh/vendor-completions/_hookwheel
  hookwheel completions fish > ~/.config/fish/completions/hookwheel.fish";

/// Examples under `hookwheel man --help`.
pub const MAN_EXAMPLES: &str = "\
Examples:
  hookwheel man | man -l -
  hookwheel man --out-dir /usr/local/share/man/man1";

/// `hookwheel man [--out-dir DIR]`: the top page on stdout, or every page into `DIR` (the
/// files written are listed on stdout).
pub fn man(cmd: clap::Command, out_dir: Option<&Path>) -> anyhow::Result<std::process::ExitCode> {
    match out_dir {
        None => man_page(cmd, &mut std::io::stdout().lock()).context("cannot write the man page")?,
        Some(dir) => {
            for f in man_pages_to(cmd, dir)? {
                println!("{}", f.display());
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A shell `hookwheel completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// GNU Bash (source the script, or install it as
    /// /usr/share/bash-completion/completions/hookwheel).
    Bash,
    /// Z shell (install as `_hookwheel` in a directory of `$fpath`).
    Zsh,
    /// fish (install as ~/.config/fish/completions/hookwheel.fish).
    Fish,
}

impl Shell {
    /// The file name the script is installed under in the shell's completion directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Shell::Bash => "hookwheel",
            Shell::Zsh => "_hookwheel",
            Shell::Fish => "hookwheel.fish",
        }
    }
}

/// Writes the completion script of `cmd` for `shell` to `out` (a closed pipe is an error,
/// not a panic: the script is generated into memory first).
pub fn completions(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut cmd, name, &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// Writes the man page of the top-level command (section 1, roff) to `out`.
pub fn man_page(cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    render(&cmd, out)
}

/// Writes `hookwheel.1` and one page per subcommand at every depth (`hookwheel-key-revoke.1`)
/// into `dir`, which is created when missing; returns the files written, top page first.
pub fn man_pages_to(cmd: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, dir, &mut written)?;
    Ok(written)
}

fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    // After `build`, a subcommand's display name is its page name (`hookwheel-key-revoke`)
    // and its bin name the words typed (`hookwheel key revoke`), which the synopsis shows.
    let page = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let path = dir.join(format!("{page}.1"));
    let mut buf = Vec::new();
    render(cmd, &mut buf).with_context(|| format!("cannot render {page}(1)"))?;
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}

/// One page: clap_mangen's sections, with the command's examples (its `after_help`) as an
/// EXAMPLES section kept line by line (clap_mangen's EXTRA section would refill them).
fn render(cmd: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    if cmd.has_subcommands() {
        man.render_subcommands_section(out)?;
    }
    if let Some(examples) = cmd.get_after_help() {
        let text = examples.to_string();
        let body = text.strip_prefix("Examples:\n").unwrap_or(&text);
        writeln!(out, ".SH EXAMPLES\n.nf")?;
        for line in body.lines() {
            writeln!(out, "{}", roff_line(line))?;
        }
        writeln!(out, ".fi")?;
    }
    if cmd.get_version().is_some() {
        man.render_version_section(out)?;
    }
    Ok(())
}

/// A line of literal text in roff: backslashes and minus signs escaped, and a leading `.` or
/// `'` (a request) neutralised (groff_man(7)).
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') { format!("\\&{escaped}") } else { escaped }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command carries help text, and every command a description:
    /// completions, man pages and `--help` show them.
    #[test]
    fn every_command_and_argument_has_help_text() {
        let mut cmd = crate::cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "hookwheel", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() && path != "hookwheel" {
            missing.push(format!("command `{path}`"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("`{path}` argument {id}"));
            }
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    #[test]
    fn man_pages_cover_every_subcommand_at_every_depth() {
        let dir = tempfile::tempdir().unwrap();
        let files = man_pages_to(crate::cli::command(), dir.path()).unwrap();
        let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names[0], "hookwheel.1");
        for page in ["hookwheel-serve.1", "hookwheel-key.1", "hookwheel-key-revoke.1", "hookwheel-config-check.1"] {
            assert!(names.iter().any(|n| n == page), "{page} missing from {names:?}");
        }
        let revoke = std::fs::read_to_string(dir.path().join("hookwheel-key-revoke.1")).unwrap();
        assert!(
            revoke.starts_with(".TH hookwheel-key-revoke 1") || revoke.contains("\n.TH hookwheel-key-revoke 1"),
            "{revoke}"
        );
        assert!(revoke.contains("\\fBhookwheel key revoke\\fR"), "synopsis names the typed words: {revoke}");
        assert!(revoke.contains("KEY_PREFIX_OR_ID"), "{revoke}");
        // The examples keep their lines.
        let key = std::fs::read_to_string(dir.path().join("hookwheel-key.1")).unwrap();
        assert!(key.contains(".SH EXAMPLES\n.nf\n  hookwheel key create \\-\\-brand "), "{key}");
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }

    #[test]
    fn roff_lines_are_literal() {
        assert_eq!(roff_line("a --b"), "a \\-\\-b");
        assert_eq!(roff_line(".TH x"), "\\&.TH x");
        assert_eq!(roff_line("c:\\d"), "c:\\ed");
    }
}
