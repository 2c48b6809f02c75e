//! The policy file (TOML) and its list files: reading, validation with
//! `file:line` diagnostics, and compilation into a [`Policy`].
//!
//! Pure: file contents arrive through a reader function, so the same code
//! serves the CLI, the runtime store and the tests. A policy is validated
//! whole; every error is reported at once; nothing partial is ever returned.

use super::entry::{Entry, Kind};
use super::{Action, DenyMode, EntryInfo, KeySet, List, OnError, Policy, DEFAULT_DECLINE_TEXT};
use crate::message::fields::{Catalogue, FieldDef, FieldSet, TextRule, TextRuleKind, XmlName};
use crate::message::tiny::Tiny;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io;
use std::sync::Arc;
use toml::Spanned;

use super::diag::{key_set, line_of, Ctx};
pub use super::diag::{Diagnostic, Refused, Severity};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    description: Option<String>,
    default: Option<Spanned<String>>,
    on_parse_error: Option<Spanned<String>>,
    on_unknown_ori: Option<Spanned<String>>,
    #[serde(default)]
    redact: RawRedact,
    #[serde(default)]
    deny: RawDeny,
    #[serde(default)]
    list: Vec<RawList>,
    #[serde(default)]
    field: Vec<RawField>,
    #[serde(default)]
    profile: Vec<super::profiles::RawProfile>,
    #[serde(default)]
    exception: Vec<super::legal::RawException>,
    #[serde(default)]
    certification: Vec<super::legal::RawCertification>,
    #[serde(default)]
    court_orders: super::legal::RawCourtOrders,
    #[serde(default)]
    federal: RawFederal,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFederal {
    #[serde(default)]
    watch: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRedact {
    keys: Option<Spanned<Vec<String>>>,
    exempt: Option<Vec<Spanned<String>>>,
    fields: Option<Vec<Spanned<String>>>,
    profile: Option<Spanned<String>>,
    origins: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDeny {
    keys: Option<Spanned<Vec<String>>>,
    exempt: Option<Vec<Spanned<String>>>,
    inbound_query: Option<Spanned<String>>,
    outbound_response: Option<Spanned<String>>,
    reply_text: Option<Spanned<String>>,
    reply_ori: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    name: Spanned<String>,
    action: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    entries: Vec<Spanned<String>>,
    #[serde(default)]
    files: Vec<Spanned<String>>,
    profile: Option<Spanned<String>>,
    exempt: Option<Vec<Spanned<String>>>,
    fields: Option<Vec<Spanned<String>>>,
    keys: Option<Vec<Spanned<String>>>,
    require_reason: Option<bool>,
    deny_reasons: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    #[serde(default)]
    xml: Vec<Spanned<String>>,
    #[serde(default)]
    text_fields: Vec<Spanned<String>>,
    #[serde(default)]
    text_labels: Vec<Spanned<String>>,
    #[serde(default)]
    markers: Vec<Spanned<String>>,
}

/// Reads a file by path (relative paths are already resolved against the
/// policy file's directory).
pub type Reader<'a> = dyn FnMut(&str) -> io::Result<Vec<u8>> + 'a;

/// Resolves `rel` against the directory of `base`.
pub fn resolve(base: &str, rel: &str) -> String {
    let p = std::path::Path::new(rel);
    if p.is_absolute() {
        return rel.to_string();
    }
    match std::path::Path::new(base).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(p).to_string_lossy().into_owned(),
        _ => rel.to_string(),
    }
}

fn parse_action(s: &str) -> Option<Action> {
    match s {
        "deny" => Some(Action::Deny),
        "redact" => Some(Action::Redact),
        "allow" => Some(Action::Allow),
        _ => None,
    }
}

/// Loads, validates and compiles a policy from `path`, reading files with
/// `read`: one pass of independent checks over the file, in file order
/// (settings, lists, legal process), collecting every error before anything
/// is refused.
pub fn load(path: &str, read: &mut Reader<'_>) -> Result<Policy, Refused> {
    load_at(path, read, std::time::SystemTime::now())
}

/// [`load`] with the time expiry warnings are computed against.
pub fn load_at(
    path: &str,
    read: &mut Reader<'_>,
    now: std::time::SystemTime,
) -> Result<Policy, Refused> {
    load_signed(path, read, now, None)
}

/// [`load_at`] with the signers of court orders (`[signing]` of the
/// configuration): `court_orders.dir` needs them, and with them orders
/// outside it are refused ([`super::orders`]).
pub fn load_signed(
    path: &str,
    read: &mut Reader<'_>,
    now: std::time::SystemTime,
    signing: Option<&super::orders::Signing>,
) -> Result<Policy, Refused> {
    let mut p = load_bundle(path, read, now, signing)?;
    p.signers = signing.and_then(|s| super::orders::signers_seal(read, s));
    Ok(p)
}

/// [`load_signed`] without the record of the signers in force.
fn load_bundle(
    path: &str,
    read: &mut Reader<'_>,
    now: std::time::SystemTime,
    signing: Option<&super::orders::Signing>,
) -> Result<Policy, Refused> {
    let (Some(s), Some(ns)) = (signing, signing.and_then(|s| s.policy_namespace.as_deref())) else {
        return load_inner(path, read, now, signing, &mut Vec::new());
    };
    // A signed bundle: record every file read, then hold them against the
    // manifest (directories and allowed_signers are not in it).
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    let mut dirs = Vec::new();
    let result = {
        let mut rec = |p: &str| {
            let r = read(p);
            if let Ok(b) = &r {
                seen.push((p.to_string(), b.clone()));
            }
            r
        };
        load_inner(path, &mut rec, now, signing, &mut dirs)
    };
    seen.retain(|(p, _)| *p != s.allowed_signers && !dirs.contains(p));
    let mut cx = Ctx {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let signers = super::orders::read_signers(&mut cx, read, &s.allowed_signers);
    let mpath = super::bundle::manifest_path(path);
    let check = super::bundle::Check {
        policy: path,
        manifest: read(&mpath).ok(),
        sig: read(&format!("{mpath}.sig")).ok(),
        signers,
        namespace: ns,
        now,
    };
    let manifest = super::bundle::check(&mut cx, check, &seen);
    match result {
        Ok(mut p) if cx.errors.is_empty() => {
            p.manifest = manifest;
            Ok(p)
        }
        Ok(p) => Err(Refused {
            errors: cx.errors,
            warnings: p.warnings,
        }),
        Err(mut r) => {
            r.errors.extend(cx.errors);
            Err(r)
        }
    }
}

/// The policy file being read: its path (for diagnostics and relative
/// paths) and its text (for line numbers).
#[derive(Clone, Copy)]
struct Src<'a> {
    path: &'a str,
    text: &'a str,
}

impl Src<'_> {
    /// The line of a TOML span's start.
    fn line(&self, span: std::ops::Range<usize>) -> u32 {
        line_of(self.text, span.start)
    }
}

