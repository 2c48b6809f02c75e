//! OpenSSH signatures (`ssh-keygen -Y sign`, the SSHSIG format) checked
//! against an `allowed_signers` file: who signed these exact bytes, under
//! which namespace, with a key valid at `now`.
//!
//! Court orders and policy bundles are signed by people with the tool they
//! already have (`ssh-keygen`, hardware `-sk` keys included); origuard only
//! verifies, with the `ssh-key` crate (Ed25519 and ECDSA P-256 keys, plain
//! or `-sk`; RSA keys are refused with a message). The verdict is the one
//! `ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL -n NAMESPACE`
//! gives at the same time (`tests/sign_ssh_keygen.rs` compares the two over
//! generated cases), plus the signer's principal, found by key.
//!
//! Pure: bytes in, a verdict out; the clock is an argument.

pub mod allowed;

use allowed::{match_pattern_list, AllowedSigners, Signer};
use ssh_key::{HashAlg, PublicKey, SshSig};
use std::time::SystemTime;

/// Who signed, once a signature verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The signer's principal (from `allowed_signers`).
    pub principal: String,
    /// The key's fingerprint, `SHA256:...` as ssh-keygen prints it.
    pub fingerprint: String,
}

/// Why a signature does not count. Each names what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Not an SSH signature file.
    #[error("not an SSH signature (ssh-keygen -Y sign output): {0}")]
    Malformed(String),
    /// Signed under another namespace.
    #[error("signed under namespace {signed:?}, not {wanted:?} (sign with -n {wanted})")]
    Namespace {
        /// The namespace in the signature.
        signed: String,
        /// The namespace asked for.
        wanted: String,
    },
    /// The key is in no line of `allowed_signers`.
    #[error("key {0} is not in allowed_signers")]
    UnknownKey(String),
    /// The key type cannot be checked here.
    #[error(
        "key type {0} is not supported (use an ed25519 or ecdsa-sha2-nistp256 key, -sk or not)"
    )]
    Unsupported(String),
    /// The signature does not match the bytes (tampered text, or a
    /// signature of another file).
    #[error("signature by {0} does not match these bytes (the file was changed after signing, or the signature is of another file)")]
    Mismatch(String),
    /// The signer may not sign in this namespace.
    #[error(
        "{principal} may not sign under {namespace:?} (allowed_signers line {line}: namespaces)"
    )]
    NamespaceNotAllowed {
        /// Signer.
        principal: String,
        /// The namespace.
        namespace: String,
        /// allowed_signers line.
        line: u32,
    },
    /// The signer's key is not valid yet.
    #[error(
        "{principal}'s key is not valid before {after} (allowed_signers line {line}: valid-after)"
    )]
    NotYetValid {
        /// Signer.
        principal: String,
        /// valid-after, RFC 3339.
        after: String,
        /// allowed_signers line.
        line: u32,
    },
    /// The signer's key has expired.
    #[error("{principal}'s key expired at {before} (allowed_signers line {line}: valid-before)")]
    Expired {
        /// Signer.
        principal: String,
        /// valid-before, RFC 3339.
        before: String,
        /// allowed_signers line.
        line: u32,
    },
}

impl SigError {
    /// The short reason code for audit records and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            SigError::Malformed(_) => "malformed",
            SigError::Namespace { .. } => "namespace",
            SigError::UnknownKey(_) => "unknown_key",
            SigError::Unsupported(_) => "unsupported_key",
            SigError::Mismatch(_) => "mismatch",
            SigError::NamespaceNotAllowed { .. } => "namespace_not_allowed",
            SigError::NotYetValid { .. } => "not_yet_valid",
            SigError::Expired { .. } => "expired",
        }
    }
}

fn show_secs(s: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
        .to_string()
}

/// Why `signer` may not sign under `namespace` at `now` (Unix seconds), or
/// None when it may.
fn line_refuses(s: &Signer, namespace: &str, now: u64) -> Option<SigError> {
    if let Some(ns) = &s.namespaces {
        if !match_pattern_list(namespace, ns) {
            return Some(SigError::NamespaceNotAllowed {
                principal: s.principal.clone(),
                namespace: namespace.to_string(),
                line: s.line,
            });
        }
    }
    if let Some(a) = s.valid_after.filter(|&a| now < a) {
        return Some(SigError::NotYetValid {
            principal: s.principal.clone(),
            after: show_secs(a),
            line: s.line,
        });
    }
    if let Some(b) = s.valid_before.filter(|&b| now > b) {
        return Some(SigError::Expired {
            principal: s.principal.clone(),
            before: show_secs(b),
            line: s.line,
        });
    }
    None
}

impl AllowedSigners {
    /// Checks the armored signature `sig` over `msg` under `namespace` at
    /// `now`: it must be an SSHSIG of these exact bytes, under exactly this
    /// namespace, by a key listed here whose line allows the namespace and
    /// whose validity holds `now` (to the second; `valid-before` inclusive,
    /// as ssh-keygen).
    pub fn verify(
        &self,
        namespace: &str,
        msg: &[u8],
        sig: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SigError> {
        let sig = SshSig::from_pem(sig).map_err(|e| SigError::Malformed(e.to_string()))?;
        if sig.namespace() != namespace {
            return Err(SigError::Namespace {
                signed: sig.namespace().to_string(),
                wanted: namespace.to_string(),
            });
        }
        let key = sig.public_key();
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let lines: Vec<&Signer> = self.signers.iter().filter(|s| &s.key == key).collect();
        let Some(first) = lines.first() else {
            return Err(SigError::UnknownKey(fingerprint));
        };
        let principal = first.principal.clone();
        let pk = PublicKey::new(key.clone(), "");
        if let Err(e) = pk.verify(namespace, msg, &sig) {
            return Err(match e {
                ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
                    SigError::Unsupported(key.algorithm().to_string())
                }
                _ => SigError::Mismatch(principal),
            });
        }
        let now = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut why = None;
        for s in &lines {
            match line_refuses(s, namespace, now) {
                None => {
                    return Ok(Verified {
                        principal,
                        fingerprint,
                    })
                }
                Some(e) => {
                    why.get_or_insert(e);
                }
            }
        }
        Err(why.unwrap_or(SigError::UnknownKey(fingerprint)))
    }
}
