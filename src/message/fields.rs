//! The catalogue of protected fields: what a "photo" or a "place of birth"
//! looks like in XML and in legacy text. It is data, not code, so a policy can
//! add fields (e.g. an SSN) without touching the parser or the redactor.

use std::fmt;

/// NIEM core namespace URIs, every release Nlets traffic is known or likely to use.
pub const NIEM_CORE: &[&str] = &[
    "http://niem.gov/niem/niem-core/2.0",
    "http://release.niem.gov/niem/niem-core/3.0/",
    "http://release.niem.gov/niem/niem-core/4.0/",
    "http://release.niem.gov/niem/niem-core/5.0/",
];

/// Maximum number of fields a catalogue can hold (the width of [`FieldSet`]).
pub const MAX_FIELDS: usize = 32;

/// Index of a field in a [`Catalogue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u8);

/// A set of fields (bitset over catalogue indices). `Copy`, so it can be
/// passed per message for free.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(pub u32);

impl FieldSet {
    /// No fields.
    pub const EMPTY: FieldSet = FieldSet(0);

    /// Adds a field.
    pub fn insert(&mut self, id: FieldId) {
        self.0 |= 1 << id.0;
    }

    /// True when `id` is in the set.
    pub fn contains(self, id: FieldId) -> bool {
        self.0 & (1 << id.0) != 0
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Set union.
    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    /// Set intersection.
    pub fn intersect(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & other.0)
    }

    /// The members, in index order.
    pub fn iter(self) -> impl Iterator<Item = FieldId> {
        // Set bits, lowest first.
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as u8;
            bits &= bits - 1;
            Some(FieldId(i))
        })
    }
}

impl fmt::Debug for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|i| i.0)).finish()
    }
}

/// An XML element identified by namespace URI and local name (never prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlName {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub local: String,
}

/// How a legacy-text rule finds the value it removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextRuleKind {
    /// `PREFIX/value.`: a field prefix, then `/` or `:`, then a value that ends
    /// at a field-terminating period, a line end or the end of the text.
    Field,
    /// A free-text label (e.g. `PLACE OF BIRTH`) and everything after it up to
    /// the end of the line.
    Label,
}

/// One legacy-text rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRule {
    /// Upper-case label; a space in it matches any run (even empty) of
    /// whitespace or control characters.
    pub label: String,
    /// How the value is delimited.
    pub kind: TextRuleKind,
}

/// One protected field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// Name used in policy, metrics and audit (`photo`, `pob`, ...).
    pub name: String,
    /// XML elements that are this field (removed whole).
    pub elements: Vec<XmlName>,
    /// Legacy-text rules, applied to legacy bodies and to XML free text.
    pub text_rules: Vec<TextRule>,
    /// Case-sensitive byte strings whose presence in free text means the field
    /// is there in a form that cannot be cut out with certainty (e.g. the start
    /// of a base64 JPEG). Redaction refuses such messages.
    pub markers: Vec<String>,
    /// Elements whose own text is binary data (base64): text rules do not
    /// look at that text (a base64 photo must not be mistaken for a `POB/`
    /// field), but they still apply to every other element of the field.
    pub binary: Vec<XmlName>,
}

/// A text rule compiled for matching: upper-case label bytes.
#[derive(Clone, Debug)]
pub(crate) struct CompiledRule {
    pub(crate) label: Vec<u8>,
    pub(crate) kind: TextRuleKind,
    pub(crate) field: FieldId,
    /// The label's letters and digits, upper-case: what a name must spell
    /// for [`Catalogue::label_name`] (label rules).
    pub(crate) letters: Vec<u8>,
    /// The label's second byte when it is not a space: a text byte after
    /// the first that is neither a control character nor this byte (in
    /// either case) cannot start a match (the text scanner's second filter).
    pub(crate) second: Option<u8>,
}

/// Longest name [`Catalogue::label_name`] projects on the stack; longer
/// names take the rule-by-rule path.
const NAME_PROJECTION: usize = 256;

