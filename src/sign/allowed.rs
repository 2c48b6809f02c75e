//! The OpenSSH `allowed_signers` file (ssh-keygen(1), "ALLOWED SIGNERS"):
//! who may sign, with which key, under which namespaces, and when.
//!
//! One line per key: `PRINCIPAL [OPTIONS] KEYTYPE BASE64 [COMMENT]`, with the
//! options `namespaces="PATTERNS"`, `valid-after="TIME"` and
//! `valid-before="TIME"` (TIME is `YYYYMMDD[HHMM[SS]]`, optionally ending in
//! `Z`). origuard reads the same file `ssh-keygen -Y verify` reads, with three
//! stricter rules, each refused with its line: a line names **one** exact
//! principal (no `a,b` list, no `*`/`?`/`!` pattern), because an approval is
//! counted per person; `cert-authority` lines are refused (list each person's
//! own key); and one key may not be listed under two principals (one person
//! could otherwise count twice). Times without `Z` are read as UTC, where
//! ssh-keygen reads them in the local time zone: write the `Z`.
//!
//! Pure: text in, a value out.

use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey};

/// One signer line, parsed.
#[derive(Clone, Debug)]
pub struct Signer {
    /// The person (`alice@co.example`): what an approval is counted by.
    pub principal: String,
    /// Their public key.
    pub key: KeyData,
    /// `namespaces="..."`: the OpenSSH pattern list the signature's
    /// namespace must match; None allows every namespace.
    pub namespaces: Option<String>,
    /// `valid-after`: first second (Unix time) the key may be used.
    pub valid_after: Option<u64>,
    /// `valid-before`: last second (Unix time, inclusive) it may be used.
    pub valid_before: Option<u64>,
    /// Line in the file (1-based), for messages.
    pub line: u32,
}

impl Signer {
    /// The key's SHA-256 fingerprint as ssh-keygen prints it (`SHA256:...`).
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// An `allowed_signers` file, parsed.
#[derive(Clone, Debug, Default)]
pub struct AllowedSigners {
    /// The lines, in file order.
    pub signers: Vec<Signer>,
}

/// A line of the file that cannot be used, with why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct LineError {
    /// Line (1-based).
    pub line: u32,
    /// What is wrong and what to write instead.
    pub problem: LineProblem,
}

/// What is wrong with one line of the file, and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Nothing on the line.
    #[error("empty line")]
    Empty,
    /// The principal is a list, pattern or negation.
    #[error("principal {0:?} must be one exact name (no list, pattern or negation): approvals are counted per person")]
    NotOnePrincipal(String),
    /// The line stops after the principal.
    #[error("no key after the principal")]
    NoKey,
    /// The line stops after the options.
    #[error("no key after the options")]
    NoKeyAfterOptions,
    /// The line stops after the key type.
    #[error("no base64 key after the key type")]
    NoBase64,
    /// The key does not parse.
    #[error("cannot read the {keytype} key: {reason}")]
    BadKey {
        /// The key type given.
        keytype: String,
        /// The parser's reason.
        reason: String,
    },
    /// `name=value` without double quotes.
    #[error("option {0}: the value must be in double quotes")]
    Unquoted(String),
    /// `name="value` without the closing quote.
    #[error("option {0}: missing closing quote")]
    Unclosed(String),
    /// Something other than `,` after an option.
    #[error("options: expected ',' after {0}")]
    NoComma(String),
    /// A `cert-authority` line.
    #[error("cert-authority lines are not accepted: list each signer's own key, one principal per person")]
    CertAuthority,
    /// An option given twice.
    #[error("option {0} is given twice")]
    Twice(String),
    /// An option that needs a value has none.
    #[error("option {0} needs a value: {0}=\"...\"")]
    NoValue(String),
    /// An option not known.
    #[error("unknown option {0:?} (known: namespaces, valid-after, valid-before)")]
    UnknownOption(String),
    /// A `valid-after` or `valid-before` time that does not read.
    #[error("{option}: {source}")]
    Time {
        /// `valid-after` or `valid-before`.
        option: &'static str,
        /// Why.
        source: TimeError,
    },
    /// The key is already listed for another principal.
    #[error("key {fingerprint} is already listed for {principal:?} (line {line}); one key belongs to one person")]
    KeyTwice {
        /// The key's fingerprint.
        fingerprint: String,
        /// The principal it is listed for first.
        principal: String,
        /// That line.
        line: u32,
    },
}

/// An OpenSSH time (`valid-after`, `valid-before`) that does not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not one of the three digit forms.
    #[error("{0:?} is not YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS (with Z for UTC)")]
    Form(String),
    /// Digits that are not a date and time.
    #[error("{value:?}: {reason}")]
    Invalid {
        /// The time given.
        value: String,
        /// Why.
        reason: String,
    },
    /// Before the Unix epoch.
    #[error("{0:?} is before 1970")]
    Before1970(String),
    /// The epoch itself.
    #[error("{0:?} is the epoch")]
    Epoch(String),
}

