//! The small-cell rule of a public report, per table (`report --small-cell
//! TABLE=N`, `--exact court_orders`): a count from 1 to N − 1 is withheld.
//! The default threshold is 10 for every table (counts 1 to 9 withheld).
//! Only the court-order tables may be published exactly (threshold 0): they
//! count orders and their uses, not people, and Oregon and Washington publish
//! such counts exactly. Every other table keeps a threshold of at least 2.

use super::Mode;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// A published count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The count.
    Exact(u64),
    /// A count from 1 to 9, or one that would reveal such a count.
    Suppressed,
    /// Under a table's own threshold (other than 10): a count from 1 to
    /// n − 1, or one that would reveal such a count (`<n`).
    Below(u64),
}

impl Cell {
    /// The value, when published.
    pub fn value(self) -> Option<u64> {
        match self {
            Cell::Exact(n) => Some(n),
            Cell::Suppressed | Cell::Below(_) => None,
        }
    }

    /// True when the count is withheld.
    pub fn hidden(self) -> bool {
        self.value().is_none()
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Exact(n) => write!(f, "{n}"),
            Cell::Suppressed => f.write_str("<10"),
            Cell::Below(n) => write!(f, "<{n}"),
        }
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Exact(n) => s.serialize_u64(*n),
            Cell::Suppressed | Cell::Below(_) => s.collect_str(self),
        }
    }
}

/// The default threshold: counts from 1 to 9 are withheld.
pub const DEFAULT_THRESHOLD: u64 = 10;

/// The public tables a threshold can be set for (specs/report.md,
/// *Publication shapes*): `figures` (rows and groups, with photos, places
/// of birth and delivery), `declined_by_day`, `court_orders` (orders used
/// and uses by issuer kind), `by_month_and_key` (requests per month and
/// message key, Washington's layout). The Colorado summary and every other
/// sum add published cells of these, so they need no rule of their own.
pub const TABLES: &[&str] = &[
    "figures",
    "declined_by_day",
    "court_orders",
    "by_month_and_key",
];

/// Tables that may be published exactly (threshold 0).
pub const EXACT_TABLES: &[&str] = &["court_orders"];

/// Why a small-cell setting is refused (`report` exits 64).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// Not `TABLE=N` with a whole N.
    #[error("{0:?}: expected TABLE=N with a whole number N (e.g. figures=11)")]
    Form(String),
    /// No such table.
    #[error("unknown table {table:?}: the tables are {known}")]
    Table {
        /// The name given.
        table: String,
        /// The tables there are.
        known: String,
    },
    /// A table about people asked to be exact.
    #[error("{0} counts messages about people and cannot be published exactly; only court_orders may be")]
    NotExact(String),
    /// A threshold of 1 withholds nothing.
    #[error(
        "{0}=1 withholds nothing; use a threshold of 2 or more (or 0, exact, for court_orders)"
    )]
    One(String),
}

/// Thresholds per table; tables not named use [`DEFAULT_THRESHOLD`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmallCells(BTreeMap<String, u64>);

impl SmallCells {
    /// Sets one table's threshold from `TABLE=N`; refuses an unknown
    /// table, a threshold of 1 (it withholds nothing: say 0 for exact) and
    /// an exact table that may not be one.
    pub fn set(&mut self, spec: &str) -> Result<(), SettingError> {
        let form = || SettingError::Form(spec.to_string());
        let (table, n) = spec.split_once('=').ok_or_else(form)?;
        let n: u64 = n.trim().parse().map_err(|_| form())?;
        self.set_table(table.trim(), n)
    }

    /// Sets `table`'s threshold to `n` (0: exact).
    pub fn set_table(&mut self, table: &str, n: u64) -> Result<(), SettingError> {
        if !TABLES.contains(&table) {
            return Err(SettingError::Table {
                table: table.to_string(),
                known: TABLES.join(", "),
            });
        }
        if n == 0 && !EXACT_TABLES.contains(&table) {
            return Err(SettingError::NotExact(table.to_string()));
        }
        if n == 1 {
            return Err(SettingError::One(table.to_string()));
        }
        self.0.insert(table.to_string(), n);
        Ok(())
    }

    /// The threshold of `table`.
    pub fn threshold(&self, table: &str) -> u64 {
        self.0.get(table).copied().unwrap_or(DEFAULT_THRESHOLD)
    }

    /// Every table with its threshold (for the report's methodology).
    pub fn all(&self) -> BTreeMap<String, u64> {
        TABLES
            .iter()
            .map(|t| (t.to_string(), self.threshold(t)))
            .collect()
    }

    /// The rule of `table` for a report of `mode` (internal: exact).
    pub fn rule(&self, mode: Mode, table: &str) -> Rule {
        match mode {
            Mode::Internal => Rule(0),
            Mode::Public => Rule(self.threshold(table)),
        }
    }
}

/// One table's small-cell rule: its threshold (0: exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule(pub u64);

impl Rule {
    /// True when the rule withholds anything (public, not exact).
    pub fn suppresses(self) -> bool {
        self.0 > 1
    }

    /// A withheld cell under this rule.
    pub fn hidden(self) -> Cell {
        if self.0 == DEFAULT_THRESHOLD {
            Cell::Suppressed
        } else {
            Cell::Below(self.0)
        }
    }

    /// The primary rule: a count from 1 to threshold − 1 is withheld.
    pub fn cell(self, n: u64) -> Cell {
        if self.suppresses() && n >= 1 && n < self.0 {
            self.hidden()
        } else {
            Cell::Exact(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_per_table_and_what_is_refused() {
        let mut s = SmallCells::default();
        assert_eq!(s.threshold("figures"), 10);
        s.set("figures=11").unwrap();
        s.set("court_orders=0").unwrap();
        assert_eq!(s.threshold("figures"), 11);
        assert_eq!(s.rule(Mode::Public, "figures").cell(10), Cell::Below(11));
        assert_eq!(s.rule(Mode::Public, "figures").cell(11), Cell::Exact(11));
        assert_eq!(s.rule(Mode::Public, "figures").cell(0), Cell::Exact(0));
        assert_eq!(s.rule(Mode::Public, "court_orders").cell(1), Cell::Exact(1));
        assert_eq!(
            s.rule(Mode::Public, "by_month_and_key").cell(9),
            Cell::Suppressed
        );
        assert_eq!(s.rule(Mode::Internal, "figures").cell(3), Cell::Exact(3));
        assert!(s.set("figures=0").is_err());
        assert!(s.set("figures=1").is_err());
        assert!(s.set("nope=5").is_err());
        assert!(s.set("figures").is_err());
        assert_eq!(Cell::Below(11).to_string(), "<11");
        assert_eq!(serde_json::to_string(&Cell::Below(5)).unwrap(), "\"<5\"");
    }
}