/// [`Catalogue::label_name`]'s one-pass index over the label rules, built
/// when the catalogue has at most 64 text rules (one bit per rule).
#[derive(Clone, Debug)]
struct LabelIndex {
    /// For each upper-case letter or digit, the label rules whose letters
    /// start with it (bit = rule index).
    first: Box<[u64; 256]>,
    /// For each field, its label rules (bit = rule index).
    by_field: Vec<u64>,
    /// The fewest letters and digits of a label rule that has any: names
    /// with fewer spell none.
    min_letters: usize,
    /// For each rule, the [`LETTER_BITS`] of its letters: a name spells
    /// the rule only if it has all of them.
    letter_masks: Vec<u32>,
}

/// For each byte, a bit standing for it as a letter (either case) or a
/// digit (digits share six bits), 0 for anything else: the name-side filter
/// of [`LabelIndex`]. Equal letters give equal bits, so a name lacking one
/// of a label's bits cannot contain the label's letters.
const LETTER_BITS: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_uppercase() {
            1 << (c - b'A')
        } else if c.is_ascii_lowercase() {
            1 << (c - b'a')
        } else if c.is_ascii_digit() {
            1 << (26 + (c - b'0') % 6)
        } else {
            0
        };
        i += 1;
    }
    t
};

/// The set of protected fields known to this process.
#[derive(Clone, Debug)]
pub struct Catalogue {
    fields: Vec<FieldDef>,
    /// Every text rule of every field, compiled.
    pub(crate) rules: Vec<CompiledRule>,
    /// For each byte value, the fields that have a rule starting with it
    /// (either case): the text scanner's first-byte filter.
    pub(crate) first: Box<[u32; 256]>,
    /// For each byte value, the indices (into `rules`, in order) of the
    /// rules whose label starts with it (either case): only those are tried
    /// at a position holding that byte.
    pub(crate) by_first: Box<[Box<[u16]>]>,
    /// Bit `b0 * 256 + b1` set when some rule could match at a position
    /// holding `b0` followed by `b1` (the label's second byte in either
    /// case, a control character, or anything for one-byte labels and
    /// labels whose second byte is a space): the scanner's pair filter.
    pub(crate) pairs: Box<[u64; 1024]>,
    /// Markers with their field, as prebuilt searchers.
    pub(crate) markers: Vec<(memchr::memmem::Finder<'static>, FieldId)>,
    /// Length of the shortest marker (texts shorter than this cannot hold one).
    pub(crate) min_marker: usize,
    /// For each byte value, the fields with a marker starting with it
    /// (case-sensitive): the one-pass marker scan's filter.
    pub(crate) marker_first: Box<[u32; 256]>,
    /// For each byte value, the indices (into `markers`) of the markers
    /// starting with it.
    pub(crate) marker_by_first: Box<[Box<[u16]>]>,
    /// Fields that have at least one marker.
    pub(crate) marker_fields: FieldSet,
    /// Lower-cased local names of every element in the catalogue, with the
    /// field they belong to: an element whose name matches one of these only
    /// case-insensitively, or in another namespace, is suspicious.
    lower_locals: Vec<(String, FieldId)>,
    /// Bit `n` set when some protected local name is `n` bytes long (names of
    /// 64 bytes or more set bit 63): a one-instruction filter before comparing.
    local_lens: u64,
    /// One-pass matching of label rules against names (`None` with more
    /// than 64 rules: then each rule is tried on its own).
    label_index: Option<LabelIndex>,
}

/// Index of the built-in photo field.
pub const PHOTO: FieldId = FieldId(0);
/// Index of the built-in place-of-birth field.
pub const POB: FieldId = FieldId(1);
/// Index of the built-in Social Security number field.
pub const SSN: FieldId = FieldId(2);
/// Index of the built-in identity-documents field.
pub const ID_DOCUMENTS: FieldId = FieldId(3);

/// Why a catalogue of protected fields cannot be built (from the built-in
/// fields and a policy's `[[field]]` tables).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// More fields than a `FieldSet` holds.
    #[error("at most {MAX_FIELDS} protected fields are supported")]
    TooManyFields,
    /// Two fields with one name.
    #[error("field {0:?} defined twice")]
    Twice(String),
    /// A text rule with no label.
    #[error("field {0:?} has an empty text rule")]
    EmptyRule(String),
    /// A text rule label that is not printable ASCII.
    #[error("field {field:?}: text rule {rule:?} must be printable ASCII")]
    RuleNotAscii {
        /// The field.
        field: String,
        /// The rule's label.
        rule: String,
    },
    /// An empty marker.
    #[error("field {0:?} has an empty marker")]
    EmptyMarker(String),
    /// More text rules than the index holds (65535).
    #[error("at most 65535 text rules are supported")]
    TooManyRules,
    /// More markers than the index holds (65535).
    #[error("at most 65535 markers are supported")]
    TooManyMarkers,
}

