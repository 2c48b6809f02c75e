//! Signed policy bundles: with `[signing] require_signed_policy`, a policy
//! (its file, list files and court orders) loads only when a manifest
//! beside it, signed with `ssh-keygen -Y sign -n POLICY_NAMESPACE` by its
//! author, names the SHA-256 of every file the loader reads.
//!
//! ```text
//! colorado.toml.manifest       written by `origuard policy manifest`
//! colorado.toml.manifest.sig   ssh-keygen -Y sign -n origuard-policy@co ...
//! ```
//!
//! The manifest (TOML) says who (`author`, a principal of
//! `allowed_signers`, who must be the signer), why (`reason`, a ticket or a
//! line), when (`time`, UTC), which `version` (counting up) and the SHA-256
//! of the manifest it follows (`previous`). [`succession`] refuses an older
//! version than the one in force (no rollback). Pure: the bytes come through
//! the loader's reader.

use super::diag::{Ctx, Diagnostic};
use crate::sign::allowed::AllowedSigners;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How every error about the bundle's signature begins (audit, metric).
pub const REFUSED: &str = "policy bundle not accepted: ";

/// The errors of a refused load that are about the bundle.
pub fn refused(r: &super::diag::Refused) -> impl Iterator<Item = &Diagnostic> {
    r.errors.iter().filter(|d| d.message.starts_with(REFUSED))
}

/// A manifest as written.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    /// Counts up by one with each bundle.
    pub version: u64,
    /// The author's principal (they sign it).
    pub author: String,
    /// Ticket number or a line saying why.
    pub reason: String,
    /// When it was made (RFC 3339, UTC).
    pub time: String,
    /// SHA-256 (hex) of the manifest this one follows; empty for the first.
    pub previous: String,
    /// Path (relative to the policy file's directory) to SHA-256 (hex).
    pub files: BTreeMap<String, String>,
}

/// The manifest of the policy in force: for the audit log and rollback.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Manifest {
    /// SHA-256 (hex) of the manifest file.
    pub sha256: String,
    /// Its version.
    pub version: u64,
    /// Author (verified signer).
    pub author: String,
    /// The signer's key, `SHA256:...`.
    pub key: String,
    /// Reason or ticket.
    pub reason: String,
    /// When made (as written).
    pub time: String,
    /// Previous manifest's SHA-256.
    pub previous: String,
}

/// The manifest file beside a policy file.
pub fn manifest_path(policy: &str) -> String {
    format!("{policy}.manifest")
}

/// The manifest's path key of `full` (a path the loader read): relative to
/// the policy file's directory, `/`-separated; outside it, as read.
pub fn key_of(policy: &str, full: &str) -> String {
    let dir = std::path::Path::new(policy)
        .parent()
        .unwrap_or(std::path::Path::new(""));
    match std::path::Path::new(full).strip_prefix(dir) {
        Ok(r) if !dir.as_os_str().is_empty() => r.to_string_lossy().replace('\\', "/"),
        _ => full.to_string(),
    }
}

/// SHA-256 hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// What the bundle check needs.
pub(super) struct Check<'a> {
    pub(super) policy: &'a str,
    pub(super) manifest: Option<Vec<u8>>,
    pub(super) sig: Option<Vec<u8>>,
    pub(super) signers: Option<AllowedSigners>,
    pub(super) namespace: &'a str,
    pub(super) now: std::time::SystemTime,
}