/// The settings above the lists: what applies when no entry matches, what
/// deny and redact exempt and release, and how a deny answers.
struct Settings {
    default: Action,
    on_parse_error: OnError,
    on_unknown_ori: OnError,
    catalogue: Catalogue,
    deny_exempt: KeySet,
    redact_exempt: KeySet,
    redact_fields: FieldSet,
    redact_origins: Vec<String>,
    profiles: Vec<crate::redact::profile::Profile>,
    default_profile: usize,
    deny_inbound_query: DenyMode,
    deny_outbound_response: DenyMode,
    decline_text: String,
    reply_ori: Option<crate::message::Ori>,
}

/// The legal process of a policy: court-order exceptions (inline, in their
/// file and in their directory), certifications and the federal watch.
struct Legal {
    exceptions: Vec<super::legal::Exception>,
    order_seals: Vec<super::orders::OrderSeal>,
    court_order_window: std::time::Duration,
    certifications: Vec<super::legal::Certification>,
    federal: Vec<Entry>,
}

/// What the reader is asked for, besides the policy file itself.
struct Reading<'r, 'a> {
    read: &'r mut Reader<'a>,
    hasher: Sha256,
}

/// The load itself, step by step; `dirs` gets the directories listed (not
/// files). Every step adds what is wrong to `cx`, so all the errors of a
/// policy are reported at once; nothing partial is returned.
fn load_inner(
    path: &str,
    read: &mut Reader<'_>,
    now: std::time::SystemTime,
    signing: Option<&super::orders::Signing>,
    dirs: &mut Vec<String>,
) -> Result<Policy, Refused> {
    let mut cx = Ctx {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let (mut rd, text) = match source(&mut cx, path, read) {
        Some(r) => r,
        None => return Err(refused(cx)),
    };
    let src = Src { path, text: &text };
    let raw: RawPolicy = match toml::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map_or(0, |s| src.line(s));
            cx.err(path, line, super::legal::scrub_toml_message(e.message()));
            return Err(refused(cx));
        }
    };
    let _ = &raw.description;
    let settings = settings(&mut cx, src, &raw);
    let (lists, entries) = lists(&mut cx, &mut rd, src, &raw.list, &settings);
    warnings(&mut cx, &lists, &entries);
    let legal = legal(
        &mut cx,
        &mut rd,
        src,
        &raw,
        &settings,
        &lists,
        now,
        (signing, dirs),
    );
    if !cx.errors.is_empty() {
        return Err(refused(cx));
    }
    let version = hex::encode(rd.hasher.finalize());
    let policy = assemble(path, version, settings, lists, entries, legal, cx.warnings).compile();
    after_compile(policy)
}