impl Catalogue {
    /// The built-in catalogue: `photo`, `pob`, `ssn` and `id_documents`.
    // Long: one table of data: the four built-in fields with their elements, labels and markers.
    pub fn builtin() -> Catalogue {
        let nc = |local: &str| -> Vec<XmlName> {
            NIEM_CORE
                .iter()
                .map(|ns| XmlName {
                    ns: (*ns).to_string(),
                    local: local.to_string(),
                })
                .collect()
        };
        let photo = FieldDef {
            name: "photo".into(),
            elements: [
                nc("Image"),
                nc("PersonDigitalImage"),
                nc("BinaryBase64Object"),
            ]
            .concat(),
            text_rules: vec![],
            // Base64 starts of JPEG (every JPEG: FF D8 FF), JPEG 2000 (JP2
            // box and raw codestream), PNG; URL-safe JPEG; hex JPEG.
            markers: vec![
                "/9j/".into(),
                "_9j_".into(),
                "AAAADGpQ".into(),
                "/0//UQ".into(),
                "iVBORw0KGgo".into(),
                "FFD8FF".into(),
                "ffd8ff".into(),
            ],
            binary: nc("BinaryBase64Object"),
        };
        let pob = FieldDef {
            name: "pob".into(),
            elements: nc("PersonBirthLocation"),
            text_rules: vec![
                TextRule {
                    label: "POB".into(),
                    kind: TextRuleKind::Field,
                },
                TextRule {
                    label: "PLACE OF BIRTH".into(),
                    kind: TextRuleKind::Label,
                },
                TextRule {
                    label: "BIRTH PLACE".into(),
                    kind: TextRuleKind::Label,
                },
            ],
            markers: vec![],
            binary: vec![],
        };
        let ssn = FieldDef {
            name: "ssn".into(),
            elements: nc("PersonSSNIdentification"),
            text_rules: vec![
                TextRule {
                    label: "SOC".into(),
                    kind: TextRuleKind::Field,
                },
                TextRule {
                    label: "SSN".into(),
                    kind: TextRuleKind::Field,
                },
                TextRule {
                    label: "SOCIAL SECURITY".into(),
                    kind: TextRuleKind::Label,
                },
            ],
            markers: vec![],
            binary: vec![],
        };
        // No Nlets or NIEM element names the documents a licence applicant
        // presented; these are the labels a state's free text is likely to
        // use. Add a state's own layout with a `[[field]]`.
        let id_documents = FieldDef {
            name: "id_documents".into(),
            elements: vec![],
            text_rules: vec![
                TextRule {
                    label: "IDD".into(),
                    kind: TextRuleKind::Field,
                },
                TextRule {
                    label: "DOCUMENTS PRESENTED".into(),
                    kind: TextRuleKind::Label,
                },
                TextRule {
                    label: "IDENTITY DOCUMENTS".into(),
                    kind: TextRuleKind::Label,
                },
                TextRule {
                    label: "ID DOCUMENTS".into(),
                    kind: TextRuleKind::Label,
                },
            ],
            markers: vec![],
            binary: vec![],
        };
        Catalogue::new(vec![photo, pob, ssn, id_documents])
            .unwrap_or_else(|_| unreachable!("builtin catalogue is valid"))
    }

