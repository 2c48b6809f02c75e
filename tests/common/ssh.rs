//! OpenSSH's own tools for the signature tests (tests/sign_ssh_keygen.rs,
//! tests/signed_orders.rs, tests/signed_bundle.rs): keys made and files
//! signed by `ssh-keygen` (Debian's openssh-client, installed by `.ci/run`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// True when ssh-keygen can be run; fails the test under `CI=true` when it
/// cannot (`what` says which tests could not run).
pub fn have_ssh_keygen(what: &str) -> bool {
    let ok = Command::new("ssh-keygen")
        .arg("-?")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        super::tool::missing(what, "ssh-keygen", "Debian package openssh-client");
    }
    ok
}

/// A new Ed25519 key `DIR/NAME` without a passphrase; its path and its
/// public line (`ssh-ed25519 AAAA... NAME`).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

/// `ssh-keygen -Y sign -n NS -f KEY FILE`: writes `FILE.sig` (replacing
/// one there) and returns its path.
pub fn sign_file(key: &Path, file: &Path, ns: &str) -> PathBuf {
    let sig = PathBuf::from(format!("{}.sig", file.display()));
    let _ = std::fs::remove_file(&sig);
    let o = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", ns, "-f"])
        .arg(key)
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    sig
}
