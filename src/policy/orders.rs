//! Signed court orders: `[court_orders] dir`, one order per file, each
//! taking effect only with the OpenSSH signatures of two distinct people.
//!
//! ```text
//! orders/2026-CV-0117.toml              the order: entered_by and [exception]
//! orders/2026-CV-0117.toml.alice.sig    ssh-keygen -Y sign -n origuard-order@co
//! orders/2026-CV-0117.toml.bob.sig      (any name ORDER.toml[.*].sig)
//! ```
//!
//! A signature counts when [`crate::sign`] verifies it over the order
//! file's exact bytes, under the configured order namespace, by a key of
//! `allowed_signers` valid at the load time. Approvals are counted by
//! principal: one person's two keys or two signature files count once. The
//! signers' principals become the order's `approved_by` (an order file may
//! not write its own), `entered_by` must name a principal of
//! `allowed_signers`, and `authority.issuer` is required. Anything short is
//! an error naming what is missing, so `policy check` fails and a reload
//! is refused whole: the policy in force, and its orders, stay.
//!
//! Which signers to trust comes from the runtime's configuration
//! ([`Signing`]), never from the policy directory it protects. When it is
//! configured, orders written inline or in `court_orders.file` are refused:
//! they carry no signatures.

use super::diag::{line_of, Ctx};

/// The loader's reader (`super::file::Reader`, spelled out so that this
/// module and the file reader do not use each other).
type Reader<'a> = dyn FnMut(&str) -> std::io::Result<Vec<u8>> + 'a;
use super::legal::{self, Exception, Inputs, RawException};
use crate::sign::allowed::AllowedSigners;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use toml::Spanned;

/// How every error about one order begins, so that the runtime can audit
/// and count refused orders ([`refused`]).
pub const REFUSED: &str = "order not in force: ";

/// The errors of a refused load that refuse an order.
pub fn refused(r: &super::diag::Refused) -> impl Iterator<Item = &super::diag::Diagnostic> {
    r.errors.iter().filter(|d| d.message.starts_with(REFUSED))
}

/// Approvals an order needs: distinct principals.
pub const MIN_APPROVERS: usize = 2;

/// How court orders are signed: from the `[signing]` section of the
/// runtime configuration (or `policy check --signers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signing {
    /// Path of the OpenSSH `allowed_signers` file.
    pub allowed_signers: String,
    /// The namespace orders are signed under (`ssh-keygen -Y sign -n`),
    /// e.g. `origuard-order@co`.
    pub order_namespace: String,
    /// With `require_signed_policy`: the namespace policy manifests are
    /// signed under (`origuard-policy@co`); a policy then loads only as a
    /// signed bundle ([`super::bundle`]). None: no manifest needed.
    pub policy_namespace: Option<String>,
}

/// One approval of an order: a verified signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Approval {
    /// The signer (from `allowed_signers`).
    pub principal: String,
    /// Their key, `SHA256:...`.
    pub key: String,
    /// The signature file.
    pub signature: String,
}

/// What the signatures of an order in force say: for the audit log (who
/// entered and who approved it) and the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrderSeal {
    /// The order's id (its `[exception] id`).
    pub id: String,
    /// The order file.
    pub file: String,
    /// SHA-256 (hex) of the order file's bytes: what was signed.
    pub sha256: String,
    /// Who entered it (`entered_by`, a principal of `allowed_signers`).
    pub entered_by: String,
    /// The approvals, one per distinct principal, by principal.
    pub approvers: Vec<Approval>,
}

/// Who was trusted to sign at a load: changing `allowed_signers` is itself
/// an accountable change (audited when it differs from the load before).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SignersSeal {
    /// The file.
    pub file: String,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
    /// Its principals with their keys and namespaces, one per line of the
    /// file: `alice@co SHA256:… namespaces=origuard-order@co`.
    pub signers: Vec<String>,
}