impl AllowedSigners {
    /// Parses the file's text; every bad line is reported, and any bad line
    /// refuses the whole file (a half-read list of signers is not used).
    pub fn parse(text: &str) -> Result<Self, Vec<LineError>> {
        let mut signers: Vec<Signer> = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            match parse_line(t, line) {
                Ok(s) => {
                    if let Some(o) = signers
                        .iter()
                        .find(|o| o.key == s.key && o.principal != s.principal)
                    {
                        errors.push(LineError {
                            line,
                            problem: LineProblem::KeyTwice {
                                fingerprint: s.fingerprint(),
                                principal: o.principal.clone(),
                                line: o.line,
                            },
                        });
                    } else {
                        signers.push(s);
                    }
                }
                Err(problem) => errors.push(LineError { line, problem }),
            }
        }
        if errors.is_empty() {
            Ok(AllowedSigners { signers })
        } else {
            Err(errors)
        }
    }
}

/// Splits off the first token: a `"quoted"` string or a run up to blank;
/// within an options token, quotes may hold blanks and commas.
fn token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Some((&s[..i], &s[i..])),
            _ => {}
        }
    }
    Some((s, ""))
}

fn parse_line(t: &str, line: u32) -> Result<Signer, LineProblem> {
    let (principals, rest) = token(t).ok_or(LineProblem::Empty)?;
    let principal = principals.trim_matches('"');
    if principal.is_empty()
        || principal.contains([',', '*', '?', '!', '"'])
        || principal
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(LineProblem::NotOnePrincipal(principals.to_string()));
    }
    let (next, after) = token(rest).ok_or(LineProblem::NoKey)?;
    let (options, keytype, rest) = if is_key_type(next) {
        (None, next, after)
    } else {
        let (kt, r) = token(after).ok_or(LineProblem::NoKeyAfterOptions)?;
        (Some(next), kt, r)
    };
    let (b64, _comment) = token(rest).ok_or(LineProblem::NoBase64)?;
    let key = PublicKey::from_openssh(&format!("{keytype} {b64}"))
        .map_err(|e| LineProblem::BadKey {
            keytype: keytype.to_string(),
            reason: e.to_string(),
        })?
        .key_data()
        .clone();
    let mut s = Signer {
        principal: principal.to_string(),
        key,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        line,
    };
    if let Some(opts) = options {
        parse_options(opts, &mut s)?;
    }
    Ok(s)
}

fn is_key_type(t: &str) -> bool {
    t.starts_with("ssh-")
        || t.starts_with("ecdsa-")
        || t.starts_with("sk-")
        || t.starts_with("rsa-")
}

/// The options field: `name` or `name="value"`, comma separated.
fn parse_options(opts: &str, s: &mut Signer) -> Result<(), LineProblem> {
    let mut rest = opts;
    while !rest.is_empty() {
        let name_end = rest.find(['=', ',']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = r
                .strip_prefix('"')
                .ok_or_else(|| LineProblem::Unquoted(name.to_string()))?;
            let end = r
                .find('"')
                .ok_or_else(|| LineProblem::Unclosed(name.to_string()))?;
            rest = &r[end + 1..];
            Some(&r[..end])
        } else {
            None
        };
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.is_empty() {
            return Err(LineProblem::NoComma(name.to_string()));
        }
        match (name.to_ascii_lowercase().as_str(), value) {
            ("cert-authority", _) => return Err(LineProblem::CertAuthority),
            ("namespaces", Some(v)) if s.namespaces.is_none() => s.namespaces = Some(v.to_string()),
            ("valid-after", Some(v)) if s.valid_after.is_none() => {
                s.valid_after = Some(parse_ssh_time(v).map_err(|source| LineProblem::Time {
                    option: "valid-after",
                    source,
                })?)
            }
            ("valid-before", Some(v)) if s.valid_before.is_none() => {
                s.valid_before = Some(parse_ssh_time(v).map_err(|source| LineProblem::Time {
                    option: "valid-before",
                    source,
                })?)
            }
            ("namespaces" | "valid-after" | "valid-before", Some(_)) => {
                return Err(LineProblem::Twice(name.to_string()))
            }
            ("namespaces" | "valid-after" | "valid-before", None) => {
                return Err(LineProblem::NoValue(name.to_string()))
            }
            _ => return Err(LineProblem::UnknownOption(name.to_string())),
        }
    }
    Ok(())
}