/// Refuses with what `cx` holds.
fn refused(cx: Ctx) -> Refused {
    Refused {
        errors: cx.errors,
        warnings: cx.warnings,
    }
}

/// Reads the policy file as UTF-8 text and starts the version hash over its
/// bytes (the list and order files read later are hashed after them).
fn source<'r, 'a>(
    cx: &mut Ctx,
    path: &str,
    read: &'r mut Reader<'a>,
) -> Option<(Reading<'r, 'a>, String)> {
    let bytes = match read(path) {
        Ok(b) => b,
        Err(e) => {
            cx.err(path, 0, format!("cannot read the policy file: {e}"));
            return None;
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(b"origuard-policy-v1\0");
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(&bytes);
    match String::from_utf8(bytes) {
        Ok(s) => Some((Reading { read, hasher }, s)),
        Err(e) => {
            cx.err(path, 0, format!("not UTF-8 text: {e}"));
            None
        }
    }
}

/// The top-level settings, in file order.
fn settings(cx: &mut Ctx, src: Src<'_>, raw: &RawPolicy) -> Settings {
    let default = default_action(cx, src, &raw.default);
    let on_parse_error = on_error(cx, src, &raw.on_parse_error, "on_parse_error");
    let on_unknown_ori = on_error(cx, src, &raw.on_unknown_ori, "on_unknown_ori");
    // Extra protected fields.
    let catalogue = extra_fields(cx, src.path, src.text, &raw.field);
    // Exemptions (deny and redact govern every key otherwise).
    for (what, k) in [("deny", &raw.deny.keys), ("redact", &raw.redact.keys)] {
        if let Some(k) = k {
            cx.err(
                src.path,
                src.line(k.span()),
                format!("{what}.keys is no longer supported: {what} covers every message key, unknown keys included; name keys it must not govern in {what}.exempt (or a list's exempt)"),
            );
        }
    }
    let deny_exempt = exempt(cx, src, &raw.deny.exempt);
    let redact_exempt = exempt(cx, src, &raw.redact.exempt);
    let redact_fields = redact_fields(cx, src, &catalogue, &raw.redact.fields);
    let profiles = super::profiles::load(&raw.profile, cx, src.path, src.text);
    let default_profile = profile_index(cx, src, &profiles, &raw.redact.profile, 0);
    let redact_origins = origins(cx, src.path, src.text, &raw.redact.origins);
    let deny_inbound_query = deny_mode(cx, src, &raw.deny.inbound_query, "inbound_query");
    let deny_outbound_response =
        deny_mode(cx, src, &raw.deny.outbound_response, "outbound_response");
    let (decline_text, reply_ori) = decline(cx, src.path, src.text, &raw.deny);
    if reply_ori.is_none()
        && raw.deny.reply_ori.is_none()
        && (deny_inbound_query == DenyMode::Reply || deny_outbound_response == DenyMode::Reply)
    {
        cx.err(
            src.path,
            0,
            "deny.reply_ori (the state's ORI that sends decline replies) is required while a deny replies; \
             set it, or set deny.inbound_query and deny.outbound_response to \"drop\"",
        );
    }
    Settings {
        default,
        on_parse_error,
        on_unknown_ori,
        catalogue,
        deny_exempt,
        redact_exempt,
        redact_origins,
        redact_fields,
        profiles,
        default_profile,
        deny_inbound_query,
        deny_outbound_response,
        decline_text,
        reply_ori,
    }
}

/// `default`: pass, redact or deny (allow is a list action only).
fn default_action(cx: &mut Ctx, src: Src<'_>, v: &Option<Spanned<String>>) -> Action {
    let Some(s) = v else {
        return Action::Pass;
    };
    match s.get_ref().as_str() {
        "pass" => Action::Pass,
        other => match parse_action(other) {
            Some(a) if a != Action::Allow => a,
            _ => {
                cx.err(
                    src.path,
                    src.line(s.span()),
                    format!("unknown default action {other:?} (expected pass, redact or deny)"),
                );
                Action::Pass
            }
        },
    }
}

/// `on_parse_error` / `on_unknown_ori`: drop (default) or pass.
fn on_error(cx: &mut Ctx, src: Src<'_>, v: &Option<Spanned<String>>, what: &str) -> OnError {
    choice(
        cx,
        src,
        v,
        what,
        &[("drop", OnError::Drop), ("pass", OnError::Pass)],
    )
}

/// `deny.inbound_query` / `deny.outbound_response`: reply (default) or drop.
fn deny_mode(cx: &mut Ctx, src: Src<'_>, v: &Option<Spanned<String>>, what: &str) -> DenyMode {
    let what = format!("deny.{what}");
    choice(
        cx,
        src,
        v,
        &what,
        &[("reply", DenyMode::Reply), ("drop", DenyMode::Drop)],
    )
}

/// One of a setting's named values; the first is the default, and an
/// unknown name is an error at its line that lists the names.
fn choice<T: Copy>(
    cx: &mut Ctx,
    src: Src<'_>,
    v: &Option<Spanned<String>>,
    what: &str,
    names: &[(&str, T)],
) -> T {
    let default = names[0].1;
    let Some(s) = v else {
        return default;
    };
    if let Some(&(_, t)) = names.iter().find(|(n, _)| *n == s.get_ref().as_str()) {
        return t;
    }
    let expected: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    cx.err(
        src.path,
        src.line(s.span()),
        format!(
            "unknown {what} {:?} (expected {})",
            s.get_ref(),
            expected.join(" or ")
        ),
    );
    default
}

/// An `exempt` key list (none when absent).
fn exempt(cx: &mut Ctx, src: Src<'_>, v: &Option<Vec<Spanned<String>>>) -> KeySet {
    key_set(cx, src.path, src.text, v.iter().flatten())
}

/// Field names of the catalogue, each an error at its line when unknown.
fn field_set(cx: &mut Ctx, src: Src<'_>, catalogue: &Catalogue, v: &[Spanned<String>]) -> FieldSet {
    let mut set = FieldSet::EMPTY;
    for f in v {
        match catalogue.id(f.get_ref()) {
            Some(id) => set.insert(id),
            None => {
                let known: Vec<&str> = catalogue.fields().iter().map(|f| f.name.as_str()).collect();
                cx.err(
                    src.path,
                    src.line(f.span()),
                    format!(
                        "unknown field {:?} (known: {})",
                        f.get_ref(),
                        known.join(", ")
                    ),
                )
            }
        }
    }
    set
}

/// `redact.fields`: the photo and place of birth unless named.
fn redact_fields(
    cx: &mut Ctx,
    src: Src<'_>,
    catalogue: &Catalogue,
    v: &Option<Vec<Spanned<String>>>,
) -> FieldSet {
    let Some(v) = v else {
        let mut set = FieldSet::EMPTY;
        for name in ["photo", "pob"] {
            if let Some(id) = catalogue.id(name) {
                set.insert(id);
            }
        }
        return set;
    };
    if v.is_empty() {
        cx.warn(
            src.path,
            0,
            "redact.fields is empty: the catalogue check after projection looks for nothing",
        );
    }
    field_set(cx, src, catalogue, v)
}

/// The index of a named release profile, or `default`.
fn profile_index(
    cx: &mut Ctx,
    src: Src<'_>,
    profiles: &[crate::redact::profile::Profile],
    v: &Option<Spanned<String>>,
    default: usize,
) -> usize {
    let Some(n) = v else {
        return default;
    };
    match profiles.iter().position(|p| p.name == *n.get_ref()) {
        Some(i) => i,
        None => {
            let known: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
            cx.err(
                src.path,
                src.line(n.span()),
                format!(
                    "unknown profile {:?} (defined: {})",
                    n.get_ref(),
                    known.join(", ")
                ),
            );
            default
        }
    }
}

/// The `[[list]]` tables and their entries (inline and in list files).
fn lists(
    cx: &mut Ctx,
    rd: &mut Reading<'_, '_>,
    src: Src<'_>,
    raw: &[RawList],
    s: &Settings,
) -> (Vec<List>, Vec<EntryInfo>) {
    let mut lists: Vec<List> = Vec::new();
    let mut entries: Vec<EntryInfo> = Vec::new();
    let policy_file: Arc<str> = Arc::from(src.path);
    for l in raw {
        let li = lists.len() as u16;
        let list = one_list(cx, src, l, &lists, s, &policy_file);
        lists.push(list);
        for e in &l.entries {
            let line = src.line(e.span());
            match Entry::parse(e.get_ref()) {
                Ok(entry) => entries.push(EntryInfo {
                    entry,
                    list: li,
                    file: policy_file.clone(),
                    line,
                }),
                Err(m) => cx.err(src.path, line, m.to_string()),
            }
        }
        for f in &l.files {
            list_file(
                cx,
                rd.read,
                &mut rd.hasher,
                src.path,
                src.text,
                f,
                li,
                &mut entries,
            );
        }
    }
    (lists, entries)
}

/// One list's settings (its entries are read by [`lists`]).
fn one_list(
    cx: &mut Ctx,
    src: Src<'_>,
    l: &RawList,
    lists: &[List],
    s: &Settings,
    policy_file: &Arc<str>,
) -> List {
    let (action, line) = list_header(cx, src.path, src.text, l, lists);
    let name = l.name.get_ref();
    let profile = profile_index(cx, src, &s.profiles, &l.profile, s.default_profile);
    let list_exempt = exempt(cx, src, &l.exempt);
    let fields = l
        .fields
        .as_ref()
        .map(|v| field_set(cx, src, &s.catalogue, v));
    let keys = l.keys.as_ref().map(|v| list_keys(cx, src, name, line, v));
    let deny_reasons = deny_reasons(cx, src, &l.deny_reasons);
    List {
        keys,
        require_reason: l.require_reason.unwrap_or(false),
        deny_reasons,
        name: name.clone(),
        action,
        description: l.description.clone().unwrap_or_default(),
        file: policy_file.clone(),
        line,
        profile,
        exempt: list_exempt,
        fields,
    }
}

/// A list's `keys` scope: known keys, and every query's response with it.
fn list_keys(cx: &mut Ctx, src: Src<'_>, name: &str, line: u32, v: &[Spanned<String>]) -> KeySet {
    let k = key_set(cx, src.path, src.text, v.iter());
    if v.is_empty() {
        cx.warn(
            src.path,
            line,
            format!("list {name:?} has keys = []: its action governs only unknown keys"),
        );
    }
    // A scope that governs a query but not its response would let
    // the answer through unchanged.
    for q in v {
        let resp = crate::message::keys::response_key(q.get_ref());
        if let Some(r) = resp.filter(|r| !k.contains(r)) {
            cx.err(
                src.path,
                src.line(q.span()),
                format!(
                    "list {name:?}: keys names {} but not its response {r}: {r} would pass unchanged; add {r} to keys",
                    q.get_ref()
                ),
            );
        }
    }
    k
}

/// A list's `deny_reasons`: one character A-Z or 0-9 each.
fn deny_reasons(cx: &mut Ctx, src: Src<'_>, v: &Option<Vec<Spanned<String>>>) -> Vec<u8> {
    let mut out = Vec::new();
    for r in v.iter().flatten() {
        match r.get_ref().as_bytes() {
            [c] if c.is_ascii_uppercase() || c.is_ascii_digit() => out.push(*c),
            _ => cx.err(
                src.path,
                src.line(r.span()),
                format!(
                    "deny_reasons: {:?} is not a reason code (one character A-Z or 0-9)",
                    r.get_ref()
                ),
            ),
        }
    }
    out
}

/// Legal process: court-order exceptions (inline, in their own file and in
/// their signed directory), certifications, the federal watch.
#[allow(clippy::too_many_arguments)] // one step of `load_inner`, fed by the steps before it
fn legal(
    cx: &mut Ctx,
    rd: &mut Reading<'_, '_>,
    src: Src<'_>,
    raw: &RawPolicy,
    s: &Settings,
    lists: &[List],
    now: std::time::SystemTime,
    orders: (Option<&super::orders::Signing>, &mut Vec<String>),
) -> Legal {
    let (signing, dirs) = orders;
    let (path, text) = (src.path, src.text);
    let inputs = super::legal::Inputs {
        now,
        catalogue: &s.catalogue,
        profiles: &s.profiles,
    };
    let mut exceptions = Vec::new();
    super::legal::exceptions(cx, path, text, &raw.exception, &inputs, &mut exceptions);
    if let Some(f) = &raw.court_orders.file {
        exceptions_file(
            cx,
            rd.read,
            &mut rd.hasher,
            path,
            text,
            f,
            &inputs,
            &mut exceptions,
        );
    }
    super::orders::refuse_unsigned(cx, signing, &exceptions);
    let mut order_seals = Vec::new();
    if let Some(d) = &raw.court_orders.dir {
        let mut dl = super::orders::DirLoad {
            read: rd.read,
            hasher: &mut rd.hasher,
            inputs: &inputs,
            signing,
            dirs,
        };
        super::orders::load_dir(
            cx,
            &mut dl,
            path,
            text,
            d,
            resolve(path, d.get_ref()),
            &mut exceptions,
            &mut order_seals,
        );
    }
    super::legal::link_orders(cx, &mut exceptions);
    let court_order_window = response_window(cx, src, &raw.court_orders.response_window);
    let certifications =
        super::legal::certifications(cx, path, text, &raw.certification, lists, now);
    let mut federal = Vec::new();
    for w in &raw.federal.watch {
        match Entry::parse(w.get_ref()) {
            Ok(e) => federal.push(e),
            Err(m) => cx.err(path, src.line(w.span()), format!("federal.watch: {m}")),
        }
    }
    Legal {
        exceptions,
        order_seals,
        court_order_window,
        certifications,
        federal,
    }
}

/// `court_orders.response_window`: 1 s to 24 h, 10 minutes by default.
fn response_window(cx: &mut Ctx, src: Src<'_>, v: &Option<Spanned<String>>) -> std::time::Duration {
    const DEFAULT: std::time::Duration = std::time::Duration::from_secs(600);
    let Some(w) = v else {
        return DEFAULT;
    };
    match humantime::parse_duration(w.get_ref()) {
        Ok(d)
            if d >= std::time::Duration::from_secs(1)
                && d <= std::time::Duration::from_secs(86_400) =>
        {
            d
        }
        _ => {
            cx.err(src.path, src.line(w.span()), format!("court_orders.response_window {:?} must be a duration from 1s to 24h (e.g. \"10m\")", w.get_ref()));
            DEFAULT
        }
    }
}

/// The policy from its validated parts, not yet compiled.
fn assemble(
    path: &str,
    version: String,
    s: Settings,
    lists: Vec<List>,
    entries: Vec<EntryInfo>,
    legal: Legal,
    warnings: Vec<Diagnostic>,
) -> Policy {
    Policy {
        version,
        source: path.to_string(),
        default: s.default,
        on_parse_error: s.on_parse_error,
        on_unknown_ori: s.on_unknown_ori,
        deny_exempt: s.deny_exempt,
        redact_exempt: s.redact_exempt,
        redact_origins: s.redact_origins,
        redact_fields: s.redact_fields,
        profiles: s.profiles,
        catalogue: s.catalogue,
        deny_inbound_query: s.deny_inbound_query,
        deny_outbound_response: s.deny_outbound_response,
        decline_text: s.decline_text,
        reply_ori: s.reply_ori,
        lists,
        entries,
        exceptions: legal.exceptions,
        certifications: legal.certifications,
        federal: legal.federal,
        court_order_window: legal.court_order_window,
        order_seals: legal.order_seals,
        manifest: None,
        signers: None,
        warnings,
        exact: Default::default(),
        member: Box::new([]),
        patterns: Default::default(),
    }
}

/// The checks that need the compiled lookup: an exception for an agency the
/// policy does not restrict changes nothing (a warning), and an exception's
/// profile must stay within its list's ([`super::legal::check_profiles`]).
/// The list an exception's ORI is on is the one [`Policy::lookup`] gives,
/// the rule the proxy applies, not a second reading of the entries.
fn after_compile(mut policy: Policy) -> Result<Policy, Refused> {
    let inert: Vec<Diagnostic> = policy
        .exceptions
        .iter()
        .filter(|e| !policy.lookup(e.ori.as_bytes()).action.restricts())
        .map(|e| Diagnostic {
            file: e.file.to_string(),
            line: e.line,
            severity: Severity::Warning,
            message: format!(
                "exception {} is for {}, which this policy does not restrict: it changes nothing",
                e.id,
                e.ori.as_str()
            ),
        })
        .collect();
    policy.warnings.extend(inert);
    let errors: Vec<Diagnostic> = super::legal::check_profiles(&policy)
        .into_iter()
        .map(|(file, line, message)| Diagnostic {
            file: file.to_string(),
            line,
            severity: Severity::Error,
            message,
        })
        .collect();
    if !errors.is_empty() {
        return Err(Refused {
            errors,
            warnings: policy.warnings,
        });
    }
    Ok(policy)
}

/// Validates one list's name (unique, letters and digits) and action;
/// returns the action and the line of the list.
fn list_header(cx: &mut Ctx, path: &str, src: &str, l: &RawList, lists: &[List]) -> (Action, u32) {
    let name = l.name.get_ref();
    let line = line_of(src, l.name.span().start);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        cx.err(
            path,
            line,
            format!("list name {name:?} must be letters, digits, '_' or '-'"),
        );
    }
    if let Some(prev) = lists.iter().find(|p| p.name == *name) {
        cx.err(
            path,
            line,
            format!(
                "duplicate list name {name:?} (first defined at line {})",
                prev.line
            ),
        );
    }
    let action = match parse_action(l.action.get_ref()) {
        Some(a) => a,
        None => {
            cx.err(
                path,
                line_of(src, l.action.span().start),
                format!(
                    "unknown action {:?} (expected deny, redact or allow)",
                    l.action.get_ref()
                ),
            );
            Action::Deny
        }
    };
    if action != Action::Redact {
        for (what, set) in [
            ("profile", l.profile.is_some()),
            ("fields", l.fields.is_some()),
        ] {
            if set {
                cx.err(
                    path,
                    line,
                    format!("list {name:?}: {what} applies to redact lists only"),
                );
            }
        }
    }
    (action, line)
}

/// The built-in catalogue plus the policy's `[[field]]` definitions.
fn extra_fields(cx: &mut Ctx, path: &str, src: &str, raw: &[RawField]) -> Catalogue {
    let mut catalogue = Catalogue::builtin();
    for f in raw {
        let line = line_of(src, f.name.span().start);
        let mut elements = Vec::new();
        for x in &f.xml {
            match x.get_ref().split_once(' ') {
                Some((ns, local)) if !ns.is_empty() && !local.trim().is_empty() => {
                    elements.push(XmlName {
                        ns: ns.to_string(),
                        local: local.trim().to_string(),
                    })
                }
                _ => cx.err(
                    path,
                    line_of(src, x.span().start),
                    format!(
                        "xml element {:?} must be \"NAMESPACE-URI LOCAL-NAME\"",
                        x.get_ref()
                    ),
                ),
            }
        }
        let rules = |v: &Vec<Spanned<String>>, kind| {
            v.iter()
                .map(|s| TextRule {
                    label: s.get_ref().clone(),
                    kind,
                })
                .collect::<Vec<_>>()
        };
        let def = FieldDef {
            name: f.name.get_ref().clone(),
            elements,
            text_rules: [
                rules(&f.text_fields, TextRuleKind::Field),
                rules(&f.text_labels, TextRuleKind::Label),
            ]
            .concat(),
            markers: f.markers.iter().map(|m| m.get_ref().clone()).collect(),
            binary: vec![],
        };
        match catalogue.with_field(def) {
            Ok(c) => catalogue = c,
            Err(e) => cx.err(path, line, e.to_string()),
        }
    }

    catalogue
}

/// `[redact] origins`: the state's own ORIs (9 characters) or member codes
/// (2), the only originators a message to a restricted agency may name.
fn origins(cx: &mut Ctx, path: &str, src: &str, raw: &Option<Vec<Spanned<String>>>) -> Vec<String> {
    let mut out = Vec::new();
    for o in raw.iter().flatten() {
        let v = o.get_ref();
        let ok = (v.len() == 2 || v.len() == 9)
            && v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            cx.err(
                path,
                super::diag::line_of(src, o.span().start),
                format!("redact.origins {v:?} must be a 9-character ORI or a 2-letter member code"),
            );
        }
        out.push(v.clone());
    }
    out
}

