//! The policy: which agencies (by ORI) get what, compiled for allocation-free
//! lookup, plus what each action means (scope of message keys, fields to
//! remove, how a deny answers).
//!
//! * [`file`] reads and validates the TOML policy and its list files into a
//!   [`Policy`] (pure: file contents come in through a reader function);
//! * [`Policy::lookup`] resolves an ORI: exact entry beats member code beats
//!   pattern (longer literal prefix first); among equals the stricter action
//!   wins; no match gives the default action;
//! * [`explain`] and [`diff`] serve administrators; the live policy of the
//!   runtime is [`crate::runtime::policy_store`].

pub mod bundle;
pub mod diag;
pub mod diff;
pub mod entry;
pub mod explain;
pub mod file;
pub mod legal;
pub mod orders;
pub mod profiles;

use crate::message::fields::{Catalogue, FieldSet};
use crate::message::Ori;
use entry::{char_index, ori_key, Entry, Kind, ALPHABET, ORI_LEN};
use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::Arc;

/// What the policy says about an agency.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// In no list: the default applies (normally forward unchanged).
    Pass,
    /// Explicitly exempted: forward unchanged.
    Allow,
    /// Forward responses with the protected fields removed.
    Redact,
    /// Do not forward; answer with a decline or drop, per direction.
    Deny,
}

impl Action {
    /// Lowercase name (metrics label, audit, output).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Strictness for tie-breaking: deny > redact > allow.
    pub fn strictness(self) -> u8 {
        match self {
            Action::Pass => 0,
            Action::Allow => 1,
            Action::Redact => 2,
            Action::Deny => 3,
        }
    }

    /// True when the action restricts what is forwarded.
    pub fn restricts(self) -> bool {
        matches!(self, Action::Redact | Action::Deny)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to do with a message in some situation: forward it or drop it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum OnError {
    /// Do not forward (fail closed).
    Drop,
    /// Forward unchanged (fail open; counted).
    Pass,
}

impl OnError {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// How a deny answers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum DenyMode {
    /// Drop and send a decline reply (inbound query: back to the requester;
    /// outbound response: in place of the response).
    Reply,
    /// Drop silently.
    Drop,
}

impl DenyMode {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

pub use crate::message::keys::KeySet;

/// Default decline text: says who declined and whom to ask, never pretends
/// the record does not exist.
pub const DEFAULT_DECLINE_TEXT: &str = "REQUEST DECLINED BY THE STATE OF RECORD UNDER STATE LAW. \
THIS IS NOT A NOT-ON-FILE RESPONSE. CONTACT THE STATE CJIS SYSTEMS AGENCY FOR INFORMATION.";

/// A named list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List {
    /// Its name (metrics label, audit).
    pub name: String,
    /// Its action.
    pub action: Action,
    /// Free text from the file.
    pub description: String,
    /// Where it is defined.
    pub file: Arc<str>,
    /// Line of its definition.
    pub line: u32,
    /// Release profile (index into [`Policy::profiles`]) of a redact list.
    pub profile: usize,
    /// Message keys this list's action does not govern (on top of the
    /// policy-wide exemptions for its action).
    pub exempt: KeySet,
    /// Catalogue fields checked (second line) for this list, when it names
    /// its own; otherwise the policy's `redact.fields`.
    pub fields: Option<FieldSet>,
    /// The known message keys this list's action governs, when it names
    /// them (its key scope); other known keys pass. Unknown keys are always
    /// governed.
    pub keys: Option<KeySet>,
    /// Inbound queries from this list's agencies must give a reason code.
    pub require_reason: bool,
    /// Reason codes that make this list's inbound queries denied.
    pub deny_reasons: Vec<u8>,
}

/// One entry with its provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry.
    pub entry: Entry,
    /// Index into [`Policy::lists`].
    pub list: u16,
    /// File it came from.
    pub file: Arc<str>,
    /// Line in that file.
    pub line: u32,
}

/// The result of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The list action (before key scope), or the default.
    pub action: Action,
    /// The deciding entry (index into [`Policy::entries`]); None for the default.
    pub entry: Option<u32>,
}

const NONE: u32 = u32::MAX;

/// Patterns compiled to per-position bitsets: a lookup ANDs nine words per
/// 64 patterns and takes the first set bit (patterns are sorted best first).
#[derive(Clone, Debug, Default)]
struct PatternSet {
    /// Entry index of each pattern, best first.
    order: Vec<u32>,
    words: usize,
    /// `[pos][char][word]`: patterns accepting `char` at `pos`.
    pos: Vec<u64>,
    /// `[len][word]`: patterns accepting strings of length `len` (0..=9).
    len: Vec<u64>,
}

