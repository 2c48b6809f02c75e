//! `origuard completions SHELL` and `origuard man`: generated from the clap
//! definitions, they name every command (and the nested `policy` and
//! `audit` commands), and a closed pipe ends them quietly.

use clap::CommandFactory;
use origuard::tools::cli::Cli;
use std::process::{Command, Stdio};

#[path = "common/cli.rs"]
mod cli;
use cli::{bin, run as origuard};

/// Every command path: `serve`, `policy check`, `audit verify`, ...
fn commands() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in Cli::command().get_subcommands() {
        out.push(vec![c.get_name().to_string()]);
        for s in c.get_subcommands() {
            out.push(vec![c.get_name().to_string(), s.get_name().to_string()]);
        }
    }
    out
}

#[test]
fn completions_name_every_command_in_every_shell() {
    let all = commands();
    assert!(all.iter().any(|c| c == &["policy", "check"]), "{all:?}");
    assert!(all.iter().any(|c| c == &["completions"]) && all.iter().any(|c| c == &["man"]));
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = origuard(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.len() > 500, "{shell}: {out}");
        for c in &all {
            let leaf = c.last().unwrap();
            assert!(out.contains(leaf.as_str()), "{shell}: no {c:?}");
        }
        // Flags come from the definitions too.
        assert!(
            out.contains("drain-timeout") && out.contains("expect-head"),
            "{shell}"
        );
    }
    let (code, _, err) = origuard(&["completions", "tcsh"]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn bash_completion_is_valid_bash() {
    let (_, script, _) = origuard(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("origuard.bash");
    std::fs::write(&f, &script).unwrap();
    // Syntax check, then load it and ask for the top-level completions.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; bash -n {f}; source {f}; COMP_WORDS=(origuard po); COMP_CWORD=1; _origuard origuard po origuard; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            f = f.display()
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(out.trim(), "policy", "{out}");
}

#[test]
fn man_page_lists_the_commands_and_dir_writes_one_page_each() {
    let (code, page, err) = origuard(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        page.starts_with(".ie") || page.contains(".TH origuard 1"),
        "{page}"
    );
    assert!(page.contains(".TH origuard 1"));
    assert!(page.contains(".SH SUBCOMMANDS"));
    for c in Cli::command().get_subcommands() {
        assert!(
            page.contains(&format!("origuard\\-{}(1)", c.get_name())),
            "no {} in the page",
            c.get_name()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let (code, _, err) = origuard(&["man", "--dir", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for c in commands() {
        let f = out.join(format!("origuard-{}.1", c.join("-")));
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(text.contains(".TH origuard"), "{}", f.display());
        // EXIT STATUS and ENVIRONMENT on every page, before VERSION.
        let (exit, env) = (
            text.find(".SH \"EXIT STATUS\"")
                .unwrap_or_else(|| panic!("{}", f.display())),
            text.find(".SH \"ENVIRONMENT\"")
                .unwrap_or_else(|| panic!("{}", f.display())),
        );
        assert!(
            exit < env && text[env..].contains("NO_COLOR"),
            "{}",
            f.display()
        );
        if let Some(v) = text.find(".SH VERSION") {
            assert!(env < v, "{}", f.display());
        }
    }
    let diff = std::fs::read_to_string(out.join("origuard-policy-diff.1")).unwrap();
    assert!(diff.contains("\\fB3\\fR\nWith \\-\\-exit\\-code"), "{diff}");
    let serve_page = std::fs::read_to_string(out.join("origuard-serve.1")).unwrap();
    assert!(serve_page.contains("NOTIFY_SOCKET") && serve_page.contains("\\fB65\\fR"));
    assert!(page.contains(".SH \"EXIT STATUS\"") && page.contains("ORIGUARD_LOG"));
    let serve = std::fs::read_to_string(out.join("origuard-serve.1")).unwrap();
    assert!(
        serve.contains("check") && serve.contains("drain\\-timeout"),
        "{serve}"
    );
}

#[test]
fn closed_pipe_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pk8").display().to_string();
    let keygen = ["audit", "keygen", "--out", key.as_str()];
    let runs: [&[&str]; 3] = [&["completions", "zsh"], &["man"], &keygen];
    for args in runs {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        // keygen says on standard error where it wrote the key; nothing
        // else may be there.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.is_empty()
                || (args[0] == "audit" && err.starts_with("wrote ") && err.lines().count() == 1),
            "{args:?}: {err}"
        );
    }
}
