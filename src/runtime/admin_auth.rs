//! Who may change what through the admin endpoint: named administrators
//! with scopes, from `[admin] token_file`.
//!
//! The file holds one administrator per line:
//!
//! ```text
//! # principal   scopes              SHA-256 of the token (hex)
//! alice@co      reload,stop         5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//! bob@co        read                a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3
//! ```
//!
//! Scopes: `read` (nothing beyond the open read-only endpoints, which keep
//! their own rule: `/metrics`, `/live`, `/ready`, `/status`, `/shadow` need
//! no token), `reload` (`POST /reload`, `POST /reopen`), `stop`
//! (`POST /shutdown`). Only hashes are stored, so the file does not hold the
//! secrets themselves; `sha256sum` or `origuard`'s tests make them. A file
//! of a single word is the older shared token: accepted, named
//! `shared-token`, with every scope, and warned about at start.
//!
//! Pure: text in, a verdict out.

use sha2::{Digest, Sha256};

/// What an administrator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Scope {
    /// Read-only (the open endpoints; no change).
    Read,
    /// Reload the policy and certificates, reopen the audit log.
    Reload,
    /// Drain and stop the process.
    Stop,
}

/// One administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    /// Who (named in the audit log).
    pub name: String,
    /// What they may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of their token.
    hash: [u8; 32],
}

/// The administrators of the token file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admins {
    /// In file order.
    pub admins: Vec<Admin>,
    /// The file is the older single shared token (no names).
    pub shared: bool,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No token or a token of nobody (401).
    #[error("unauthorized: no token or an unknown token")]
    Unknown,
    /// A known administrator without the scope (403).
    #[error("{name} may not {scope} (scopes in the token file: {has})")]
    Scope {
        /// Who asked.
        name: String,
        /// Scope needed.
        scope: &'static str,
        /// Scopes held.
        has: String,
    },
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl Admins {
    /// Reads the token file's text; errors name the line.
    pub fn parse(text: &str) -> Result<Admins, String> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if let [(_, one)] = lines.as_slice() {
            if !one.contains(char::is_whitespace) {
                return Ok(Admins {
                    admins: vec![Admin {
                        name: "shared-token".into(),
                        scopes: vec![Scope::Read, Scope::Reload, Scope::Stop],
                        hash: sha256(one.as_bytes()),
                    }],
                    shared: true,
                });
            }
        }
        let mut admins: Vec<Admin> = Vec::new();
        for (n, l) in lines {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let [name, scopes, hash] = parts.as_slice() else {
                return Err(format!(
                    "line {n}: expected `PRINCIPAL SCOPES SHA256-OF-TOKEN`"
                ));
            };
            let mut sc = Vec::new();
            for s in scopes.split(',') {
                sc.push(
                    s.parse::<Scope>().map_err(|_| {
                        format!("line {n}: unknown scope {s:?} (read, reload, stop)")
                    })?,
                );
            }
            let mut h = [0u8; 32];
            hex::decode_to_slice(hash, &mut h)
                .map_err(|_| format!("line {n}: the token hash must be 64 hex digits (SHA-256)"))?;
            if admins.iter().any(|a| a.name == *name) {
                return Err(format!("line {n}: {name} is listed twice"));
            }
            if admins.iter().any(|a| a.hash == h) {
                return Err(format!(
                    "line {n}: {name}'s token is another administrator's: one token per person"
                ));
            }
            admins.push(Admin {
                name: name.to_string(),
                scopes: sc,
                hash: h,
            });
        }
        if admins.is_empty() {
            return Err("no administrator in the token file".into());
        }
        Ok(Admins {
            admins,
            shared: false,
        })
    }

    /// Who presents `bearer` (the `Authorization: Bearer` value), if they
    /// hold `scope`. Compares hashes in constant time over every entry.
    pub fn authorize(&self, bearer: Option<&str>, scope: Scope) -> Result<&Admin, Denied> {
        let given = sha256(bearer.unwrap_or("").as_bytes());
        let mut found = None;
        for a in &self.admins {
            let diff = a.hash.iter().zip(&given).fold(0u8, |x, (p, q)| x | (p ^ q));
            if diff == 0 && bearer.is_some_and(|b| !b.is_empty()) {
                found = Some(a);
            }
        }
        let a = found.ok_or(Denied::Unknown)?;
        if a.scopes.contains(&scope) {
            Ok(a)
        } else {
            Err(Denied::Scope {
                name: a.name.clone(),
                scope: scope.into(),
                has: a
                    .scopes
                    .iter()
                    .map(|s| <&str>::from(*s))
                    .collect::<Vec<_>>()
                    .join(","),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(t: &str) -> String {
        hex::encode(sha256(t.as_bytes()))
    }

    #[test]
    fn named_admins_with_scopes() {
        let a = Admins::parse(&format!(
            "# who scopes hash\nalice@co reload,stop {}\nbob@co read {}\n",
            h("alice-secret"),
            h("bob-secret")
        ))
        .unwrap();
        assert!(!a.shared);
        assert_eq!(
            a.authorize(Some("alice-secret"), Scope::Reload)
                .unwrap()
                .name,
            "alice@co"
        );
        assert_eq!(
            a.authorize(Some("bob-secret"), Scope::Reload).unwrap_err(),
            Denied::Scope {
                name: "bob@co".into(),
                scope: "reload",
                has: "read".into()
            }
        );
        assert_eq!(a.authorize(Some("nope"), Scope::Read), Err(Denied::Unknown));
        assert_eq!(a.authorize(None, Scope::Read), Err(Denied::Unknown));
        assert_eq!(a.authorize(Some(""), Scope::Read), Err(Denied::Unknown));
    }

    #[test]
    fn shared_token_and_bad_files() {
        let a = Admins::parse("s3cret\n").unwrap();
        assert!(a.shared);
        assert_eq!(
            a.authorize(Some("s3cret"), Scope::Stop).unwrap().name,
            "shared-token"
        );
        for (text, want) in [
            (
                format!("alice@co reload {}\nalice@co stop {}", h("a"), h("b")),
                "listed twice",
            ),
            (
                format!("alice@co reload {}\nbob@co stop {}", h("a"), h("a")),
                "one token per person",
            ),
            (format!("alice@co fly {}", h("a")), "unknown scope"),
            ("alice@co reload abc".to_string(), "64 hex"),
            ("alice@co reload".to_string(), "expected"),
            ("# only a comment\n".to_string(), "no administrator"),
        ] {
            let e = Admins::parse(&text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