    /// Builds a catalogue; fails if it has more than [`MAX_FIELDS`] fields or
    /// duplicate names.
    // Long: the catalogue's lookup tables, built in turn from the same rules and markers; each short.
    pub fn new(fields: Vec<FieldDef>) -> Result<Catalogue, CatalogueError> {
        if fields.len() > MAX_FIELDS {
            return Err(CatalogueError::TooManyFields);
        }
        for (i, f) in fields.iter().enumerate() {
            if fields[..i].iter().any(|g| g.name == f.name) {
                return Err(CatalogueError::Twice(f.name.clone()));
            }
        }
        let mut lower_locals = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            for e in &f.elements {
                let l = e.local.to_ascii_lowercase();
                if !lower_locals.iter().any(|(x, _)| *x == l) {
                    lower_locals.push((l, FieldId(i as u8)));
                }
            }
        }
        let mut rules = Vec::new();
        let mut first = Box::new([0u32; 256]);
        let mut markers = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let id = FieldId(i as u8);
            for r in &f.text_rules {
                let label: Vec<u8> = r.label.trim().to_ascii_uppercase().into_bytes();
                let Some(&b) = label.first() else {
                    return Err(CatalogueError::EmptyRule(f.name.clone()));
                };
                if !label.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
                    return Err(CatalogueError::RuleNotAscii {
                        field: f.name.clone(),
                        rule: r.label.clone(),
                    });
                }
                first[b as usize] |= 1 << i;
                first[b.to_ascii_lowercase() as usize] |= 1 << i;
                let letters = label
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_alphanumeric)
                    .collect();
                let second = label.get(1).copied().filter(|&c| c != b' ');
                rules.push(CompiledRule {
                    label,
                    kind: r.kind,
                    field: id,
                    letters,
                    second,
                });
            }
            for m in &f.markers {
                if m.is_empty() {
                    return Err(CatalogueError::EmptyMarker(f.name.clone()));
                }
                markers.push((memchr::memmem::Finder::new(m.as_bytes()).into_owned(), id));
            }
        }
        if rules.len() > u16::MAX as usize {
            return Err(CatalogueError::TooManyRules);
        }
        if markers.len() > u16::MAX as usize {
            return Err(CatalogueError::TooManyMarkers);
        }
        let mut marker_first = Box::new([0u32; 256]);
        let mut marker_by_first: Vec<Vec<u16>> = vec![Vec::new(); 256];
        let mut marker_fields = FieldSet::EMPTY;
        for (mi, (m, id)) in markers.iter().enumerate() {
            // Markers are never empty (checked above).
            let b = m.needle()[0];
            marker_first[b as usize] |= 1 << id.0;
            marker_by_first[b as usize].push(mi as u16);
            marker_fields.insert(*id);
        }
        let marker_by_first = marker_by_first
            .into_iter()
            .map(Vec::into_boxed_slice)
            .collect();
        let mut by_first: Vec<Vec<u16>> = vec![Vec::new(); 256];
        for (ri, r) in rules.iter().enumerate() {
            let b = r.label[0];
            by_first[b as usize].push(ri as u16);
            if b.to_ascii_lowercase() != b {
                by_first[b.to_ascii_lowercase() as usize].push(ri as u16);
            }
        }
        let by_first = by_first.into_iter().map(Vec::into_boxed_slice).collect();
        let mut pairs = Box::new([0u64; 1024]);
        for r in &rules {
            let l0 = r.label[0];
            for b0 in [l0, l0.to_ascii_lowercase()] {
                for b1 in 0..=255u8 {
                    let possible = match r.second {
                        None => true,
                        Some(c) => {
                            b1 < 0x20 || b1 == 0x7f || b1 == c || b1 == c.to_ascii_lowercase()
                        }
                    };
                    if possible {
                        let bit = (b0 as usize) << 8 | b1 as usize;
                        pairs[bit >> 6] |= 1 << (bit & 63);
                    }
                }
            }
        }
        let min_marker = markers
            .iter()
            .map(|(m, _)| m.needle().len())
            .min()
            .unwrap_or(usize::MAX);
        let mut local_lens = 0u64;
        for (l, _) in &lower_locals {
            local_lens |= 1 << l.len().min(63);
        }
        let label_index = (rules.len() <= 64).then(|| {
            let mut first = Box::new([0u64; 256]);
            let mut by_field = vec![0u64; fields.len()];
            for (ri, r) in rules.iter().enumerate() {
                if r.kind != TextRuleKind::Label {
                    continue;
                }
                if let Some(&b) = r.letters.first() {
                    first[b as usize] |= 1 << ri;
                    by_field[r.field.0 as usize] |= 1 << ri;
                }
            }
            let min_letters = rules
                .iter()
                .filter(|r| r.kind == TextRuleKind::Label && !r.letters.is_empty())
                .map(|r| r.letters.len())
                .min()
                .unwrap_or(usize::MAX);
            let letter_masks = rules
                .iter()
                .map(|r| {
                    r.letters
                        .iter()
                        .fold(0, |m, &b| m | LETTER_BITS[b as usize])
                })
                .collect();
            LabelIndex {
                first,
                by_field,
                min_letters,
                letter_masks,
            }
        });
        Ok(Catalogue {
            local_lens,
            label_index,
            fields,
            rules,
            first,
            by_first,
            pairs,
            markers,
            min_marker,
            marker_first,
            marker_by_first,
            marker_fields,
            lower_locals,
        })
    }

    /// Adds a field (policy-defined). Fails on a duplicate name or when full.
    pub fn with_field(&self, def: FieldDef) -> Result<Catalogue, CatalogueError> {
        let mut fields = self.fields.clone();
        fields.push(def);
        Catalogue::new(fields)
    }

    /// All fields.
    pub fn fields(&self) -> &[FieldDef] {
        &self.fields
    }

    /// One field's definition.
    pub fn get(&self, id: FieldId) -> &FieldDef {
        &self.fields[id.0 as usize]
    }

    /// A field's name.
    pub fn name(&self, id: FieldId) -> &str {
        &self.fields[id.0 as usize].name
    }

    /// Finds a field by name.
    pub fn id(&self, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| FieldId(i as u8))
    }

    /// Every field.
    pub fn all(&self) -> FieldSet {
        let mut s = FieldSet::EMPTY;
        for i in 0..self.fields.len() {
            s.insert(FieldId(i as u8));
        }
        s
    }

    /// The field an element is, by exact namespace URI and local name.
    pub fn element(&self, ns: &[u8], local: &[u8]) -> Option<FieldId> {
        if self.local_lens & (1 << local.len().min(63)) == 0 {
            return None;
        }
        self.fields.iter().enumerate().find_map(|(i, f)| {
            f.elements
                .iter()
                .any(|e| e.local.as_bytes() == local && e.ns.as_bytes() == ns)
                .then_some(FieldId(i as u8))
        })
    }

    /// The field an element *looks like* (same local name ignoring case) when
    /// it is not an exact match: a relocated or re-cased protected element.
    pub fn lookalike(&self, local: &[u8]) -> Option<FieldId> {
        if self.local_lens & (1 << local.len().min(63)) == 0 {
            return None;
        }
        self.lower_locals
            .iter()
            .find(|(l, _)| l.as_bytes().eq_ignore_ascii_case(local))
            .map(|(_, id)| *id)
    }

    /// The field of `fields` whose text label an element or attribute name
    /// spells (`POB`, `PlaceOfBirth`, `birth-place`, ...): a protected value
    /// under a name the catalogue does not list.
    pub fn label_name(&self, fields: FieldSet, name: &[u8]) -> Option<FieldId> {
        if fields.is_empty() {
            return None;
        }
        // Allocation-free: this runs for every element and attribute name.
        // The label rules that match are found in one pass over the name
        // (computed on the first label rule met); the first rule in
        // catalogue order that matches still decides.
        let mut label_hits = None;
        for (ri, r) in self.rules.iter().enumerate() {
            if !fields.contains(r.field) {
                continue;
            }
            let hit = match r.kind {
                // `POB`, or `POB` starting a camel-case or separated name
                // (`POBText`, `pob_city`), but not `POBox`.
                TextRuleKind::Field => field_name(name, &r.label),
                // The label's letters in order, ignoring case and any
                // non-alphanumeric characters in the name (`birth-place`).
                TextRuleKind::Label => match &self.label_index {
                    Some(ix) => {
                        let h =
                            *label_hits.get_or_insert_with(|| ix.hits(&self.rules, fields, name));
                        h & (1u64 << ri) != 0
                    }
                    None => contains_letters(name, &r.label),
                },
            };
            if hit {
                return Some(r.field);
            }
        }
        None
    }

    /// Catalogue element names (10 characters or more, any case) that occur
    /// in `text`: markup of a protected element carried as text.
    pub fn names_in_text(&self, fields: FieldSet, text: &[u8]) -> Option<FieldId> {
        self.fields.iter().enumerate().find_map(|(i, f)| {
            let id = FieldId(i as u8);
            if !fields.contains(id) {
                return None;
            }
            f.elements
                .iter()
                .filter(|e| e.local.len() >= 10)
                .any(|e| {
                    text.windows(e.local.len())
                        .any(|w| w.eq_ignore_ascii_case(e.local.as_bytes()))
                })
                .then_some(id)
        })
    }

    /// The field whose binary-content element this is, if any.
    pub fn binary(&self, ns: &[u8], local: &[u8]) -> Option<FieldId> {
        self.fields.iter().enumerate().find_map(|(i, f)| {
            f.binary
                .iter()
                .any(|e| e.local.as_bytes() == local && e.ns.as_bytes() == ns)
                .then_some(FieldId(i as u8))
        })
    }
}