impl PatternSet {
    fn build(entries: &[EntryInfo], lists: &[List], mut idx: Vec<u32>) -> PatternSet {
        idx.sort_by_key(|&i| {
            let e = &entries[i as usize];
            (
                std::cmp::Reverse(e.entry.literal_prefix()),
                std::cmp::Reverse(lists[e.list as usize].action.strictness()),
                i,
            )
        });
        let words = idx.len().div_ceil(64);
        let mut pos = vec![0u64; ORI_LEN * ALPHABET * words];
        let mut len = vec![0u64; (ORI_LEN + 1) * words];
        for (bit, &i) in idx.iter().enumerate() {
            let (w, m) = (bit / 64, 1u64 << (bit % 64));
            let t = entries[i as usize].entry.text.as_bytes();
            let star = t.last() == Some(&b'*');
            let fixed = if star { &t[..t.len() - 1] } else { t };
            for (p, slot) in (0..ORI_LEN).map(|p| (p, fixed.get(p))) {
                for c in 0..ALPHABET {
                    let ok = match slot {
                        None => star,
                        Some(b'?') => true,
                        Some(&b) => char_index(b) == Some(c),
                    };
                    if ok {
                        pos[(p * ALPHABET + c) * words + w] |= m;
                    }
                }
            }
            for l in 0..=ORI_LEN {
                if (star && l >= fixed.len()) || (!star && l == fixed.len()) {
                    len[l * words + w] |= m;
                }
            }
        }
        PatternSet {
            order: idx,
            words,
            pos,
            len,
        }
    }

    fn first(&self, ori: &[u8]) -> Option<u32> {
        if self.words == 0 || ori.len() > ORI_LEN {
            return None;
        }
        let mut chars = [0usize; ORI_LEN];
        for (i, &b) in ori.iter().enumerate() {
            chars[i] = char_index(b)?;
        }
        for w in 0..self.words {
            let mut acc = self.len[ori.len() * self.words + w];
            for (p, &c) in chars.iter().enumerate().take(ori.len()) {
                acc &= self.pos[(p * ALPHABET + c) * self.words + w];
                if acc == 0 {
                    break;
                }
            }
            if acc != 0 {
                return Some(self.order[w * 64 + acc.trailing_zeros() as usize]);
            }
        }
        None
    }
}

/// A validated, compiled policy. Immutable; shared behind an `Arc`.
#[derive(Clone, Debug)]
pub struct Policy {
    /// SHA-256 (hex) of the canonical content: the policy file's bytes and
    /// every list file's path and bytes, in order of reference.
    pub version: String,
    /// The policy file's path as given.
    pub source: String,
    /// Action for ORIs in no list.
    pub default: Action,
    /// Unrestricted messages that do not parse.
    pub on_parse_error: OnError,
    /// Messages whose counterparty ORI cannot be determined.
    pub on_unknown_ori: OnError,
    /// Message keys no deny list governs (explicit exemptions; default none).
    pub deny_exempt: KeySet,
    /// Message keys no redact list governs (explicit exemptions; default none).
    pub redact_exempt: KeySet,
    /// Catalogue fields every redact removes and checks for (second line).
    pub redact_fields: FieldSet,
    /// The state's own ORIs and member codes (`[redact] origins`): a message
    /// to a restricted agency must come from one. Empty: not checked.
    pub redact_origins: Vec<String>,
    /// Release profiles; index 0 is the built-in one.
    pub profiles: Vec<crate::redact::profile::Profile>,
    /// The protected-field catalogue (built-in plus policy-defined fields).
    pub catalogue: Catalogue,
    /// Deny of an inbound query.
    pub deny_inbound_query: DenyMode,
    /// Deny of an outbound response.
    pub deny_outbound_response: DenyMode,
    /// Text of decline replies.
    pub decline_text: String,
    /// ORI decline replies are sent from (the state's).
    pub reply_ori: Option<Ori>,
    /// The lists, in file order.
    pub lists: Vec<List>,
    /// Every entry, in file order.
    pub entries: Vec<EntryInfo>,
    /// Court-order exceptions, in file order.
    pub exceptions: Vec<legal::Exception>,
    /// Certifications with expiry.
    pub certifications: Vec<legal::Certification>,
    /// Patterns that identify federal agencies (flagged when in no list).
    pub federal: Vec<entry::Entry>,
    /// How long after an exception query its response is released.
    pub court_order_window: std::time::Duration,
    /// Who entered and approved each signed order in force
    /// (`court_orders.dir`), in file-name order.
    pub order_seals: Vec<orders::OrderSeal>,
    /// The signed manifest it was loaded with (`require_signed_policy`).
    pub manifest: Option<bundle::Manifest>,
    /// The `allowed_signers` file it was checked against (`[signing]`).
    pub signers: Option<orders::SignersSeal>,
    /// Warnings found while validating.
    pub warnings: Vec<diag::Diagnostic>,
    exact: FxHashMap<u64, u32>,
    member: Box<[u32]>,
    patterns: PatternSet,
}

impl Policy {
    /// First 12 hex digits of the version, for display.
    pub fn short_version(&self) -> &str {
        &self.version[..12]
    }

