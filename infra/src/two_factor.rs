//! Two-factor sign-in for staff: time-based one-time codes (TOTP, RFC 6238: HMAC-SHA1, six
//! digits, 30-second steps, one step of tolerance either way, via `totp-rs`) and single-use
//! recovery codes.
//!
//! What is kept, per staff member, outside the event log: the secret (it must be read back to
//! check codes), the last time step accepted (so one code never signs in twice, as RFC 6238
//! §5.2 asks), an enrolment started and not yet confirmed, and the recovery codes as SHA-256
//! digests only (`crate::tokens`). Secrets and codes never reach events, logs or error texts.

use crate::db::Db;
use crate::tokens::digest;
use chrono::{DateTime, Utc};
use enkaku_domain::ids::StaffId;
use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODES: usize = 10;
/// A recovery code's characters (without the hyphens it is shown with): 16 of Crockford's
/// base32, 80 random bits, so its digest alone cannot be turned back into it.
const RECOVERY_CODE_CHARS: usize = 16;
/// Crockford's base32 alphabet, lower case: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// The secret's length: 160 bits, as RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;

/// An enrolment just started: shown to the person once, to put into their authenticator app.
pub struct NewEnrolment {
    /// The secret in base32, for typing it in by hand.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    pub otpauth_uri: String,
}

/// What confirming an enrolment came to.
pub enum Confirmation {
    /// Two-factor sign-in is on; the recovery codes are shown once.
    Confirmed { recovery_codes: Vec<String> },
    /// The code does not match the enrolment's secret now.
    WrongCode,
    /// No enrolment was started.
    NotStarted,
}

/// A code as typed at sign-in.
#[derive(Debug, PartialEq, Eq)]
enum Code {
    /// Six digits from the authenticator app.
    Totp(String),
    /// A recovery code, normalised (lower case, without hyphens or spaces).
    Recovery(String),
}

/// Read what a person typed: spaces and hyphens do not matter, nor does case, nor full-width
/// characters (what a Japanese input method gives). Anything that is neither six digits nor a
/// recovery code's shape is no code at all.
fn parse_code(typed: &str) -> Option<Code> {
    let compact: String = typed
        .chars()
        .map(half_width)
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if compact.len() == 6 && compact.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Code::Totp(compact));
    }
    let recovery =
        compact.len() == RECOVERY_CODE_CHARS && compact.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    recovery.then_some(Code::Recovery(compact))
}

/// The ASCII character a full-width one (U+FF01 to U+FF5E) stands for; others as they are.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// A new recovery code, normalised as `parse_code` reads it.
fn new_recovery_code() -> String {
    let mut bytes = [0u8; RECOVERY_CODE_CHARS];
    rand::rng().fill_bytes(&mut bytes);
    // 256 is a multiple of 32: each character is uniform.
    bytes
        .iter()
        .map(|b| RECOVERY_ALPHABET[usize::from(b % 32)] as char)
        .collect()
}