/// The decline text and the ORI declines are sent from, validated.
fn decline(
    cx: &mut Ctx,
    path: &str,
    src: &str,
    deny: &RawDeny,
) -> (String, Option<crate::message::Ori>) {
    let decline_text = match &deny.reply_text {
        None => DEFAULT_DECLINE_TEXT.to_string(),
        Some(t) => {
            let v = t.get_ref();
            if v.trim().is_empty() || !v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                cx.err(
                    path,
                    line_of(src, t.span().start),
                    "deny.reply_text must be non-empty printable ASCII on one line",
                );
            }
            if v.to_ascii_uppercase().contains("NOT ON FILE") {
                cx.err(
                    path,
                    line_of(src, t.span().start),
                    "deny.reply_text must not say NOT ON FILE: a decline must not misstate the record",
                );
            }
            v.clone()
        }
    };
    let reply_ori = match &deny.reply_ori {
        None => None,
        Some(s) => match Entry::parse(s.get_ref()) {
            Ok(e) if e.kind == Kind::Exact => Tiny::new(e.text.as_bytes()),
            Ok(_) | Err(_) => {
                cx.err(
                    path,
                    line_of(src, s.span().start),
                    format!("deny.reply_ori {:?} must be a 9-character ORI", s.get_ref()),
                );
                None
            }
        },
    };
    (decline_text, reply_ori)
}

