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
        (0..MAX_FIELDS as u8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(FieldId)
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
}

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
    /// Markers with their field, as prebuilt searchers.
    pub(crate) markers: Vec<(memchr::memmem::Finder<'static>, FieldId)>,
    /// Length of the shortest marker (texts shorter than this cannot hold one).
    pub(crate) min_marker: usize,
    /// Lower-cased local names of every element in the catalogue, with the
    /// field they belong to: an element whose name matches one of these only
    /// case-insensitively, or in another namespace, is suspicious.
    lower_locals: Vec<(String, FieldId)>,
    /// Bit `n` set when some protected local name is `n` bytes long (names of
    /// 64 bytes or more set bit 63): a one-instruction filter before comparing.
    local_lens: u64,
}

/// Index of the built-in photo field.
pub const PHOTO: FieldId = FieldId(0);
/// Index of the built-in place-of-birth field.
pub const POB: FieldId = FieldId(1);
/// Index of the built-in Social Security number field.
pub const SSN: FieldId = FieldId(2);
/// Index of the built-in identity-documents field.
pub const ID_DOCUMENTS: FieldId = FieldId(3);

impl Catalogue {
    /// The built-in catalogue: `photo`, `pob`, `ssn` and `id_documents`.
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
    pub fn new(fields: Vec<FieldDef>) -> Result<Catalogue, String> {
        if fields.len() > MAX_FIELDS {
            return Err(format!(
                "at most {MAX_FIELDS} protected fields are supported"
            ));
        }
        for (i, f) in fields.iter().enumerate() {
            if fields[..i].iter().any(|g| g.name == f.name) {
                return Err(format!("field {:?} defined twice", f.name));
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
                    return Err(format!("field {:?} has an empty text rule", f.name));
                };
                if !label.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
                    return Err(format!(
                        "field {:?}: text rule {:?} must be printable ASCII",
                        f.name, r.label
                    ));
                }
                first[b as usize] |= 1 << i;
                first[b.to_ascii_lowercase() as usize] |= 1 << i;
                rules.push(CompiledRule {
                    label,
                    kind: r.kind,
                    field: id,
                });
            }
            for m in &f.markers {
                if m.is_empty() {
                    return Err(format!("field {:?} has an empty marker", f.name));
                }
                markers.push((memchr::memmem::Finder::new(m.as_bytes()).into_owned(), id));
            }
        }
        if rules.len() > u16::MAX as usize {
            return Err(format!("at most {} text rules are supported", u16::MAX));
        }
        let mut by_first: Vec<Vec<u16>> = vec![Vec::new(); 256];
        for (ri, r) in rules.iter().enumerate() {
            let b = r.label[0];
            by_first[b as usize].push(ri as u16);
            if b.to_ascii_lowercase() != b {
                by_first[b.to_ascii_lowercase() as usize].push(ri as u16);
            }
        }
        let by_first = by_first.into_iter().map(Vec::into_boxed_slice).collect();
        let min_marker = markers
            .iter()
            .map(|(m, _)| m.needle().len())
            .min()
            .unwrap_or(usize::MAX);
        let mut local_lens = 0u64;
        for (l, _) in &lower_locals {
            local_lens |= 1 << l.len().min(63);
        }
        Ok(Catalogue {
            local_lens,
            fields,
            rules,
            first,
            by_first,
            markers,
            min_marker,
            lower_locals,
        })
    }

    /// Adds a field (policy-defined). Fails on a duplicate name or when full.
    pub fn with_field(&self, def: FieldDef) -> Result<Catalogue, String> {
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
        self.rules
            .iter()
            .filter(|r| fields.contains(r.field))
            .find_map(|r| {
                let hit = match r.kind {
                    // `POB`, or `POB` starting a camel-case or separated name
                    // (`POBText`, `pob_city`), but not `POBox`.
                    TextRuleKind::Field => {
                        let l = r.label.len();
                        name.len() >= l
                            && name[..l].eq_ignore_ascii_case(&r.label)
                            && (name.len() == l || !name[l].is_ascii_lowercase())
                    }
                    // The label's letters in order, ignoring case and any
                    // non-alphanumeric characters in the name (`birth-place`).
                    TextRuleKind::Label => contains_letters(name, &r.label),
                };
                hit.then_some(r.field)
            })
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