/// A recovery code as shown to the person: `xxxx-xxxx-xxxx-xxxx`.
fn shown(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The TOTP of a stored base32 secret; `None` for a secret that cannot be one (a row to fix).
fn totp(secret: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .ok()
}

/// The time step a six-digit `code` matches at `now` (the current one or either neighbour).
fn matching_step(secret: &str, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let seconds = u64::try_from(now.timestamp()).ok()?;
    let step = totp(secret)?.check(code, seconds)?;
    i64::try_from(step).ok()
}

/// An otpauth label part: the Key URI format gives `:` a meaning of its own.
fn label(text: &str) -> String {
    text.replace(':', "：")
}

#[derive(Clone)]
pub struct TwoFactorStore {
    db: Db,
}

impl TwoFactorStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Whether `staff` has confirmed an enrolment: then sign-in needs a code.
    pub async fn enrolled(&self, staff: StaffId) -> Result<bool, sqlx::Error> {
        let confirmed: Option<Option<i64>> =
            sqlx::query_scalar("SELECT confirmed_at_ms FROM two_factor WHERE staff_id = $1")
                .bind(staff.to_string())
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(confirmed.flatten().is_some())
    }

    /// Start an enrolment for `staff` with a new secret, replacing one started before and
    /// not confirmed. A confirmed one stays in force until this one is confirmed. `issuer` and
    /// `account` name the entry in the person's authenticator app.
    pub async fn start(
        &self,
        staff: StaffId,
        issuer: &str,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<NewEnrolment, sqlx::Error> {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let totp = Builder::new()
            .with_secret(Secret::new_stack(bytes))
            .with_issuer(Some(label(issuer)))
            .with_account_name(label(account))
            .build()
            .map_err(|e| sqlx::Error::Protocol(format!("TOTP parameters: {e}")))?;
        let secret = totp.secret().to_base32();
        let otpauth_uri = totp
            .to_url()
            .map_err(|e| sqlx::Error::Protocol(format!("otpauth URI: {e}")))?;
        sqlx::query(
            "INSERT INTO two_factor (staff_id, pending_secret, pending_since_ms) VALUES ($1, $2, $3)
             ON CONFLICT (staff_id) DO UPDATE
             SET pending_secret = excluded.pending_secret, pending_since_ms = excluded.pending_since_ms",
        )
        .bind(staff.to_string())
        .bind(&secret)
        .bind(now.timestamp_millis())
        .execute(self.db.writer())
        .await?;
        Ok(NewEnrolment { secret, otpauth_uri })
    }

    /// Confirm the enrolment started for `staff` with a code from it: it becomes the secret
    /// sign-in checks (the code's step counts as used), and new recovery codes replace any
    /// earlier ones. All or nothing.
    pub async fn confirm(
        &self,
        staff: StaffId,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Confirmation, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let pending: Option<Option<String>> =
            sqlx::query_scalar("SELECT pending_secret FROM two_factor WHERE staff_id = $1")
                .bind(staff.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(pending) = pending.flatten() else {
            return Ok(Confirmation::NotStarted);
        };
        let step = match parse_code(code) {
            Some(Code::Totp(digits)) => matching_step(&pending, &digits, now),
            _ => None,
        };
        let Some(step) = step else {
            return Ok(Confirmation::WrongCode);
        };
        sqlx::query(
            "UPDATE two_factor SET secret = pending_secret, confirmed_at_ms = $1, last_step = $2,
                 pending_secret = NULL, pending_since_ms = NULL
             WHERE staff_id = $3",
        )
        .bind(now.timestamp_millis())
        .bind(step)
        .bind(staff.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM two_factor_recovery_codes WHERE staff_id = $1")
            .bind(staff.to_string())
            .execute(&mut *tx)
            .await?;
        let recovery_codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        for code in &recovery_codes {
            sqlx::query("INSERT INTO two_factor_recovery_codes (staff_id, code_hash) VALUES ($1, $2)")
                .bind(staff.to_string())
                .bind(digest(code))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Confirmation::Confirmed {
            recovery_codes: recovery_codes.iter().map(|c| shown(c)).collect(),
        })
    }

    /// Whether `code` signs `staff` in now, using it up: a six-digit code of a step later than
    /// the last one accepted, or an unused recovery code. A code's check is a few HMACs and
    /// one indexed write, whatever was typed.
    pub async fn accept(&self, staff: StaffId, code: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        match parse_code(code) {
            Some(Code::Totp(digits)) => self.accept_totp(staff, &digits, now).await,
            Some(Code::Recovery(normalised)) => {
                let used = sqlx::query(
                    "UPDATE two_factor_recovery_codes SET used_at_ms = $1
                     WHERE staff_id = $2 AND code_hash = $3 AND used_at_ms IS NULL",
                )
                .bind(now.timestamp_millis())
                .bind(staff.to_string())
                .bind(digest(&normalised))
                .execute(self.db.writer())
                .await?;
                Ok(used.rows_affected() == 1)
            }
            None => Ok(false),
        }
    }

    async fn accept_totp(
        &self,
        staff: StaffId,
        digits: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let secret: Option<Option<String>> =
            sqlx::query_scalar("SELECT secret FROM two_factor WHERE staff_id = $1")
                .bind(staff.to_string())
                .fetch_optional(&self.db.pool)
                .await?;
        let Some(step) = secret.flatten().and_then(|s| matching_step(&s, digits, now)) else {
            return Ok(false);
        };
        // Only a later step than the last accepted, decided by the write itself: two requests
        // racing with one code cannot both succeed.
        let used = sqlx::query(
            "UPDATE two_factor SET last_step = $1
             WHERE staff_id = $2 AND secret IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
        )
        .bind(step)
        .bind(staff.to_string())
        .execute(self.db.writer())
        .await?;
        Ok(used.rows_affected() == 1)
    }

    /// Turn two-factor sign-in off for `staff`: the secret, any enrolment under way and the
    /// recovery codes are deleted.
    pub async fn turn_off(&self, staff: StaffId) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        for table in ["two_factor", "two_factor_recovery_codes"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE staff_id = $1"))
                .bind(staff.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_people_type_them() {
        assert_eq!(parse_code(" 123 456 "), Some(Code::Totp("123456".into())));
        assert_eq!(parse_code("１２３　４５６"), Some(Code::Totp("123456".into())));
        let normalised = new_recovery_code();
        let recovery = shown(&normalised);
        assert_eq!(recovery.len(), RECOVERY_CODE_CHARS + 3, "{recovery}");
        assert_eq!(parse_code(&recovery), Some(Code::Recovery(normalised.clone())));
        assert_eq!(
            parse_code(&recovery.to_uppercase().replace('-', " ")),
            Some(Code::Recovery(normalised))
        );
        for junk in [
            "",
            "12345",
            "1234567",
            "12345a",
            "abcd-efgh-ijkl-mnop",
            &"0".repeat(64),
        ] {
            assert_eq!(parse_code(junk), None, "{junk}");
        }
    }

    #[test]
    fn recovery_codes_differ() {
        let codes: std::collections::HashSet<_> = (0..100).map(|_| new_recovery_code()).collect();
        assert_eq!(codes.len(), 100);
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = Secret::new_stack([7; SECRET_BYTES]).to_base32();
        let totp = totp(&secret).expect("a valid secret");
        let now = DateTime::from_timestamp(1_700_000_015, 0).unwrap();
        let step = 1_700_000_015 / 30;
        let at = |step: i64| totp.generate(u64::try_from(step * 30).unwrap()).to_string();
        assert_eq!(matching_step(&secret, &at(step), now), Some(step));
        assert_eq!(matching_step(&secret, &at(step - 1), now), Some(step - 1));
        assert_eq!(matching_step(&secret, &at(step + 1), now), Some(step + 1));
        assert_eq!(matching_step(&secret, &at(step + 2), now), None);
        assert_eq!(matching_step(&secret, &at(step - 2), now), None);
        assert_eq!(matching_step("not base32!", &at(step), now), None);
    }

    #[test]
    fn the_otpauth_label_has_no_stray_colon() {
        assert_eq!(label("Clinic: East"), "Clinic： East");
    }
}