/// Reads an OpenSSH absolute time, `YYYYMMDD[HHMM[SS]][Z]`, as UTC seconds.
pub fn parse_ssh_time(v: &str) -> Result<u64, TimeError> {
    let digits = v
        .strip_suffix('Z')
        .or_else(|| v.strip_suffix('z'))
        .unwrap_or(v);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(TimeError::Form(v.to_string()));
    }
    let f = |a: usize, b: usize| &digits[a.min(digits.len())..b.min(digits.len())];
    let hh = if digits.len() > 8 { f(8, 10) } else { "00" };
    let mm = if digits.len() > 8 { f(10, 12) } else { "00" };
    let ss = if digits.len() > 12 { f(12, 14) } else { "00" };
    let rfc = format!("{}-{}-{}T{hh}:{mm}:{ss}Z", f(0, 4), f(4, 6), f(6, 8));
    let t = humantime::parse_rfc3339(&rfc).map_err(|e| TimeError::Invalid {
        value: v.to_string(),
        reason: e.to_string(),
    })?;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| TimeError::Before1970(v.to_string()))?
        .as_secs();
    if secs == 0 {
        return Err(TimeError::Epoch(v.to_string()));
    }
    Ok(secs)
}

/// OpenSSH `match_pattern`: `*` any run, `?` any one character.
pub fn match_pattern(s: &str, pat: &str) -> bool {
    let (s, p) = (s.as_bytes(), pat.as_bytes());
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while i < s.len() {
        if j < p.len() && (p[j] == b'?' || p[j] == s[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == b'*' {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(st) = star {
            j = st + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while j < p.len() && p[j] == b'*' {
        j += 1;
    }
    j == p.len()
}

/// OpenSSH `match_pattern_list`: true when `s` matches a pattern of the
/// comma-separated list and no `!`-negated one.
pub fn match_pattern_list(s: &str, list: &str) -> bool {
    let mut positive = false;
    for sub in list.split(',') {
        let (neg, pat) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        if match_pattern(s, pat) {
            if neg {
                return false;
            }
            positive = true;
        }
    }
    positive
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFcFjyz1lx8PZBB2txjvFqYAcMqAZZEzZOzruWs69+uC";
    const KEY2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcmX4GAFJqlFb2StYaIQxFnpDGwhTJSANxKBC7mg2Pw";

    #[test]
    fn reads_principal_options_and_key() {
        let a = AllowedSigners::parse(&format!(
            "# comment\n\nalice@co namespaces=\"origuard-order@co,origuard-policy@co\",valid-after=\"20260101\",valid-before=\"20261231235959Z\" {KEY} alice laptop\n\"bob@co\" {KEY2}\n"
        ))
        .unwrap();
        assert_eq!(a.signers.len(), 2);
        let s = &a.signers[0];
        assert_eq!(s.principal, "alice@co");
        assert_eq!(s.line, 3);
        assert_eq!(
            s.namespaces.as_deref(),
            Some("origuard-order@co,origuard-policy@co")
        );
        assert_eq!(s.valid_after, Some(1_767_225_600));
        assert_eq!(s.valid_before, Some(1_798_761_599));
        assert_eq!(a.signers[1].principal, "bob@co");
        assert!(a.signers[1].namespaces.is_none());
    }

    #[test]
    fn refuses_lists_patterns_cert_authority_and_shared_keys() {
        for (text, want) in [
            (format!("alice@co,bob@co {KEY}"), "one exact name"),
            (format!("*@co {KEY}"), "one exact name"),
            (format!("alice@co cert-authority {KEY}"), "cert-authority"),
            (format!("alice@co namespaces=x {KEY}"), "double quotes"),
            (format!("alice@co valid-before=\"2026\" {KEY}"), "YYYYMMDD"),
            (format!("alice@co frobnicate {KEY}"), "unknown option"),
            (format!("alice@co {KEY}\nbob@co {KEY}"), "already listed"),
            ("alice@co ssh-ed25519 AAAA".to_string(), "cannot read"),
        ] {
            let e = AllowedSigners::parse(&text).unwrap_err();
            assert!(e[0].problem.to_string().contains(want), "{text}: {e:?}");
        }
        // The same person may list one key twice (for two namespaces).
        let two = format!("alice@co namespaces=\"a\" {KEY}\nalice@co namespaces=\"b\" {KEY}");
        assert_eq!(AllowedSigners::parse(&two).unwrap().signers.len(), 2);
    }

    #[test]
    fn patterns_follow_openssh() {
        assert!(match_pattern("origuard-order@co", "origuard-*@co"));
        assert!(match_pattern("ab", "a?"));
        assert!(!match_pattern("abc", "a?"));
        assert!(match_pattern("", "*"));
        assert!(match_pattern_list("x@co", "y@co,x@co"));
        assert!(!match_pattern_list("x@co", "*@co,!x@co"));
        assert!(!match_pattern_list("x@co", "!y@co"));
    }
}
