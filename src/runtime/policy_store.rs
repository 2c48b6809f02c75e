//! The live policy for the runtime: an `ArcSwap` read once per message
//! (no lock on the message path), replaced atomically by a reload. A failed
//! load leaves the running policy in place and returns every error.

use crate::policy::file::{self, Refused};
use crate::policy::orders::Signing;
use crate::policy::Policy;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// Loads and validates a policy from the file system.
pub fn load_path(path: &str) -> Result<Policy, Refused> {
    load_path_signed(path, None)
}

/// [`load_path`] with the signers of court orders (`[signing]`).
pub fn load_path_signed(path: &str, signing: Option<&Signing>) -> Result<Policy, Refused> {
    file::load_signed(path, &mut read_fs, std::time::SystemTime::now(), signing)
}

/// The policy loader's reader on the file system: a file's bytes, or for a
/// directory (`court_orders.dir`) the names in it, one per line.
pub fn read_fs(p: &str) -> std::io::Result<Vec<u8>> {
    if std::fs::metadata(p)?.is_dir() {
        let mut names = Vec::new();
        for e in std::fs::read_dir(p)? {
            if let Some(n) = e?.file_name().to_str() {
                if !n.contains('\n') {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        return Ok(names.join("\n").into_bytes());
    }
    std::fs::read(p)
}

/// Result of a reload attempt.
#[derive(Debug)]
pub enum Reload {
    /// The new policy is live (it may have the same version as before).
    Applied {
        /// Version before.
        old: String,
        /// Version now live.
        new: String,
    },
    /// The file was refused; the old policy stays.
    Refused {
        /// Version still live.
        kept: String,
        /// Why.
        errors: Refused,
    },
}

/// Holds the live policy and the path it is reloaded from.
pub struct PolicyStore {
    path: String,
    signing: Option<Signing>,
    /// `[signing] state_file`: the manifest in force, kept across restarts
    /// so that a rollback is refused at start too.
    state: Option<String>,
    live: ArcSwap<Policy>,
}

impl PolicyStore {
    /// Loads the initial policy; fails if it is invalid.
    pub fn open(path: &str) -> Result<PolicyStore, Refused> {
        PolicyStore::open_signed(path, None)
    }

    /// [`PolicyStore::open`] with the signers of court orders: every load,
    /// the first and each reload, re-reads `allowed_signers`.
    pub fn open_signed(path: &str, signing: Option<Signing>) -> Result<PolicyStore, Refused> {
        let p = load_path_signed(path, signing.as_ref())?;
        let mut s = PolicyStore::with(path, p);
        s.signing = signing;
        Ok(s)
    }

    /// [`PolicyStore::open_signed`] that also refuses, at start, a bundle
    /// older than the one recorded in `state` (the manifest in force at the
    /// last load, written after every applied load).
    pub fn open_signed_state(
        path: &str,
        signing: Option<Signing>,
        state: Option<String>,
    ) -> Result<PolicyStore, Refused> {
        let p = load_path_signed(path, signing.as_ref())?;
        if let Some(st) = &state {
            let before = read_state(st).map_err(|m| refusal(st, m.to_string()))?;
            crate::policy::bundle::succession(before.as_ref(), p.manifest.as_ref())
                .map_err(|e| refusal(&crate::policy::bundle::manifest_path(path), e.to_string()))?;
            write_state(st, p.manifest.as_ref());
        }
        let mut s = PolicyStore::with(path, p);
        s.signing = signing;
        s.state = state;
        Ok(s)
    }

    /// The signers of court orders, when configured.
    pub fn signing(&self) -> Option<&Signing> {
        self.signing.as_ref()
    }

    /// A store around an already loaded policy.
    pub fn with(path: &str, policy: Policy) -> PolicyStore {
        PolicyStore {
            path: path.to_string(),
            signing: None,
            state: None,
            live: ArcSwap::from_pointee(policy),
        }
    }

    /// The current policy (cheap: an atomic load and a reference count).
    pub fn current(&self) -> Arc<Policy> {
        self.live.load_full()
    }

    /// Path the policy is reloaded from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Re-reads the file; swaps it in only when it validates whole.
    pub fn reload(&self) -> Reload {
        let old = self.live.load();
        match load_path_signed(&self.path, self.signing.as_ref()) {
            Ok(p) => {
                if let Err(e) =
                    crate::policy::bundle::succession(old.manifest.as_ref(), p.manifest.as_ref())
                {
                    let mut errors = refusal(
                        &crate::policy::bundle::manifest_path(&self.path),
                        e.to_string(),
                    );
                    errors.warnings = p.warnings;
                    return Reload::Refused {
                        kept: old.version.clone(),
                        errors,
                    };
                }
                if let Some(st) = &self.state {
                    write_state(st, p.manifest.as_ref());
                }
                let new = p.version.clone();
                let old_v = old.version.clone();
                self.live.store(Arc::new(p));
                Reload::Applied { old: old_v, new }
            }
            Err(errors) => Reload::Refused {
                kept: old.version.clone(),
                errors,
            },
        }
    }
}

/// A refusal with one error about `file`.
fn refusal(file: &str, message: String) -> Refused {
    Refused {
        errors: vec![crate::policy::file::Diagnostic {
            file: file.to_string(),
            line: 0,
            severity: crate::policy::file::Severity::Error,
            message,
        }],
        warnings: Vec::new(),
    }
}

/// Why the signed-policy state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read.
    #[error("cannot read the signed-policy state file: {0}")]
    Io(std::io::Error),
    /// The file is not a manifest.
    #[error("the signed-policy state file does not read ({0}); it records the manifest in force against rollback: restore it, or remove it knowingly")]
    Json(serde_json::Error),
}

/// The manifest recorded in the state file; None when there is none yet.
fn read_state(p: &str) -> Result<Option<crate::policy::bundle::Manifest>, StateError> {
    match std::fs::read(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::Io(e)),
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(StateError::Json),
    }
}

/// Records the manifest in force (temporary file, fsync, rename); a failure
/// is logged: the running process still refuses rollbacks from memory.
fn write_state(p: &str, m: Option<&crate::policy::bundle::Manifest>) {
    let Some(m) = m else { return };
    let tmp = format!("{p}.tmp");
    let r = serde_json::to_vec(m)
        .map_err(std::io::Error::other)
        .and_then(|b| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&b)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, p));
    if let Err(e) = r {
        tracing::error!(file = p, error = %e, "cannot record the signed policy in force");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Action;

    const HEAD: &str = "[deny]\nreply_ori = \"COOLN0000\"\n";

    fn list(name: &str, action: &str, entries: &[&str]) -> String {
        let e: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
        format!(
            "[[list]]\nname = {name:?}\naction = {action:?}\nentries = [{}]\n",
            e.join(", ")
        )
    }

    #[test]
    fn store_keeps_running_policy_on_bad_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let path_s = path.to_str().unwrap().to_string();
        std::fs::write(
            &path,
            format!("{HEAD}{}", list("d", "deny", &["VTICE0900"])),
        )
        .unwrap();
        let store = PolicyStore::open(&path_s).unwrap();
        let v1 = store.current().version.clone();
        std::fs::write(&path, format!("{HEAD}{}", list("d", "deny", &["VTICE09"]))).unwrap();
        match store.reload() {
            Reload::Refused { kept, errors } => {
                assert_eq!(kept, v1);
                assert!(errors.errors[0].message.contains("7 characters"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.current().version, v1);
        assert_eq!(store.current().lookup(b"VTICE0900").action, Action::Deny);
        std::fs::write(
            &path,
            format!("{HEAD}{}", list("d", "redact", &["VTICE0900"])),
        )
        .unwrap();
        match store.reload() {
            Reload::Applied { old, new } => assert!(old == v1 && new != v1),
            other => panic!("{other:?}"),
        }
        assert_eq!(store.current().lookup(b"VTICE0900").action, Action::Redact);
    }
}
