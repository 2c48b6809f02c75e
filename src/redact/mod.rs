//! Redaction: what a redact-listed agency receives.
//!
//! [`release`] is the positive model: the message is projected onto a
//! release profile ([`profile`]; [`legacy`] and [`xml`] do the projection),
//! then the catalogue of known protected fields removes anything it still
//! recognises (a second line, [`redact`]), then two independent checks run
//! on the output itself: every element, attribute, label and value is one
//! the profile releases ([`verify::check_profile`]), and no catalogue field
//! is left ([`verify::check`]). Any doubt refuses the message.
//!
//! The catalogue pass ([`crate::message::xml::walk`] for XML,
//! [`crate::message::text::redact`] for legacy bodies) copies the untouched
//! byte spans around what it removes; nothing else is re-serialised. A second,
//! independent check ([`verify`]) — a different XML parser (roxmltree) and a
//! different text matcher — then confirms that no protected field remains.
//! If it finds one, or cannot parse the output, the message is refused: the
//! caller must not forward it.

pub mod error;
pub mod image;
pub mod legacy;
pub mod persons;
pub mod profile;
pub mod verify;
pub mod xml;

use crate::message::fields::{Catalogue, FieldSet};
use crate::message::xml::{self as msgxml, Failure, Refusal};
use crate::message::{text, Format, Limits, Message};
use bytes::Bytes;
pub use error::RedactError;

/// A successfully redacted message.
#[derive(Clone, Debug)]
pub struct Redacted {
    /// The bytes to forward: the very same `Bytes` when nothing was removed.
    pub bytes: Bytes,
    /// Fields actually removed.
    pub removed: FieldSet,
}

fn refused(r: Refusal) -> RedactError {
    let (reason, field) = match r {
        Refusal::Lookalike(f) => ("redact_lookalike", f),
        Refusal::InAttribute(f) => ("redact_in_attribute", f),
        Refusal::Marker(f) => ("redact_marker", f),
        Refusal::NoFixpoint(f) => ("redact_no_fixpoint", f),
        Refusal::EmptyValue(f) => ("redact_empty_value", f),
        Refusal::InComment(f) => ("redact_in_comment", f),
    };
    RedactError::Refused { reason, field }
}

/// Removes `fields` from `msg`. Returns the same bytes when none is present.
/// Every output (changed or not) has passed the independent [`verify`] check.
pub fn redact(
    msg: &Message,
    cat: &Catalogue,
    fields: FieldSet,
    limits: &Limits,
) -> Result<Redacted, RedactError> {
    if fields.is_empty() {
        return Ok(Redacted {
            bytes: msg.raw.clone(),
            removed: FieldSet::EMPTY,
        });
    }
    let raw = &msg.raw;
    let (bytes, removed) = match msg.format {
        Format::Legacy => {
            let body = &raw[msg.body_offset..];
            if text::find(cat, fields, body, 0).is_none() {
                if let Some(f) = text::markers(cat, fields, body).iter().next() {
                    return Err(refused(Refusal::Marker(f)));
                }
                (raw.clone(), FieldSet::EMPTY)
            } else {
                let mut out = Vec::with_capacity(raw.len());
                out.extend_from_slice(&raw[..msg.body_offset]);
                let removed = text::redact(cat, fields, body, &mut out).map_err(|e| match e {
                    text::TextRefusal::Marker(f) => refused(Refusal::Marker(f)),
                    text::TextRefusal::NoFixpoint(f) => refused(Refusal::NoFixpoint(f)),
                    text::TextRefusal::EmptyValue(f) => refused(Refusal::EmptyValue(f)),
                })?;
                (Bytes::from(out), removed)
            }
        }
        Format::Xml => {
            let mut out = Vec::new();
            let w =
                msgxml::walk(raw, cat, limits, fields, Some(&mut out)).map_err(|e| match e {
                    Failure::Parse(p) => RedactError::Parse(p),
                    Failure::Refuse(r) => refused(r),
                })?;
            if w.changed {
                (Bytes::from(out), w.removed)
            } else {
                (raw.clone(), FieldSet::EMPTY)
            }
        }
    };
    verify::check(&bytes, msg.format, cat, fields)?;
    Ok(Redacted { bytes, removed })
}