/// Reads one list file named by a list: its bytes go into the policy
/// version, each non-comment line is an entry.
#[allow(clippy::too_many_arguments)]
fn list_file(
    cx: &mut Ctx,
    read: &mut Reader<'_>,
    hasher: &mut Sha256,
    path: &str,
    src: &str,
    f: &Spanned<String>,
    li: u16,
    entries: &mut Vec<EntryInfo>,
) {
    let rel = f.get_ref();
    let full = resolve(path, rel);
    match read(&full) {
        Err(e) => cx.err(
            path,
            line_of(src, f.span().start),
            format!("cannot read list file {rel:?} ({full}): {e}"),
        ),
        Ok(bytes) => {
            // The path as written (not as resolved from the working
            // directory), with lengths, so the version does not depend
            // on where the tool runs and no two file sets collide.
            hasher.update(b"\0file\0");
            hasher.update((rel.len() as u64).to_be_bytes());
            hasher.update(rel.as_bytes());
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(&bytes);
            let file: Arc<str> = Arc::from(full.as_str());
            match String::from_utf8(bytes) {
                Err(_) => cx.err(&full, 0, "list file is not UTF-8 text"),
                Ok(text) => {
                    for (n, raw_line) in text.lines().enumerate() {
                        let content = raw_line.split('#').next().unwrap_or("").trim();
                        if content.is_empty() {
                            continue;
                        }
                        let line = n as u32 + 1;
                        match Entry::parse(content) {
                            Ok(entry) => entries.push(EntryInfo {
                                entry,
                                list: li,
                                file: file.clone(),
                                line,
                            }),
                            Err(m) => cx.err(&full, line, m.to_string()),
                        }
                    }
                }
            }
        }
    }
}