/// The [`SignersSeal`] of the `allowed_signers` file as it reads now; None
/// when it cannot be read or parsed (the load reports that).
pub(super) fn signers_seal(read: &mut Reader<'_>, s: &Signing) -> Option<SignersSeal> {
    let bytes = read(&s.allowed_signers).ok()?;
    let parsed = AllowedSigners::parse(&String::from_utf8_lossy(&bytes)).ok()?;
    Some(SignersSeal {
        file: s.allowed_signers.clone(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        signers: parsed
            .signers
            .iter()
            .map(|x| {
                format!(
                    "{} {} namespaces={}",
                    x.principal,
                    x.fingerprint(),
                    x.namespaces.as_deref().unwrap_or("*")
                )
            })
            .collect(),
    })
}

/// An order file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrderFile {
    entered_by: Option<Spanned<String>>,
    exception: Option<RawException>,
}

/// Everything a directory load needs besides the files.
pub(super) struct DirLoad<'a, 'r> {
    pub(super) read: &'a mut Reader<'r>,
    pub(super) hasher: &'a mut Sha256,
    pub(super) inputs: &'a Inputs<'a>,
    pub(super) signing: Option<&'a Signing>,
    /// Directories listed (left out of a signed bundle's manifest).
    pub(super) dirs: &'a mut Vec<String>,
}

/// Refuses orders that were written without signatures (inline or in
/// `court_orders.file`) when signing is configured.
pub(super) fn refuse_unsigned(cx: &mut Ctx, signing: Option<&Signing>, unsigned: &[Exception]) {
    if signing.is_none() {
        return;
    }
    for e in unsigned {
        cx.err(&e.file, e.line, format!(
            "exception {}: with [signing] configured an order takes effect only from court_orders.dir with two signatures; move it to its own file there and have it signed",
            e.id
        ));
    }
}

/// Loads every order of `[court_orders] dir` (`d`, relative to `path`,
/// resolved as `dir`).
#[allow(clippy::too_many_arguments)]
pub(super) fn load_dir(
    cx: &mut Ctx,
    l: &mut DirLoad<'_, '_>,
    path: &str,
    src: &str,
    d: &Spanned<String>,
    dir: String,
    out: &mut Vec<Exception>,
    seals: &mut Vec<OrderSeal>,
) {
    let dline = line_of(src, d.span().start);
    let Some(signing) = l.signing else {
        cx.err(path, dline, "court_orders.dir holds signed orders, but no signers are configured: set [signing] allowed_signers and order_namespace in the configuration (policy check: --signers FILE --order-namespace NS)");
        return;
    };
    let signers = match read_signers(cx, l.read, &signing.allowed_signers) {
        Some(s) => s,
        None => return,
    };
    l.dirs.push(dir.clone());
    let listing = match (l.read)(&dir) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            cx.err(
                path,
                dline,
                format!("cannot list court_orders.dir {dir:?}: {e}"),
            );
            return;
        }
    };
    let mut names: Vec<&str> = listing.lines().filter(|n| !n.is_empty()).collect();
    names.sort_unstable();
    for order in names.iter().filter(|n| n.ends_with(".toml")) {
        let sigs: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| {
                n.ends_with(".sig")
                    && n.strip_prefix(*order)
                        .is_some_and(|r| r == ".sig" || r.starts_with('.'))
            })
            .collect();
        let n = cx.errors.len();
        one_order(cx, l, &signers, signing, &dir, order, &sigs, out, seals);
        for e in &mut cx.errors[n..] {
            if !e.message.starts_with(REFUSED) {
                e.message.insert_str(0, REFUSED);
            }
        }
    }
    // A signature whose order is gone is a leftover, not an error.
    for s in names.iter().filter(|n| n.ends_with(".sig")) {
        if !names
            .iter()
            .any(|o| o.ends_with(".toml") && s.starts_with(&format!("{o}.")))
        {
            cx.warn(&format!("{dir}/{s}"), 0, "signature of no order file in court_orders.dir (its order was removed or renamed?): ignored");
        }
    }
}

/// Reads and parses the `allowed_signers` file.
pub(super) fn read_signers(cx: &mut Ctx, read: &mut Reader<'_>, p: &str) -> Option<AllowedSigners> {
    let text = match read(p) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            cx.err(p, 0, format!("cannot read allowed_signers: {e}"));
            return None;
        }
    };
    match AllowedSigners::parse(&text) {
        Ok(s) => Some(s),
        Err(errs) => {
            for e in errs {
                cx.err(p, e.line, e.problem.to_string());
            }
            None
        }
    }
}

