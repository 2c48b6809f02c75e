//! Text logs on a terminal are coloured unless `NO_COLOR` is set
//! (<https://no-color.org>). `script` (util-linux) gives `origuard serve` a
//! pseudo-terminal for two seconds; its start-up log lines carry ANSI
//! escape codes without `NO_COLOR`, none with it.

#[path = "common/tool.rs"]
mod tool;

use std::process::Command;

/// Runs serve on a pty for 2 s with `env`; everything it wrote.
fn on_a_terminal(env: &[(&str, &str)]) -> Option<String> {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml");
    let cmd = format!(
        "timeout -s TERM 2 {} serve --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --policy {policy} --metrics off --drain-timeout 0s",
        env!("CARGO_BIN_EXE_origuard")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("ORIGUARD_LOG", "info")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn no_color_turns_off_colour_on_a_terminal() {
    let Some(coloured) = on_a_terminal(&[]) else {
        tool::missing(
            "no_color_turns_off_colour_on_a_terminal",
            "script(1)",
            "Debian package bsdutils; .ci/run installs it",
        );
        return;
    };
    assert!(coloured.contains("link ready"), "{coloured}");
    assert!(
        coloured.contains('\u{1b}'),
        "no colour on a terminal: {coloured}"
    );
    let plain = on_a_terminal(&[("NO_COLOR", "1")]).unwrap();
    assert!(plain.contains("link ready"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR: {plain}"
    );
}