/// Warnings about the entries: listed twice, in two lists with different
/// actions, a pattern that matches everything, an allow over a deny.
fn warnings(cx: &mut Ctx, lists: &[List], entries: &[EntryInfo]) {
    let action = |e: &EntryInfo| lists[e.list as usize].action;
    let loc = |e: &EntryInfo| format!("{}:{}", e.file, e.line);
    let mut seen: std::collections::HashMap<(&str, Kind), usize> = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Some(&j) = seen.get(&(e.entry.text.as_str(), e.entry.kind)) {
            let p = &entries[j];
            if p.list == e.list {
                cx.warn(
                    &e.file,
                    e.line,
                    format!(
                        "{} is listed twice in {:?} (also {})",
                        e.entry.text,
                        lists[e.list as usize].name,
                        loc(p)
                    ),
                );
            } else if action(p) != action(e) {
                let win = if action(p).strictness() >= action(e).strictness() {
                    action(p)
                } else {
                    action(e)
                };
                cx.warn(
                    &e.file,
                    e.line,
                    format!(
                        "{} is in list {:?} ({}) and in list {:?} ({}, {}); {} wins",
                        e.entry.text,
                        lists[e.list as usize].name,
                        action(e),
                        lists[p.list as usize].name,
                        action(p),
                        loc(p),
                        win
                    ),
                );
            }
        } else {
            seen.insert((e.entry.text.as_str(), e.entry.kind), i);
        }
        if e.entry.matches_everything() {
            cx.warn(
                &e.file,
                e.line,
                format!("pattern {} matches every ORI: list {:?} ({}) applies to all agencies not listed more specifically", e.entry.text, lists[e.list as usize].name, action(e)),
            );
        }
    }
    allow_over_deny(cx, lists, entries);
}

