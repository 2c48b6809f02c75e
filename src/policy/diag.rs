//! Diagnostics of a policy file: located errors and warnings, and the small
//! helpers the policy and profile readers share to produce them.

use crate::message::keys::{KeySet, KEYS};
use std::fmt;
use toml::Spanned;

/// Severity of a diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    /// The policy is refused.
    Error,
    /// Legal but suspicious.
    Warning,
}

/// One problem, located.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// File the problem is in.
    pub file: String,
    /// 1-based line (0 when the file as a whole is concerned).
    pub line: u32,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev: &'static str = self.severity.into();
        if self.line > 0 {
            write!(f, "{}:{}: {sev}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {sev}: {}", self.file, self.message)
        }
    }
}

/// Why a policy was refused: every error (and the warnings seen so far).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Errors (at least one).
    pub errors: Vec<Diagnostic>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

pub(super) struct Ctx {
    pub(super) errors: Vec<Diagnostic>,
    pub(super) warnings: Vec<Diagnostic>,
}

impl Ctx {
    pub(super) fn err(&mut self, file: &str, line: u32, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            file: file.into(),
            line,
            severity: Severity::Error,
            message: message.into(),
        });
    }

    pub(super) fn warn(&mut self, file: &str, line: u32, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            file: file.into(),
            line,
            severity: Severity::Warning,
            message: message.into(),
        });
    }
}

/// Reads message keys into a set; an unknown key is an error at its line.
pub(super) fn key_set<'a>(
    cx: &mut Ctx,
    path: &str,
    src: &str,
    keys: impl Iterator<Item = &'a Spanned<String>>,
) -> KeySet {
    let mut s = KeySet::default();
    for k in keys {
        if !s.insert(k.get_ref()) {
            let known: Vec<&str> = KEYS.iter().map(|k| k.key).collect();
            cx.err(
                path,
                line_of(src, k.span().start),
                format!(
                    "unknown message key {:?} (known: {})",
                    k.get_ref(),
                    known.join(", ")
                ),
            );
        }
    }
    s
}

/// 1-based line of a byte offset.
pub(super) fn line_of(src: &str, offset: usize) -> u32 {
    1 + src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u32
}
