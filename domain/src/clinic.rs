//! The clinic's slot grid (R2): which slots a day has, which are outside opening hours, and
//! which local day a time falls on.

use crate::appointment::{EARLIEST_START_YEAR, LATEST_START_YEAR};
use crate::error::DomainError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// The shortest and the longest span, in minutes, the schedule works with: a slot of the grid,
/// and so a menu's consultation.
pub const SHORTEST_MINUTES: u32 = 5;
pub const LONGEST_MINUTES: u32 = 240;

/// One opening range on a weekday (0 = Monday), in minutes after local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpeningRange {
    pub weekday: u32,
    pub opens_min: u32,
    pub closes_min: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// 休診枠: outside opening hours. Closed slots can still be booked (R2).
    pub closed: bool,
}

/// A day asked for (`field`) must be one an appointment can start on: the date arithmetic
/// below overflows near chrono's limits (year ±262142), and no clinic means year 1 either.
pub fn check_day(field: &'static str, date: NaiveDate) -> Result<(), DomainError> {
    if (EARLIEST_START_YEAR..=LATEST_START_YEAR).contains(&date.year()) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be between the years {EARLIEST_START_YEAR} and {LATEST_START_YEAR}"),
        ))
    }
}

/// `[local midnight, next local midnight)` of `date` in `tz`, in UTC.
pub fn day_range(date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = local_midnight(date, tz);
    let end = date
        .succ_opt()
        .map_or(start + Duration::days(1), |next| local_midnight(next, tz));
    (start, end)
}

fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    // A zone that skips midnight (a DST jump) starts the day at the first valid instant.
    (0..=120)
        .find_map(|m| {
            tz.from_local_datetime(&(midnight + Duration::minutes(m)))
                .earliest()
        })
        .map_or_else(|| Utc.from_utc_datetime(&midnight), |t| t.with_timezone(&Utc))
}

/// The slots of one day. Without `all_times` only slots within opening hours are listed; with
/// it, the whole day is, and slots outside the hours are marked closed.
pub fn slot_grid(
    date: NaiveDate,
    tz: Tz,
    hours: &[OpeningRange],
    slot_minutes: u32,
    all_times: bool,
) -> Vec<Slot> {
    let slot_minutes = slot_minutes.clamp(SHORTEST_MINUTES, LONGEST_MINUTES);
    let weekday = date.weekday().num_days_from_monday();
    let open = |minute: u32| {
        hours
            .iter()
            .any(|r| r.weekday == weekday && r.opens_min <= minute && minute + slot_minutes <= r.closes_min)
    };
    (0..24 * 60)
        .step_by(slot_minutes as usize)
        .filter_map(|minute: u32| {
            let closed = !open(minute);
            if closed && !all_times {
                return None;
            }
            let local = date.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute));
            let start_at = tz.from_local_datetime(&local).earliest()?.with_timezone(&Utc);
            Some(Slot {
                start_at,
                end_at: start_at + Duration::minutes(i64::from(slot_minutes)),
                closed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekday_hours() -> Vec<OpeningRange> {
        (0..5)
            .flat_map(|d| {
                [
                    OpeningRange {
                        weekday: d,
                        opens_min: 9 * 60,
                        closes_min: 12 * 60,
                    },
                    OpeningRange {
                        weekday: d,
                        opens_min: 14 * 60,
                        closes_min: 18 * 60,
                    },
                ]
            })
            .collect()
    }

    #[test]
    fn r2_a_weekday_shows_only_opening_hours_unless_all_times() {
        let tokyo = chrono_tz::Asia::Tokyo;
        let tuesday = NaiveDate::from_ymd_opt(2022, 8, 30).unwrap();
        let slots = slot_grid(tuesday, tokyo, &weekday_hours(), 15, false);
        assert_eq!(slots.len(), (3 + 4) * 4);
        assert!(slots.iter().all(|s| !s.closed));
        assert_eq!(
            slots[0].start_at,
            tokyo.with_ymd_and_hms(2022, 8, 30, 9, 0, 0).unwrap()
        );
        assert_eq!(
            slots.last().unwrap().end_at,
            tokyo.with_ymd_and_hms(2022, 8, 30, 18, 0, 0).unwrap()
        );

        let all = slot_grid(tuesday, tokyo, &weekday_hours(), 15, true);
        assert_eq!(all.len(), 24 * 4);
        assert_eq!(all.iter().filter(|s| !s.closed).count(), slots.len());
    }

    #[test]
    fn r2_a_sunday_has_only_closed_slots() {
        let sunday = NaiveDate::from_ymd_opt(2022, 8, 28).unwrap();
        assert!(slot_grid(sunday, chrono_tz::Asia::Tokyo, &weekday_hours(), 15, false).is_empty());
        assert!(
            slot_grid(sunday, chrono_tz::Asia::Tokyo, &weekday_hours(), 15, true)
                .iter()
                .all(|s| s.closed)
        );
    }

    #[test]
    fn day_range_is_the_local_day() {
        let tokyo = chrono_tz::Asia::Tokyo;
        let (from, to) = day_range(NaiveDate::from_ymd_opt(2022, 8, 30).unwrap(), tokyo);
        assert_eq!(from, tokyo.with_ymd_and_hms(2022, 8, 30, 0, 0, 0).unwrap());
        assert_eq!(to - from, Duration::hours(24));
    }
}