/// `hay.starts_with(needle)` for the short needles of the catalogue: an
/// inline byte loop that stops at the first difference (most candidates
/// differ at the second byte), not a `memcmp` call.
#[inline]
pub(crate) fn starts_with_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.iter().zip(needle).all(|(a, b)| a == b)
}

/// True when `name` is the field prefix `label` (any case), alone or
/// followed by anything but a lower-case letter (`POBText`, not `POBox`).
fn field_name(name: &[u8], label: &[u8]) -> bool {
    let l = label.len();
    name.len() >= l
        && name[..l].eq_ignore_ascii_case(label)
        && (name.len() == l || !name[l].is_ascii_lowercase())
}

impl LabelIndex {
    /// The label rules of `fields` that `name` spells (bit = rule index):
    /// for each, [`contains_letters`] holds. The name's letters and digits
    /// are upper-cased once; every rule's letters are looked for in them.
    fn hits(&self, rules: &[CompiledRule], fields: FieldSet, name: &[u8]) -> u64 {
        let mut pending = 0u64;
        for f in fields.iter() {
            pending |= self.by_field.get(f.0 as usize).copied().unwrap_or(0);
        }
        // A name with fewer bytes than the shortest label's letters has
        // fewer letters too.
        if pending == 0 || name.len() < self.min_letters {
            return 0;
        }
        if name.len() > NAME_PROJECTION {
            let mut hits = 0u64;
            for (ri, r) in rules.iter().enumerate() {
                if pending & (1u64 << ri) != 0 && contains_letters(name, &r.label) {
                    hits |= 1u64 << ri;
                }
            }
            return hits;
        }
        // The name's letter bits first (no copy): rules whose letters the
        // name lacks are out before anything is compared.
        let have = name.iter().fold(0u32, |m, &b| m | LETTER_BITS[b as usize]);
        let mut m = pending;
        while m != 0 {
            let ri = m.trailing_zeros() as usize;
            m &= m - 1;
            if self.letter_masks[ri] & !have != 0 {
                pending &= !(1u64 << ri);
            }
        }
        if pending == 0 {
            return 0;
        }
        let mut buf = [0u8; NAME_PROJECTION];
        let mut n = 0;
        for &b in name {
            if b.is_ascii_alphanumeric() {
                buf[n] = b.to_ascii_uppercase();
                n += 1;
            }
        }
        let proj = &buf[..n];
        let mut hits = 0u64;
        for k in 0..n {
            let mut m = self.first[proj[k] as usize] & pending;
            while m != 0 {
                let ri = m.trailing_zeros() as usize;
                m &= m - 1;
                if starts_with_bytes(&proj[k..], &rules[ri].letters) {
                    hits |= 1u64 << ri;
                    pending &= !(1u64 << ri);
                }
            }
            if pending == 0 {
                break;
            }
        }
        hits
    }
}

