//! Multi-row inserts for projectors: creations are buffered and written in one statement,
//! so a batch of new appointments costs one round trip instead of one per event.

use sqlx::AnyConnection;

/// Rows per statement; with a dozen columns this stays far below every backend's limit.
const ROWS_PER_STATEMENT: usize = 300;

/// A column value of a buffered row.
pub enum Value {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
    Bytes(Vec<u8>),
}

pub struct BulkInsert {
    /// `INSERT INTO table (col, …)`
    head: &'static str,
    /// e.g. `ON CONFLICT (appointment_id) DO NOTHING`
    tail: &'static str,
    width: usize,
    rows: Vec<Vec<Value>>,
}

impl BulkInsert {
    pub fn new(head: &'static str, width: usize, tail: &'static str) -> Self {
        Self {
            head,
            tail,
            width,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.width, "row width of {}", self.head);
        self.rows.push(row);
    }

    /// Write every buffered row. Call before any statement that must see them.
    pub async fn flush(&mut self, tx: &mut AnyConnection) -> Result<(), sqlx::Error> {
        for chunk in std::mem::take(&mut self.rows).chunks(ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|r| {
                    let params: Vec<String> = (1..=self.width)
                        .map(|c| format!("${}", r * self.width + c))
                        .collect();
                    format!("({})", params.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("{} VALUES {} {}", self.head, values, self.tail);
            let mut query = sqlx::query(&sql);
            for value in chunk.iter().flatten() {
                query = match value {
                    Value::Text(s) => query.bind(s.as_str()),
                    Value::MaybeText(s) => query.bind(s.as_deref()),
                    Value::Int(i) => query.bind(*i),
                    Value::Bytes(b) => query.bind(b.as_slice()),
                };
            }
            query.execute(&mut *tx).await?;
        }
        Ok(())
    }
}
