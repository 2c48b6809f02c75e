//! Who may change what through the admin endpoint: named administrators
//! with scopes, from `[admin] token_file`.
//!
//! The file holds one administrator per line, named either by the SHA-256
//! of a bearer token or by a TLS client certificate (`dns:` and the DNS
//! name in its subject alternative names; `[admin] tls`):
//!
//! ```text
//! # principal   scopes              token SHA-256 (hex), or dns:CERTIFICATE-NAME
//! alice@co      reload,stop         5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//! bob@co        read                a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3
//! carol@co      reload              dns:carol.admins.origuard.test
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

/// How an administrator proves who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Credential {
    /// SHA-256 of their bearer token.
    Token([u8; 32]),
    /// A DNS name (lowercase) in the subject alternative names of a client
    /// certificate verified against `[admin] tls.client_ca`.
    Cert(String),
}

/// One administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    /// Who (named in the audit log).
    pub name: String,
    /// What they may do.
    pub scopes: Vec<Scope>,
    /// Token or certificate.
    credential: Credential,
}

impl Admin {
    /// The name the audit log records: the principal, and for a
    /// certificate line the certificate's name too
    /// (`carol@co (cert dns:carol.admins.origuard.test)`).
    pub fn identity(&self) -> String {
        match &self.credential {
            Credential::Token(_) => self.name.clone(),
            Credential::Cert(dns) => format!("{} (cert dns:{dns})", self.name),
        }
    }

    fn hash(&self) -> Option<&[u8; 32]> {
        match &self.credential {
            Credential::Token(h) => Some(h),
            Credential::Cert(_) => None,
        }
    }
}

/// The DNS names in the subject alternative names of a client certificate
/// (DER), lowercase; wildcard names are left out (they name no one). Empty
/// when the certificate does not parse (it was verified by rustls first).
pub fn cert_dns_names(der: &[u8]) -> Vec<String> {
    let der = rustls::pki_types::CertificateDer::from(der);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(c) => c
            .valid_dns_names()
            .filter(|n| !n.contains('*'))
            .map(|n| n.to_ascii_lowercase())
            .collect(),
        Err(_) => Vec::new(),
    }
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

/// A token file that cannot be used; each names its line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenFileError {
    /// A line that is not three fields.
    #[error("line {0}: expected `PRINCIPAL SCOPES SHA256-OF-TOKEN` or `PRINCIPAL SCOPES dns:CERTIFICATE-NAME`")]
    Shape(usize),
    /// A scope not known.
    #[error("line {line}: unknown scope {scope:?} (read, reload, stop)")]
    UnknownScope {
        /// Line (1-based).
        line: usize,
        /// The scope given.
        scope: String,
    },
    /// One principal on two lines.
    #[error("line {line}: {name} is listed twice")]
    Twice {
        /// Line (1-based).
        line: usize,
        /// The principal.
        name: String,
    },
    /// One credential for two principals.
    #[error("line {line}: {name}'s credential is another administrator's: one token or certificate name per person")]
    SharedCredential {
        /// Line (1-based).
        line: usize,
        /// The second principal.
        name: String,
    },
    /// Nothing but comments and blank lines.
    #[error("no administrator in the token file")]
    Empty,
    /// `dns:` without a usable DNS name.
    #[error("line {line}: {credential:?}: a certificate name is `dns:` and a DNS name (letters, digits, `-`, `.`; no wildcard)")]
    CertName {
        /// Line (1-based).
        line: usize,
        /// The credential as given.
        credential: String,
    },
    /// A token hash that is not 64 hex digits.
    #[error(
        "line {0}: the token hash must be 64 hex digits (SHA-256), or dns:NAME for a certificate"
    )]
    TokenHash(usize),
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl Admins {
    /// Reads the token file's text; errors name the line.
    pub fn parse(text: &str) -> Result<Admins, TokenFileError> {
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
                        credential: Credential::Token(sha256(one.as_bytes())),
                    }],
                    shared: true,
                });
            }
        }
        let mut admins: Vec<Admin> = Vec::new();
        for (n, l) in lines {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let [name, scopes, cred] = parts.as_slice() else {
                return Err(TokenFileError::Shape(n));
            };
            let mut sc = Vec::new();
            for s in scopes.split(',') {
                sc.push(
                    s.parse::<Scope>()
                        .map_err(|_| TokenFileError::UnknownScope {
                            line: n,
                            scope: s.to_string(),
                        })?,
                );
            }
            let credential = credential(n, cred)?;
            if admins.iter().any(|a| a.name == *name) {
                return Err(TokenFileError::Twice {
                    line: n,
                    name: name.to_string(),
                });
            }
            if admins.iter().any(|a| a.credential == credential) {
                return Err(TokenFileError::SharedCredential {
                    line: n,
                    name: name.to_string(),
                });
            }
            admins.push(Admin {
                name: name.to_string(),
                scopes: sc,
                credential,
            });
        }
        if admins.is_empty() {
            return Err(TokenFileError::Empty);
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
            let Some(h) = a.hash() else { continue };
            let diff = h.iter().zip(&given).fold(0u8, |x, (p, q)| x | (p ^ q));
            if diff == 0 && bearer.is_some_and(|b| !b.is_empty()) {
                found = Some(a);
            }
        }
        found.ok_or(Denied::Unknown).and_then(|a| a.holds(scope))
    }

    /// Who a verified client certificate names (`names`: the DNS names of
    /// its subject alternative names, [`cert_dns_names`]), then the bearer
    /// token: the certificate decides when it names exactly one
    /// administrator; otherwise (no certificate, a name nobody has, or a
    /// certificate naming two administrators) the token does.
    pub fn authorize_peer(
        &self,
        names: &[String],
        bearer: Option<&str>,
        scope: Scope,
    ) -> Result<&Admin, Denied> {
        let mut by_cert = self.admins.iter().filter(
            |a| matches!(&a.credential, Credential::Cert(d) if names.iter().any(|n| n == d)),
        );
        match (by_cert.next(), by_cert.next()) {
            (Some(a), None) => a.holds(scope),
            _ => self.authorize(bearer, scope),
        }
    }
}

