//! origuard's signature check against the real `ssh-keygen -Y verify`
//! (Debian's openssh-client): throw-away keys made by ssh-keygen in a
//! temporary directory, signatures made by `ssh-keygen -Y sign`, and for
//! every generated case the same verdict from both (accepted as signed by
//! the same principal, or refused). Without ssh-keygen the tests fail under
//! `CI=true` (`.ci/run` installs openssh-client).

mod common;
use common::ssh::have_ssh_keygen;
use origuard::sign::allowed::AllowedSigners;
use origuard::sign::SigError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The verification time of every case: 2026-12-01T12:00:00Z.
const NOW_SECS: u64 = 1_796_126_400;
const NOW_SSH: &str = "20261201120000Z";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

struct Key {
    principal: String,
    path: PathBuf,
    public: String,
}

fn keygen(dir: &Path, name: &str, kind: &str) -> Key {
    let path = dir.join(name);
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-N", "", "-C", name, "-f"]).arg(&path);
    match kind {
        "ecdsa" => c.args(["-t", "ecdsa", "-b", "256"]),
        _ => c.args(["-t", "ed25519"]),
    };
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Key {
        principal: format!("{name}@co.example"),
        path,
        public,
    }
}

/// `ssh-keygen -Y sign` of `msg` (written to `file`) under `ns`; returns the
/// armored signature.
fn sign(key: &Key, ns: &str, file: &Path, msg: &[u8]) -> Vec<u8> {
    std::fs::write(file, msg).unwrap();
    let sig = PathBuf::from(format!("{}.sig", file.display()));
    let _ = std::fs::remove_file(&sig);
    let o = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", ns, "-f"])
        .arg(&key.path)
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(sig).unwrap()
}

/// `ssh-keygen -Y verify` at NOW: true when it accepts `sig` over `msg` as
/// `principal`'s under `ns`.
fn ssh_verify(
    dir: &Path,
    allowed: &str,
    principal: &str,
    ns: &str,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    let a = dir.join("allowed_signers");
    std::fs::write(&a, allowed).unwrap();
    let s = dir.join("case.sig");
    std::fs::write(&s, sig).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&a)
        .args(["-I", principal, "-n", ns, "-s"])
        .arg(&s)
        .arg(format!("-Overify-time={NOW_SSH}"))
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(msg).unwrap();
    child.wait().unwrap().success()
}

/// origuard's verdict: Ok(principal) or the refusal.
fn ours(allowed: &str, ns: &str, msg: &[u8], sig: &[u8]) -> Result<String, SigError> {
    let a = AllowedSigners::parse(allowed).expect("allowed_signers parses");
    a.verify(ns, msg, sig, now()).map(|v| v.principal)
}

/// A small deterministic generator (xorshift64*), so a failing case can be
/// re-run from its number.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const ORDER_NS: &str = "origuard-order@co";

fn line(k: &Key, opts: &[String]) -> String {
    if opts.is_empty() {
        format!("{} {} {}", k.principal, k.public, "comment words")
    } else {
        format!("{} {} {}", k.principal, opts.join(","), k.public)
    }
}

#[test]
fn origuard_accepts_exactly_what_ssh_keygen_accepts() {
    if !have_ssh_keygen("signature differential") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = [
        keygen(d, "alice", "ed25519"),
        keygen(d, "bob", "ecdsa"),
        keygen(d, "carol", "ed25519"),
        keygen(d, "dave", "ecdsa"),
    ];
    let namespaces = [ORDER_NS, "origuard-policy@co", "file"];
    let ns_options: [Option<&str>; 6] = [
        None,
        Some(ORDER_NS),
        Some("origuard-*@co"),
        Some("*,!origuard-order@co"),
        Some("origuard-policy@co"),
        Some("origuard-policy@co,origuard-order@co"),
    ];
    // Times around NOW: far past, a second before, exactly, a second
    // after, far future.
    let times = [
        "20250101Z",
        "20261201115959Z",
        "20261201120000Z",
        "20261201120001Z",
        "20270101Z",
    ];
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let mut prev: Option<(Vec<u8>, Vec<u8>)> = None;
    let (mut accepted, mut refused) = (0, 0);
    let cases = 90;
    for case in 0..cases {
        let signer = rng.pick(&keys);
        let sign_ns = if rng.chance(75) {
            ORDER_NS
        } else {
            *rng.pick(&namespaces)
        };
        let want_ns = if rng.chance(85) {
            ORDER_NS
        } else {
            *rng.pick(&namespaces)
        };
        let msg = format!("order {case}\nid = \"2026-CV-{}\"\n", rng.next() % 10_000).into_bytes();
        let sig = sign(signer, sign_ns, &d.join("order.toml"), &msg);
        let mut lines = Vec::new();
        for k in &keys {
            if rng.chance(15) {
                continue; // removed from the file
            }
            let mut opts = Vec::new();
            if let Some(ns) = rng.pick(&ns_options) {
                opts.push(format!("namespaces=\"{ns}\""));
            }
            if rng.chance(30) {
                opts.push(format!("valid-after=\"{}\"", rng.pick(&times)));
            }
            if rng.chance(30) {
                opts.push(format!("valid-before=\"{}\"", rng.pick(&times)));
            }
            lines.push(line(k, &opts));
        }
        let allowed = lines.join("\n") + "\n";
        // Tampered bytes, or another case's signature, now and then.
        let (vmsg, vsig) = match rng.next() % 10 {
            0 => {
                let mut m = msg.clone();
                m[0] ^= 0x20;
                (m, sig.clone())
            }
            1 if prev.is_some() => (msg.clone(), prev.clone().unwrap().1),
            _ => (msg.clone(), sig.clone()),
        };
        let theirs = ssh_verify(d, &allowed, &signer.principal, want_ns, &vmsg, &vsig);
        let mine = ours(&allowed, want_ns, &vmsg, &vsig);
        let mine_ok = mine.as_deref() == Ok(signer.principal.as_str());
        assert_eq!(
            mine_ok, theirs,
            "case {case}: ssh-keygen {theirs}, origuard {mine:?}\nsigned {sign_ns} by {}, verified under {want_ns}\n{allowed}",
            signer.principal
        );
        if theirs {
            accepted += 1;
        } else {
            refused += 1;
        }
        prev = Some((msg, sig));
    }
    eprintln!("{cases} cases: {accepted} accepted by both, {refused} refused by both");
    assert!(
        accepted >= 15 && refused >= 15,
        "{accepted} accepted, {refused} refused: too little variety"
    );
}

