//! Multi-row inserts for projectors: creations are buffered and written in one statement,
//! so a batch of new appointments costs one round trip instead of one per event. A later
//! event of a buffered row either folds into it in memory ([`BulkInsert::fold`]: the row goes
//! out as it stands after the event) or, when it needs the row written first, flushes the
//! buffer ([`BulkInsert::flush_for`]) — only when that row is in it, so creations interleaved
//! with other appointments' changes (as a busy clinic's log has them) still go out together.
//!
//! A folded row may meet a row another runner wrote meanwhile from an earlier part of the same
//! stream, so a table with folds ends its insert in an upsert guarded by the row's version.

use crate::writes::{Placeholders, Value, Writes};
use rustc_hash::FxHashMap;

/// Rows per statement; with a dozen columns this stays far below every backend's limit.
const ROWS_PER_STATEMENT: usize = 300;

pub struct BulkInsert {
    /// `INSERT INTO table (col, …)`
    head: &'static str,
    /// e.g. `ON CONFLICT (appointment_id) DO NOTHING`
    tail: &'static str,
    width: usize,
    rows: Vec<Vec<Value>>,
    /// The buffered rows of each key (an appointment or delivery id: ours, so a fast hash).
    keys: FxHashMap<String, Vec<usize>>,
}

impl BulkInsert {
    pub fn new(head: &'static str, width: usize, tail: &'static str) -> Self {
        Self {
            head,
            tail,
            width,
            rows: Vec::new(),
            keys: FxHashMap::default(),
        }
    }

    /// Buffer `row`, which belongs to `key`.
    pub fn push(&mut self, key: &str, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.width, "row width of {}", self.head);
        self.keys.entry(key.to_owned()).or_default().push(self.rows.len());
        self.rows.push(row);
    }

    /// Whether a buffered row belongs to `key`.
    pub fn holds(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// Set `columns` (by their place in the insert) of every buffered row of `key`; false,
    /// changing nothing, when none is buffered.
    pub fn fold(&mut self, key: &str, columns: &[(usize, Value)]) -> bool {
        let Some(rows) = self.keys.get(key) else {
            return false;
        };
        for &row in rows {
            for (column, value) in columns {
                self.rows[row][*column] = value.clone();
            }
        }
        true
    }

    /// The buffered value of `column` in `key`'s first row.
    pub fn value(&self, key: &str, column: usize) -> Option<&Value> {
        let row = *self.keys.get(key)?.first()?;
        Some(&self.rows[row][column])
    }

    /// Write the buffered rows if one of them belongs to `key`: call before a statement about
    /// `key` that must see its rows.
    pub fn flush_for(&mut self, writes: &mut Writes, key: &str) {
        if self.holds(key) {
            self.flush(writes);
        }
    }

    /// The insert of `rows` buffered rows.
    fn statement(&self, placeholders: Placeholders, rows: usize) -> String {
        format!(
            "{} VALUES {} {}",
            self.head,
            value_rows(placeholders, rows, self.width),
            self.tail
        )
    }

    /// Write every buffered row.
    pub fn flush(&mut self, writes: &mut Writes) {
        self.keys.clear();
        let placeholders = writes.placeholders();
        let mut rows = std::mem::take(&mut self.rows).into_iter();
        // Every chunk but the last is full, and so the same statement: written once, and only
        // when there is one (a live runner's batch mostly holds a few rows).
        let full =
            (rows.len() >= ROWS_PER_STATEMENT).then(|| self.statement(placeholders, ROWS_PER_STATEMENT));
        while rows.len() > 0 {
            let chunk = rows.len().min(ROWS_PER_STATEMENT);
            let sql = match &full {
                Some(full) if chunk == ROWS_PER_STATEMENT => full.clone(),
                _ => self.statement(placeholders, chunk),
            };
            writes.push(sql, rows.by_ref().take(chunk).flatten().collect());
        }
    }
}

/// The parameters of a multi-row `VALUES` of `rows` rows of `width` columns: `(?, ?), (?, ?)`
/// with [`Placeholders::Bare`], else `($1, $2), ($3, $4)`.
pub fn value_rows(placeholders: Placeholders, rows: usize, width: usize) -> String {
    use std::fmt::Write;
    // Written straight into one string: a flush of a rebuild's batch asks for tens of
    // thousands of placeholders.
    let positional = placeholders == Placeholders::Bare;
    let mut sql = String::with_capacity(rows * width * if positional { 3 } else { 8 });
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 1..=width {
            if c > 1 {
                sql.push_str(", ");
            }
            match positional {
                true => sql.push('?'),
                false => {
                    let _ = write!(sql, "${}", r * width + c);
                }
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::{Placeholders, value_rows};

    #[test]
    fn placeholders_are_numbered_or_positional() {
        assert_eq!(
            value_rows(Placeholders::Numbered, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(value_rows(Placeholders::Bare, 2, 2), "(?, ?), (?, ?)");
    }
}
