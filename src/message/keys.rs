//! The message key (MKE) table: what kind of message each key is and, for a
//! query, which key its response carries (used for decline replies).
//!
//! Keys not in the table are [`Class::Other`], never an error: Nlets adds keys
//! over time and the proxy must not break on them.

use serde::Serialize;

/// What a message is, by its key.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Class {
    /// A request for a record (DQ, KQ, RQ, ...).
    Query,
    /// A record response (DR, KR, RR, ...).
    Response,
    /// Administrative traffic (AM and similar free-form messages).
    Administrative,
    /// An Nlets error message (ER).
    Error,
    /// An Nlets status message (SM).
    Status,
    /// A key not in the table.
    Other,
}

impl Class {
    /// Lowercase name used in JSON output, metrics and audit.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// One row of the key table.
#[derive(Clone, Copy, Debug)]
pub struct KeyInfo {
    /// The message key as it appears on the wire.
    pub key: &'static str,
    /// Its class.
    pub class: Class,
    /// For a query, the key of its response (what a decline reply carries).
    pub response: Option<&'static str>,
    /// Short description for operators.
    pub meaning: &'static str,
}

const fn q(key: &'static str, response: &'static str, meaning: &'static str) -> KeyInfo {
    KeyInfo {
        key,
        class: Class::Query,
        response: Some(response),
        meaning,
    }
}

const fn r(key: &'static str, meaning: &'static str) -> KeyInfo {
    KeyInfo {
        key,
        class: Class::Response,
        response: None,
        meaning,
    }
}

const fn o(key: &'static str, class: Class, meaning: &'static str) -> KeyInfo {
    KeyInfo {
        key,
        class,
        response: None,
        meaning,
    }
}

/// The key table. Sorted by key (checked by a test) for binary search.
pub static KEYS: &[KeyInfo] = &[
    o("AM", Class::Administrative, "administrative message"),
    o(
        "AMR",
        Class::Administrative,
        "administrative message response",
    ),
    q("CPQ", "CPR", "corrections photo query"),
    r("CPR", "corrections photo response"),
    q("DNQ", "DNR", "driver license name-only query"),
    r("DNR", "driver license name-only response"),
    q("DQ", "DR", "driver license query"),
    q("DQG", "DR", "driver license query to a region"),
    r("DR", "driver license response"),
    r("DRG", "driver license response to a regional query"),
    o("ER", Class::Error, "Nlets error message"),
    q("IAQ", "IAR", "immigration alien query to ICE LESC"),
    r("IAR", "immigration alien response"),
    q("KQ", "KR", "driver history query"),
    r("KR", "driver history response"),
    q("PAQ", "PAR", "parole, probation and corrections query"),
    r("PAR", "parole, probation and corrections response"),
    q("PBQ", "PBR", "probation query"),
    r("PBR", "probation response"),
    q("PCQ", "PCR", "corrections query"),
    r("PCR", "corrections response"),
    q("PPQ", "PPR", "parole query"),
    r("PPR", "parole response"),
    q("RNQ", "RNR", "vehicle registration by name query"),
    r("RNR", "vehicle registration by name response"),
    q("RPQ", "RPR", "partial plate query"),
    r("RPR", "partial plate response"),
    q("RQ", "RR", "vehicle registration query"),
    q("RQG", "RR", "vehicle registration query to a region"),
    r("RR", "vehicle registration response"),
    o("SM", Class::Status, "Nlets status message"),
    q("YQ", "YR", "hit confirmation request"),
    r("YR", "hit confirmation response"),
];

/// Looks a key up; `None` for keys not in the table.
pub fn lookup(key: &str) -> Option<&'static KeyInfo> {
    KEYS.binary_search_by(|k| k.key.cmp(key))
        .ok()
        .map(|i| &KEYS[i])
}

/// The class of a key ([`Class::Other`] when unknown).
pub fn class_of(key: &str) -> Class {
    lookup(key).map_or(Class::Other, |k| k.class)
}

/// The response key for a query key, when the table knows it.
pub fn response_key(key: &str) -> Option<&'static str> {
    lookup(key).and_then(|k| k.response)
}

/// A set of message keys, as a bitset over the key table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeySet(u64);

impl KeySet {
    /// Index of a key in the table.
    pub fn index(key: &str) -> Option<usize> {
        KEYS.binary_search_by(|k| k.key.cmp(key)).ok()
    }

    /// Adds a key (must be in the table).
    pub fn insert(&mut self, key: &str) -> bool {
        match Self::index(key) {
            Some(i) => {
                self.0 |= 1 << i;
                true
            }
            None => false,
        }
    }

    /// True when `key` is in the set.
    pub fn contains(self, key: &str) -> bool {
        Self::index(key).is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// The keys, in table order.
    pub fn keys(self) -> impl Iterator<Item = &'static str> {
        KEYS.iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, k)| k.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sorted_unique() {
        for w in KEYS.windows(2) {
            assert!(w[0].key < w[1].key, "{} !< {}", w[0].key, w[1].key);
        }
    }

    #[test]
    fn classes() {
        for k in [
            "DQ", "DQG", "DNQ", "KQ", "RQ", "RQG", "RNQ", "RPQ", "CPQ", "IAQ",
        ] {
            assert_eq!(class_of(k), Class::Query, "{k}");
            let resp = response_key(k).unwrap();
            assert_eq!(class_of(resp), Class::Response, "{resp}");
        }
        for k in ["DR", "DRG", "DNR", "KR", "RR", "RNR", "RPR", "CPR", "IAR"] {
            assert_eq!(class_of(k), Class::Response, "{k}");
        }
        assert_eq!(class_of("AM"), Class::Administrative);
        assert_eq!(class_of("ER"), Class::Error);
        assert_eq!(class_of("SM"), Class::Status);
        assert_eq!(class_of("ZZ"), Class::Other);
        assert_eq!(response_key("DQ"), Some("DR"));
        assert_eq!(response_key("CPQ"), Some("CPR"));
        assert_eq!(response_key("DR"), None);
    }
}