/// Warns of an allow entry that overrides a deny entry of lower rank (an
/// exact ORI or member code that a deny member code or pattern also covers).
fn allow_over_deny(cx: &mut Ctx, lists: &[List], entries: &[EntryInfo]) {
    let action = |e: &EntryInfo| lists[e.list as usize].action;
    let loc = |e: &EntryInfo| format!("{}:{}", e.file, e.line);
    for a in entries
        .iter()
        .filter(|e| action(e) == Action::Allow && e.entry.kind != Kind::Pattern)
    {
        for d in entries
            .iter()
            .filter(|d| action(d) == Action::Deny && d.entry.kind < a.entry.kind)
        {
            let overlaps = match a.entry.kind {
                Kind::Exact => d.entry.matches(a.entry.text.as_bytes()),
                // A member code overlaps a pattern whose first two positions admit it.
                _ => {
                    let t = d.entry.text.as_bytes();
                    let c = a.entry.text.as_bytes();
                    (0..2).all(|i| {
                        t.get(i)
                            .is_none_or(|&p| p == b'?' || p == b'*' || p == c[i])
                    })
                }
            };
            if overlaps {
                cx.warn(
                    &a.file,
                    a.line,
                    format!(
                        "allow entry {} (list {:?}) overrides deny {} {} (list {:?}, {})",
                        a.entry.text,
                        lists[a.list as usize].name,
                        d.entry.kind.name(),
                        d.entry.text,
                        lists[d.list as usize].name,
                        loc(d)
                    ),
                );
            }
        }
    }
}