/// True when `name`, ignoring case and non-alphanumeric characters,
/// contains the alphanumeric characters of `label` in a row.
fn contains_letters(name: &[u8], label: &[u8]) -> bool {
    let want: usize = label.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    if want == 0 {
        return false;
    }
    let Some(&first) = label.iter().find(|b| b.is_ascii_alphanumeric()) else {
        return false;
    };
    if name.len() < want {
        return false;
    }
    for start in memchr::memchr2_iter(first.to_ascii_uppercase(), first.to_ascii_lowercase(), name)
    {
        let mut l = label.iter().filter(|b| b.is_ascii_alphanumeric());
        let mut matched = 0;
        for &c in name[start..].iter().filter(|b| b.is_ascii_alphanumeric()) {
            match l.next() {
                Some(&x) if x.eq_ignore_ascii_case(&c) => matched += 1,
                _ => break,
            }
            if matched == want {
                return true;
            }
        }
    }
    false
}

impl PartialEq for Catalogue {
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields
    }
}

impl Eq for Catalogue {}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lookup() {
        let c = Catalogue::builtin();
        assert_eq!(c.id("photo"), Some(PHOTO));
        assert_eq!(c.id("pob"), Some(POB));
        let nc = NIEM_CORE[0].as_bytes();
        assert_eq!(c.element(nc, b"PersonDigitalImage"), Some(PHOTO));
        assert_eq!(c.element(nc, b"BinaryBase64Object"), Some(PHOTO));
        assert_eq!(c.element(nc, b"PersonBirthLocation"), Some(POB));
        assert_eq!(c.element(b"urn:other", b"PersonBirthLocation"), None);
        assert_eq!(c.lookalike(b"personbirthlocation"), Some(POB));
        assert_eq!(c.lookalike(b"PersonName"), None);
        let mut s = FieldSet::EMPTY;
        s.insert(POB);
        assert!(s.contains(POB) && !s.contains(PHOTO));
        assert_eq!(c.all().iter().count(), 4);
    }

    #[test]
    fn names_that_spell_labels() {
        let c = Catalogue::builtin();
        let all = c.all();
        for n in [
            "POB",
            "pob",
            "POBText",
            "pob_city",
            "PlaceOfBirth",
            "birth-place",
            "x_BIRTHPLACE_y",
        ] {
            assert_eq!(c.label_name(all, n.as_bytes()), Some(POB), "{n}");
        }
        for n in ["POBox", "PersonName", "Place", "Birth", "JobPosition", ""] {
            assert_eq!(c.label_name(all, n.as_bytes()), None, "{n}");
        }
        assert_eq!(c.label_name(FieldSet::EMPTY, b"POB"), None);
    }

    /// `label_name` as it was before the one-pass label index: every rule
    /// in order, each label rule by [`contains_letters`].
    fn label_name_reference(c: &Catalogue, fields: FieldSet, name: &[u8]) -> Option<FieldId> {
        if fields.is_empty() {
            return None;
        }
        c.rules
            .iter()
            .filter(|r| fields.contains(r.field))
            .find_map(|r| {
                let hit = match r.kind {
                    TextRuleKind::Field => field_name(name, &r.label),
                    TextRuleKind::Label => contains_letters(name, &r.label),
                };
                hit.then_some(r.field)
            })
    }

    /// Catalogues for the equivalence tests: the built-in one, one with odd
    /// labels (digits, punctuation only, shared first letters, a label that
    /// is a prefix of another), and one with more than 64 rules (no index).
    fn label_catalogues() -> Vec<Catalogue> {
        let rule = |label: &str, kind| TextRule {
            label: label.into(),
            kind,
        };
        let field = |name: &str, rules: Vec<TextRule>| FieldDef {
            name: name.into(),
            elements: vec![],
            text_rules: rules,
            markers: vec![],
            binary: vec![],
        };
        let odd = Catalogue::builtin()
            .with_field(field(
                "odd",
                vec![
                    rule("--", TextRuleKind::Label),
                    rule("B2B", TextRuleKind::Label),
                    rule("PLACE", TextRuleKind::Label),
                    rule("P-L", TextRuleKind::Label),
                    rule("X Y", TextRuleKind::Field),
                    rule("9", TextRuleKind::Label),
                ],
            ))
            .unwrap();
        let many: Vec<TextRule> = (0..70)
            .map(|i| {
                let kind = if i % 3 == 0 {
                    TextRuleKind::Field
                } else {
                    TextRuleKind::Label
                };
                rule(&format!("P{}B{}", i % 7, i), kind)
            })
            .collect();
        let big = Catalogue::builtin()
            .with_field(field("many", many))
            .unwrap();
        assert!(big.label_index.is_none());
        vec![Catalogue::builtin(), odd, big]
    }

    /// Names built from pieces of the labels (so that many spell one, or
    /// almost), separators and arbitrary bytes; some longer than the
    /// on-stack projection.
    fn name_strategy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let pieces: Vec<&'static [u8]> = vec![
            b"Place",
            b"PLACE",
            b"of",
            b"Of",
            b"Birth",
            b"BIRTH",
            b"place",
            b"POB",
            b"pob",
            b"Pob",
            b"Box",
            b"SSN",
            b"SOC",
            b"Social",
            b"SECURITY",
            b"ID",
            b"Id",
            b"D",
            b"Documents",
            b"Presented",
            b"Identity",
            b"IDD",
            b"Person",
            b"Location",
            b"B2",
            b"P-L",
            b"9",
            b"-",
            b"_",
            b" ",
            b".",
            b"x",
            b"T",
        ];
        let piece = prop_oneof![
            6 => proptest::sample::select(pieces).prop_map(<[u8]>::to_vec),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ];
        prop_oneof![
            8 => proptest::collection::vec(piece.clone(), 0..8),
            1 => proptest::collection::vec(piece, 60..120),
        ]
        .prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        #[test]
        fn label_name_same_as_reference(name in name_strategy(), mask in proptest::prelude::any::<u32>()) {
            for c in label_catalogues() {
                for fields in [c.all(), FieldSet(mask), FieldSet(mask & c.all().0)] {
                    proptest::prop_assert_eq!(
                        c.label_name(fields, &name),
                        label_name_reference(&c, fields, &name),
                        "{:?}", String::from_utf8_lossy(&name)
                    );
                }
            }
        }
    }

    #[test]
    fn label_name_same_as_reference_on_spellings() {
        let mut names: Vec<Vec<u8>> = [
            "POB",
            "pob",
            "POBText",
            "pob_city",
            "PlaceOfBirth",
            "birth-place",
            "x_BIRTHPLACE_y",
            "POBox",
            "PersonName",
            "Place",
            "Birth",
            "JobPosition",
            "",
            "SocialSecurityNumber",
            "ssn",
            "SOCx",
            "SOC",
            "IdentityDocuments",
            "id-documents",
            "DocumentsPresented",
            "IDD",
            "IDDx",
            "iddX",
            "PersonBirthLocation",
            "PLACEPLACEOFBIRTH",
            "B2B",
            "p-l",
            "X Y",
            "x yz",
            "99",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        names.push([b"x".repeat(300), b"PLACEOFBIRTH".to_vec()].concat());
        names.push([b"-".repeat(250), b"BirthPlace".to_vec()].concat());
        for c in label_catalogues() {
            for n in &names {
                for bits in [c.all().0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 0, 0b10110] {
                    let f = FieldSet(bits);
                    assert_eq!(
                        c.label_name(f, n),
                        label_name_reference(&c, f, n),
                        "{:?}",
                        String::from_utf8_lossy(n)
                    );
                }
            }
        }
    }

    #[test]
    fn add_field() {
        let c = Catalogue::builtin();
        let ssn = FieldDef {
            name: "taxid".into(),
            elements: vec![],
            text_rules: vec![TextRule {
                label: "TIN".into(),
                kind: TextRuleKind::Field,
            }],
            markers: vec![],
            binary: vec![],
        };
        let c2 = c.with_field(ssn.clone()).unwrap();
        assert_eq!(c2.id("taxid"), Some(FieldId(4)));
        assert!(c2.with_field(ssn).is_err());
    }
}
