//! Why a message could not be released to a restricted agency: one error
//! type for the projection, the catalogue pass and both checks, each
//! variant with its reason code (metrics label and audit detail).

use crate::message::fields::FieldId;
use crate::message::ParseError;

/// Why a message could not be redacted with certainty. The message must not
/// be forwarded to a restricted counterparty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// The message does not parse (redaction re-walks it strictly).
    #[error("cannot parse: {0}")]
    Parse(ParseError),
    /// The first pass could not remove a field with certainty.
    #[error("redaction refused: {reason}")]
    Refused {
        /// Reason code (`redact_*`).
        reason: &'static str,
        /// The field concerned.
        field: FieldId,
    },
    /// The independent check found a protected field after redaction.
    #[error("verifier found field #{} after redaction", field.0)]
    VerifierFound {
        /// The field found.
        field: FieldId,
    },
    /// The independent check could not parse the redacted output.
    #[error("verifier cannot parse the redacted output: {0}")]
    VerifierUnparseable(String),
    /// The message key is not one the profile releases.
    #[error("the release profile does not release this message key")]
    ProfileKey,
    /// The projection could not be exact (header content, references).
    #[error("projection refused: {0:?}")]
    Projection(super::xml::XmlRefusal),
    /// The positive check found something the profile does not release.
    #[error("verifier: {what}")]
    ProfileViolation {
        /// What was found.
        what: &'static str,
    },
}

impl RedactError {
    /// Stable reason code for metrics and audit.
    pub fn reason(&self) -> &'static str {
        match self {
            RedactError::Parse(p) => p.code.reason(),
            RedactError::Refused { reason, .. } => reason,
            RedactError::VerifierFound { .. } => "verifier_found",
            RedactError::VerifierUnparseable(_) => "verifier_unparseable",
            RedactError::ProfileKey => "profile_key",
            RedactError::Projection(super::xml::XmlRefusal::Syntax) => "profile_syntax",
            RedactError::Projection(super::xml::XmlRefusal::Header) => "profile_header",
            RedactError::Projection(super::xml::XmlRefusal::Reference) => "profile_reference",
            RedactError::Projection(super::xml::XmlRefusal::Count) => "profile_count",
            RedactError::Projection(super::xml::XmlRefusal::NotFixed) => "profile_not_fixed",
            RedactError::ProfileViolation { .. } => "verifier_profile",
        }
    }
}