/// Reads the exceptions file named by `court_orders.file`: its bytes are
/// part of the version, its tables are validated with the policy.
#[allow(clippy::too_many_arguments)]
fn exceptions_file(
    cx: &mut Ctx,
    read: &mut Reader<'_>,
    hasher: &mut Sha256,
    path: &str,
    src: &str,
    f: &Spanned<String>,
    inputs: &super::legal::Inputs<'_>,
    out: &mut Vec<super::legal::Exception>,
) {
    let rel = f.get_ref();
    let full = resolve(path, rel);
    let bytes = match read(&full) {
        Ok(b) => b,
        Err(e) => {
            cx.err(
                path,
                line_of(src, f.span().start),
                format!("cannot read exceptions file {rel:?} ({full}): {e}"),
            );
            return;
        }
    };
    hasher.update(b"\0exceptions\0");
    hasher.update((rel.len() as u64).to_be_bytes());
    hasher.update(rel.as_bytes());
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(&bytes);
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            cx.err(&full, 0, "exceptions file is not UTF-8 text");
            return;
        }
    };
    match toml::from_str::<super::legal::RawExceptionsFile>(&text) {
        Ok(raw) => super::legal::exceptions(cx, &full, &text, &raw.exception, inputs, out),
        Err(e) => {
            let line = e.span().map_or(0, |s| line_of(&text, s.start));
            cx.err(&full, line, super::legal::scrub_toml_message(e.message()));
        }
    }
}