    /// Resolves an ORI (or 2-character code) to its list action, without
    /// allocating.
    pub fn lookup(&self, ori: &[u8]) -> Verdict {
        if let Some(k) = ori_key(ori) {
            if let Some(&e) = self.exact.get(&k) {
                return self.verdict(e);
            }
        }
        if ori.len() >= 2 {
            if let (Some(a), Some(b)) = (char_index(ori[0]), char_index(ori[1])) {
                let e = self.member[a * ALPHABET + b];
                if e != NONE {
                    return self.verdict(e);
                }
            }
        }
        match self.patterns.first(ori) {
            Some(e) => self.verdict(e),
            None => Verdict {
                action: self.default,
                entry: None,
            },
        }
    }

    fn verdict(&self, e: u32) -> Verdict {
        let info = &self.entries[e as usize];
        Verdict {
            action: self.lists[info.list as usize].action,
            entry: Some(e),
        }
    }

    /// The list that decided a verdict, if any.
    pub fn list_of(&self, v: Verdict) -> Option<&List> {
        v.entry
            .map(|e| &self.lists[self.entries[e as usize].list as usize])
    }

    /// The action that actually applies to a message with key `mke`. Deny
    /// and redact govern every key, unknown keys included, except the keys
    /// the policy or the list exempts explicitly (those pass).
    pub fn scoped(&self, v: Verdict, mke: &str) -> Action {
        let list = self.list_of(v);
        let exempt = |global: KeySet| {
            global.contains(mke)
                || list.is_some_and(|l| {
                    l.exempt.contains(mke)
                        || l.keys
                            .is_some_and(|k| KeySet::index(mke).is_some() && !k.contains(mke))
                })
        };
        match v.action {
            Action::Deny if exempt(self.deny_exempt) => Action::Pass,
            Action::Redact if exempt(self.redact_exempt) => Action::Pass,
            a => a,
        }
    }

    /// The release profile of a verdict's list (the built-in one otherwise).
    pub fn profile_for(&self, v: Verdict) -> &crate::redact::profile::Profile {
        &self.profiles[self.list_of(v).map_or(0, |l| l.profile)]
    }

    /// The catalogue fields a redact of this verdict removes and checks.
    pub fn fields_for(&self, v: Verdict) -> FieldSet {
        self.list_of(v)
            .and_then(|l| l.fields)
            .unwrap_or(self.redact_fields)
    }

    /// Name of the list that decided a verdict ("" for the default).
    pub fn list_name(&self, v: Verdict) -> &str {
        v.entry
            .map(|e| {
                self.lists[self.entries[e as usize].list as usize]
                    .name
                    .as_str()
            })
            .unwrap_or("")
    }

    /// The deciding entry's text ("" for the default).
    pub fn entry_text(&self, v: Verdict) -> &str {
        v.entry
            .map(|e| self.entries[e as usize].entry.text.as_str())
            .unwrap_or("")
    }

    /// Every entry matching `ori`, best first (for `explain`).
    pub fn matches(&self, ori: &[u8]) -> Vec<u32> {
        let mut m: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|&i| self.entries[i as usize].entry.matches(ori))
            .collect();
        m.sort_by_key(|&i| self.rank(i));
        m
    }

    /// Sort key: lower is better.
    fn rank(
        &self,
        i: u32,
    ) -> (
        std::cmp::Reverse<Kind>,
        std::cmp::Reverse<usize>,
        std::cmp::Reverse<u8>,
        u32,
    ) {
        let e = &self.entries[i as usize];
        (
            std::cmp::Reverse(e.entry.kind),
            std::cmp::Reverse(if e.entry.kind == Kind::Pattern {
                e.entry.literal_prefix()
            } else {
                0
            }),
            std::cmp::Reverse(self.lists[e.list as usize].action.strictness()),
            i,
        )
    }

    /// Builds the lookup structures. Called by [`file`] after validation.
    pub(crate) fn compile(mut self) -> Policy {
        let mut exact: FxHashMap<u64, u32> = FxHashMap::default();
        let mut member = vec![NONE; ALPHABET * ALPHABET];
        let mut pats = Vec::new();
        let stricter = |p: &Policy, a: u32, b: u32| {
            let sa = p.lists[p.entries[a as usize].list as usize]
                .action
                .strictness();
            let sb = p.lists[p.entries[b as usize].list as usize]
                .action
                .strictness();
            if sb > sa {
                b
            } else {
                a
            }
        };
        for i in 0..self.entries.len() as u32 {
            let e = &self.entries[i as usize].entry;
            match e.kind {
                Kind::Exact => {
                    if let Some(k) = ori_key(e.text.as_bytes()) {
                        let v = match exact.get(&k) {
                            Some(&old) => stricter(&self, old, i),
                            None => i,
                        };
                        exact.insert(k, v);
                    }
                }
                Kind::Member => {
                    let t = e.text.as_bytes();
                    if let (Some(a), Some(b)) = (char_index(t[0]), char_index(t[1])) {
                        let slot = a * ALPHABET + b;
                        member[slot] = if member[slot] == NONE {
                            i
                        } else {
                            stricter(&self, member[slot], i)
                        };
                    }
                }
                Kind::Pattern => pats.push(i),
            }
        }
        self.patterns = PatternSet::build(&self.entries, &self.lists, pats);
        self.exact = exact;
        self.member = member.into_boxed_slice();
        self
    }
}

#[cfg(test)]
mod tests;
