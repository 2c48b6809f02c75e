//! `origuard serve` as a child process for the process-level tests
//! (tests/serve_process.rs, tests/faults.rs): spawn it (optionally inside a
//! wrapper such as `unshare` or `sh -c 'ulimit ...'`), read the addresses
//! it reports, signal it, read its memory, stop it. Every wait is bounded.

use super::{example_policy, http, metric, DEADLINE};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Writes `dir/origuard.toml` for one link to `upstream` under the example
/// policy (not watched), the audit log at `audit`, an admin endpoint on
/// loopback, and the extra lines of each section (`audit`, `admin`,
/// `limits`); returns its path.
pub fn write_config(
    dir: &Path,
    audit: &Path,
    upstream: &str,
    audit_extra: &str,
    admin_extra: &str,
    limits: &str,
) -> PathBuf {
    let p = dir.join("origuard.toml");
    std::fs::write(
        &p,
        format!(
            "[policy]\nfile = {:?}\nwatch = false\n\
             [audit]\nfile = {:?}\n{audit_extra}\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n{admin_extra}\n\
             [limits]\n{limits}\n\
             [[link]]\nname = \"default\"\nlisten = \"127.0.0.1:0\"\nupstream = {upstream:?}\n",
            example_policy(),
            audit.to_str().unwrap(),
        ),
    )
    .unwrap();
    p
}

/// A numbered message (`SEQ/00042`) the example policy lets through.
pub fn msg(i: usize) -> Vec<u8> {
    format!("DR.COOLN0000.AZNLETS20.TXT\r\nSEQ/{i:05}").into_bytes()
}

/// A running `origuard serve`, killed if the test fails.
pub struct Served {
    /// The process.
    pub child: Child,
    /// Where the link listens.
    pub listen: SocketAddr,
    /// The admin and metrics endpoint.
    pub admin: SocketAddr,
    /// Its stderr, line by line.
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Served {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path` on the admin endpoint.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http(self.admin, "GET", path, None).await
    }

    /// One sample from `/metrics`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric(&self.get("/metrics").await.1, name, labels)
    }

    /// [`Served::terminate`], consuming it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        kill(self.pid(), "-TERM");
        let t = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if t.elapsed() > 2 * DEADLINE {
                let _ = self.child.kill();
                panic!("serve did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The origuard binary, inside `wrapper` when one is given.
pub fn origuard(wrapper: &[&str]) -> Command {
    let bin = env!("CARGO_BIN_EXE_origuard");
    match wrapper.split_first() {
        None => Command::new(bin),
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
    }
}

/// Spawns `cmd` with info logs on a piped stderr delivered line by line
/// (echoed when `FAULTS_VERBOSE` is set).
pub fn spawn_lines(mut cmd: Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .env("ORIGUARD_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if std::env::var_os("FAULTS_VERBOSE").is_some() {
                eprintln!("serve: {l}");
            }
            let _ = tx.send(l);
        }
    });
    (child, rx)
}

/// Waits (bounded) for the addresses a spawned serve reports.
pub fn served(child: Child, lines: mpsc::Receiver<String>) -> Served {
    let (mut listen, mut admin) = (None, None);
    let t = Instant::now();
    while (listen.is_none() || admin.is_none()) && t.elapsed() < DEADLINE {
        if let Ok(l) = lines.recv_timeout(Duration::from_millis(50)) {
            if let Some(rest) = l.strip_prefix("origuard: link default listening on ") {
                listen = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = l.strip_prefix("origuard: metrics and admin on http://") {
                admin = rest.strip_suffix("/metrics").and_then(|a| a.parse().ok());
            }
        }
    }
    Served {
        child,
        listen: listen.expect("serve did not report its listen address"),
        admin: admin.expect("serve did not report its admin address"),
        lines,
    }
}

/// Sends signal `sig` (e.g. `-HUP`) to `pid`.
pub fn kill(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn vm_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}