/// What a redact-listed agency receives: `msg` projected onto `profile`,
/// then the catalogue `fields` removed, then both checks on the output.
pub fn release(
    msg: &Message,
    profile: &profile::Profile,
    cat: &Catalogue,
    fields: FieldSet,
    limits: &Limits,
) -> Result<Redacted, RedactError> {
    release_all(msg, &[profile], cat, fields, limits)
}

/// What a message to several restricted agencies carries: projected onto
/// each of their profiles in turn (so only what every one releases is
/// left), the union of their catalogue `fields` removed, and every check
/// run against every profile. The output is re-emitted: a fixed point of
/// every projection, holding no byte of the input's layout.
pub fn release_all(
    msg: &Message,
    profiles: &[&profile::Profile],
    cat: &Catalogue,
    fields: FieldSet,
    limits: &Limits,
) -> Result<Redacted, RedactError> {
    if profiles.iter().any(|p| !p.keys.contains(msg.mke.as_str())) {
        return Err(RedactError::ProfileKey);
    }
    let reparse = |b: Vec<u8>| {
        crate::message::parse(Bytes::from(b), cat, limits)
            .map_err(|e| RedactError::VerifierUnparseable(e.to_string()))
    };
    let mut m = reparse(project_once(msg, profiles[0])?)?;
    for p in &profiles[1..] {
        m = reparse(project_once(&m, p)?)?;
    }
    let mut removed = msg.found.intersect(fields);
    if !m.found.intersect(fields).is_empty() {
        // The catalogue still sees a protected field: cut it, then write
        // what is left again.
        let second = redact(&m, cat, fields, limits)?;
        removed = removed.union(second.removed);
        m = crate::message::parse(second.bytes, cat, limits)
            .map_err(|e| RedactError::VerifierUnparseable(e.to_string()))?;
        for p in profiles {
            m = reparse(project_once(&m, p)?)?;
        }
    }
    // Read again, the output gives itself back under every profile.
    for p in profiles {
        if project_once(&m, p)? != m.raw[..] {
            return Err(RedactError::Projection(xml::XmlRefusal::NotFixed));
        }
        verify::check_both(&m.raw, m.format, m.body_offset, cat, fields, p)?;
    }
    Ok(Redacted {
        removed,
        bytes: m.raw,
    })
}

/// `msg` projected onto `profile` and written again from what it released.
pub fn project_once(msg: &Message, profile: &profile::Profile) -> Result<Vec<u8>, RedactError> {
    // The control field is the requester's routing, written again: to a
    // restricted agency it may hold letters and digits only (so that it is
    // written and read back the same in either format: the fuzz target
    // `projection_fixed_point` found `&` in a CDATA control field read back
    // differently).
    if msg
        .control
        .is_some_and(|c| !c.as_bytes().iter().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(RedactError::Projection(xml::XmlRefusal::Header));
    }
    let raw = &msg.raw;
    let mut out = Vec::with_capacity(raw.len().min(16 * 1024));
    let h = msg.header();
    match msg.format {
        Format::Legacy => {
            legacy_header(&h, &mut out);
            legacy::project(&raw[msg.body_offset..], &profile.legacy, &mut out)
                .map_err(|_| RedactError::Projection(xml::XmlRefusal::Count))?;
        }
        Format::Xml => {
            xml::project(raw, &h, profile, &mut out).map_err(RedactError::Projection)?;
        }
    }
    Ok(out)
}

/// A legacy header written from its parsed routing, in the input form:
/// `MKE.ORIGIN.DEST[,DEST...][.*CONTROL].TXT`.
pub fn legacy_header(h: &crate::message::Header, out: &mut Vec<u8>) {
    out.extend_from_slice(h.mke.as_str().as_bytes());
    out.push(b'.');
    out.extend_from_slice(h.originating.as_bytes());
    for (i, d) in h.dests.as_slice().iter().enumerate() {
        out.push(if i == 0 { b'.' } else { b',' });
        out.extend_from_slice(d.as_bytes());
    }
    if let Some(c) = h.control {
        out.extend_from_slice(b".*");
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(b".TXT");
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod adversarial_tests;