/// One named case: origuard's refusal and ssh-keygen's agree, and the
/// refusal is the expected one.
#[test]
fn named_refusals_match_ssh_keygen() {
    if !have_ssh_keygen("signature differential") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = keygen(d, "alice", "ed25519");
    let bob = keygen(d, "bob", "ecdsa");
    let msg = b"[[exception]]\nid = \"2026-CV-1\"\n".to_vec();
    let sig_a = sign(&alice, ORDER_NS, &d.join("a.toml"), &msg);
    let sig_b_other = sign(&bob, ORDER_NS, &d.join("b.toml"), b"another order\n");
    let ok = format!("{}\n{}\n", line(&alice, &[]), line(&bob, &[]));
    let expired = format!(
        "{}\n",
        line(&alice, &["valid-before=\"20261130Z\"".to_string()])
    );
    let not_yet = format!(
        "{}\n",
        line(&alice, &["valid-after=\"20261202Z\"".to_string()])
    );
    let only_policy = format!(
        "{}\n",
        line(&alice, &["namespaces=\"origuard-policy@co\"".to_string()])
    );
    let removed = format!("{}\n", line(&bob, &[]));
    let mut tampered = msg.clone();
    tampered.extend_from_slice(b"max_uses = 99\n");
    // (name, allowed_signers, namespace, message, signature, refusal code)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [u8],
        &'a [u8],
        Option<&'a str>,
    );
    let cases: [Case<'_>; 8] = [
        ("good", &ok, ORDER_NS, &msg, &sig_a, None),
        (
            "wrong namespace",
            &ok,
            "origuard-policy@co",
            &msg,
            &sig_a,
            Some("namespace"),
        ),
        (
            "expired valid-before",
            &expired,
            ORDER_NS,
            &msg,
            &sig_a,
            Some("expired"),
        ),
        (
            "valid-after in the future",
            &not_yet,
            ORDER_NS,
            &msg,
            &sig_a,
            Some("not_yet_valid"),
        ),
        (
            "namespace not allowed for the key",
            &only_policy,
            ORDER_NS,
            &msg,
            &sig_a,
            Some("namespace_not_allowed"),
        ),
        (
            "key removed from the file",
            &removed,
            ORDER_NS,
            &msg,
            &sig_a,
            Some("unknown_key"),
        ),
        (
            "tampered order",
            &ok,
            ORDER_NS,
            &tampered,
            &sig_a,
            Some("mismatch"),
        ),
        (
            "swapped signature file",
            &ok,
            ORDER_NS,
            &msg,
            &sig_b_other,
            Some("mismatch"),
        ),
    ];
    for (name, allowed, ns, m, s, want) in cases {
        let theirs = ssh_verify(d, allowed, &alice.principal, ns, m, s);
        let mine = ours(allowed, ns, m, s);
        match want {
            None => {
                assert!(theirs, "{name}: ssh-keygen refused");
                assert_eq!(mine.as_deref(), Ok(alice.principal.as_str()), "{name}");
            }
            Some(code) => {
                assert!(!theirs, "{name}: ssh-keygen accepted");
                let e = mine.expect_err(name);
                assert_eq!(e.code(), code, "{name}: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Garbage is not a signature.
    let e = ours(&ok, ORDER_NS, &msg, b"not a signature").unwrap_err();
    assert_eq!(e.code(), "malformed");
}