/// Checks the signed manifest against `seen` (every file the loader read,
/// directories and `allowed_signers` left out). Errors go to `cx`.
// Long: the manifest checks in the order each depends on the one before; each a few lines.
pub(super) fn check(cx: &mut Ctx, c: Check<'_>, seen: &[(String, Vec<u8>)]) -> Option<Manifest> {
    let mpath = manifest_path(c.policy);
    let err = |cx: &mut Ctx, file: &str, m: String| cx.err(file, 0, format!("{REFUSED}{m}"));
    let Some(mbytes) = c.manifest else {
        err(cx, &mpath, format!("the configuration requires a signed policy and there is no manifest: write one with `origuard policy manifest {} --author YOU --reason TICKET`, then ssh-keygen -Y sign -f KEY -n {} {mpath}", c.policy, c.namespace));
        return None;
    };
    let sigpath = format!("{mpath}.sig");
    let Some(sig) = c.sig else {
        err(
            cx,
            &sigpath,
            format!(
                "the manifest is not signed: ssh-keygen -Y sign -f KEY -n {} {mpath}",
                c.namespace
            ),
        );
        return None;
    };
    let signers = c.signers?;
    let v = match signers.verify(c.namespace, &mbytes, &sig, c.now) {
        Ok(v) => v,
        Err(e) => {
            err(cx, &sigpath, format!("manifest signature: {e}"));
            return None;
        }
    };
    let raw: RawManifest = match std::str::from_utf8(&mbytes)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(t).map_err(|e| e.message().to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            err(cx, &mpath, format!("manifest: {e}"));
            return None;
        }
    };
    if raw.author != v.principal {
        err(
            cx,
            &mpath,
            format!(
                "the manifest names author {:?} but is signed by {:?}: the author signs it",
                raw.author, v.principal
            ),
        );
    }
    if raw.reason.trim().is_empty() {
        err(
            cx,
            &mpath,
            "the manifest's reason is empty: give the ticket or say why".into(),
        );
    }
    if humantime::parse_rfc3339(&raw.time).is_err() || !raw.time.ends_with('Z') {
        err(
            cx,
            &mpath,
            format!(
                "the manifest's time {:?} is not a UTC time (2026-12-01T12:00:00Z)",
                raw.time
            ),
        );
    }
    let mut listed: BTreeMap<&str, bool> = raw.files.keys().map(|k| (k.as_str(), false)).collect();
    for (p, b) in seen {
        let k = key_of(c.policy, p);
        match raw.files.get(&k) {
            None => err(cx, p, format!("{k} is not in the signed manifest (a file added or changed after signing? make a new manifest and sign it)")),
            Some(h) if *h != sha256_hex(b) => err(cx, p, format!("{k} differs from the signed manifest (SHA-256 {} signed, {} now)", &h[..h.len().min(12)], &sha256_hex(b)[..12])),
            Some(_) => {
                if let Some(u) = listed.get_mut(k.as_str()) {
                    *u = true;
                }
            }
        }
    }
    for (k, used) in listed {
        if !used {
            err(cx, &mpath, format!("the manifest lists {k}, which the policy does not read (removed?): make a new manifest"));
        }
    }
    Some(Manifest {
        sha256: sha256_hex(&mbytes),
        version: raw.version,
        author: v.principal,
        key: v.fingerprint,
        reason: raw.reason,
        time: raw.time,
        previous: raw.previous,
    })
}

/// Why a signed bundle may not follow the one in force (no rollback, no
/// fork); the text starts with [`REFUSED`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SuccessionError {
    /// Not newer than the manifest in force.
    #[error("{REFUSED}manifest version {new} is not newer than version {old} in force (a rollback is refused; make a new manifest)")]
    NotNewer {
        /// The new manifest's version.
        new: u64,
        /// The version in force.
        old: u64,
    },
    /// Newer, but it does not name the manifest in force as `previous`.
    #[error("{REFUSED}manifest version {new} follows {previous}, not the manifest in force ({old_sha}, version {old})")]
    OtherPrevious {
        /// The new manifest's version.
        new: u64,
        /// The first 12 digits of the manifest it names as previous.
        previous: String,
        /// The first 12 digits of the manifest in force.
        old_sha: String,
        /// The version in force.
        old: u64,
    },
}

/// Whether `new` may follow `old` (the manifest in force): not an older
/// version, not another bundle under the same version, and a newer one
/// names the one in force as `previous`.
pub fn succession(old: Option<&Manifest>, new: Option<&Manifest>) -> Result<(), SuccessionError> {
    let (Some(o), Some(n)) = (old, new) else {
        return Ok(());
    };
    if n.sha256 == o.sha256 {
        return Ok(());
    }
    if n.version <= o.version {
        return Err(SuccessionError::NotNewer {
            new: n.version,
            old: o.version,
        });
    }
    if n.previous != o.sha256 {
        return Err(SuccessionError::OtherPrevious {
            new: n.version,
            previous: n.previous[..n.previous.len().min(12)].to_string(),
            old_sha: o.sha256[..o.sha256.len().min(12)].to_string(),
            old: o.version,
        });
    }
    Ok(())
}