/// One order file and its signatures.
// Long: the steps of loading one signed order, in the order they must run; each refuses early.
#[allow(clippy::too_many_arguments)]
fn one_order(
    cx: &mut Ctx,
    l: &mut DirLoad<'_, '_>,
    signers: &AllowedSigners,
    signing: &Signing,
    dir: &str,
    order: &str,
    sigs: &[&str],
    out: &mut Vec<Exception>,
    seals: &mut Vec<OrderSeal>,
) {
    let full = format!("{dir}/{order}");
    let bytes = match (l.read)(&full) {
        Ok(b) => b,
        Err(e) => {
            cx.err(&full, 0, format!("cannot read order: {e}"));
            return;
        }
    };
    l.hasher.update(b"\0order\0");
    l.hasher.update((order.len() as u64).to_be_bytes());
    l.hasher.update(order.as_bytes());
    l.hasher.update((bytes.len() as u64).to_be_bytes());
    l.hasher.update(&bytes);
    // Signatures: count distinct principals, keep why the others failed.
    let mut by: BTreeMap<String, Approval> = BTreeMap::new();
    let mut refused: Vec<String> = Vec::new();
    for s in sigs {
        let sp = format!("{dir}/{s}");
        let sig = match (l.read)(&sp) {
            Ok(b) => b,
            Err(e) => {
                refused.push(format!("{s}: cannot read: {e}"));
                continue;
            }
        };
        l.hasher.update((sig.len() as u64).to_be_bytes());
        l.hasher.update(&sig);
        match signers.verify(&signing.order_namespace, &bytes, &sig, l.inputs.now) {
            Ok(v) => {
                by.entry(v.principal.clone()).or_insert(Approval {
                    principal: v.principal,
                    key: v.fingerprint,
                    signature: s.to_string(),
                });
            }
            Err(e) => refused.push(format!("{s}: {e}")),
        }
    }
    if by.len() < MIN_APPROVERS {
        let who: Vec<&str> = by.keys().map(String::as_str).collect();
        cx.err(&full, 0, format!(
            "{REFUSED}{} of {MIN_APPROVERS} approvals by distinct people (signed by: {}){}; each approver signs the file as it is: ssh-keygen -Y sign -f KEY -n {} {full} && mv {full}.sig {full}.NAME.sig",
            by.len(),
            if who.is_empty() { "nobody".to_string() } else { who.join(", ") },
            if refused.is_empty() { String::new() } else { format!("; signatures not counted: {}", refused.join("; ")) },
            signing.order_namespace,
        ));
        return;
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            cx.err(&full, 0, "order file is not UTF-8 text");
            return;
        }
    };
    let raw = match toml::from_str::<RawOrderFile>(&text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map_or(0, |s| line_of(&text, s.start));
            cx.err(&full, line, legal::scrub_toml_message(e.message()));
            return;
        }
    };
    let Some(mut ex) = raw.exception else {
        cx.err(&full, 0, "an order file holds one [exception] table");
        return;
    };
    let entered_by = match &raw.entered_by {
        Some(p) if signers.signers.iter().any(|s| s.principal == *p.get_ref()) => {
            p.get_ref().clone()
        }
        Some(p) => {
            cx.err(&full, line_of(&text, p.span().start), format!("entered_by {:?} is not a principal of allowed_signers: name the person who entered the order", p.get_ref()));
            return;
        }
        None => {
            cx.err(&full, 0, "entered_by is required: the principal (allowed_signers) of the person who entered the order");
            return;
        }
    };
    if let Some(a) = ex.approved_by_mut().first() {
        cx.err(&full, line_of(&text, a.span().start), "approved_by is not written in a signed order: its approvers are the principals whose signatures are beside it");
        return;
    }
    *ex.approved_by_mut() = by.keys().map(|p| Spanned::new(0..0, p.clone())).collect();
    let before = out.len();
    legal::exceptions(cx, &full, &text, std::slice::from_ref(&ex), l.inputs, out);
    if out.len() == before {
        return;
    }
    let id = out.last().map_or_else(String::new, |e| e.id.to_string());
    seals.push(OrderSeal {
        id,
        file: full,
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
        entered_by,
        approvers: by.into_values().collect(),
    });
}