fn credential(n: usize, cred: &str) -> Result<Credential, TokenFileError> {
    if let Some(dns) = cred.strip_prefix("dns:") {
        let ok = !dns.is_empty()
            && dns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(TokenFileError::CertName {
                line: n,
                credential: cred.to_string(),
            });
        }
        return Ok(Credential::Cert(dns.to_ascii_lowercase()));
    }
    let mut h = [0u8; 32];
    hex::decode_to_slice(cred, &mut h).map_err(|_| TokenFileError::TokenHash(n))?;
    Ok(Credential::Token(h))
}

impl Admin {
    fn holds(&self, scope: Scope) -> Result<&Admin, Denied> {
        let a = self;
        if a.scopes.contains(&scope) {
            Ok(a)
        } else {
            Err(Denied::Scope {
                name: a.identity(),
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
    fn certificate_lines_name_administrators() {
        let a = Admins::parse(&format!(
            "alice@co reload {}\ncarol@co reload,stop dns:Carol.Admins.Test\ndave@co read dns:dave.admins.test\n",
            h("alice-secret")
        ))
        .unwrap();
        let carol = vec!["carol.admins.test".to_string()];
        let ok = a.authorize_peer(&carol, None, Scope::Stop).unwrap();
        assert_eq!(ok.identity(), "carol@co (cert dns:carol.admins.test)");
        // A certificate line is never matched by a token.
        assert_eq!(
            a.authorize(Some("dns:carol.admins.test"), Scope::Read),
            Err(Denied::Unknown)
        );
        assert_eq!(
            a.authorize_peer(&["dave.admins.test".into()], None, Scope::Reload),
            Err(Denied::Scope {
                name: "dave@co (cert dns:dave.admins.test)".into(),
                scope: "reload",
                has: "read".into()
            })
        );
        // A name nobody has, or a certificate naming two people: the token decides.
        let both = vec!["carol.admins.test".into(), "dave.admins.test".into()];
        for names in [vec!["eve.admins.test".to_string()], both] {
            assert_eq!(
                a.authorize_peer(&names, None, Scope::Read),
                Err(Denied::Unknown)
            );
            assert_eq!(
                a.authorize_peer(&names, Some("alice-secret"), Scope::Reload)
                    .unwrap()
                    .identity(),
                "alice@co"
            );
        }
        for (text, want) in [
            ("x@co reload dns:*.admins.test", "no wildcard"),
            ("x@co reload dns:", "no wildcard"),
            (
                "x@co reload dns:a.test\ny@co read dns:A.test",
                "one token or certificate name per person",
            ),
        ] {
            let e = Admins::parse(text).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn dns_names_of_a_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![
            "Carol.Admins.Test".to_string(),
            "*.admins.test".to_string(),
        ])
        .unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(cert_dns_names(cert.der()), vec!["carol.admins.test"]);
        assert!(cert_dns_names(b"not a certificate").is_empty());
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
                "one token or certificate name per person",
            ),
            (format!("alice@co fly {}", h("a")), "unknown scope"),
            ("alice@co reload abc".to_string(), "64 hex"),
            ("alice@co reload".to_string(), "expected"),
            ("# only a comment\n".to_string(), "no administrator"),
        ] {
            let e = Admins::parse(&text).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }
}
