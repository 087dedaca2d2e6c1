//! The clinic's slot grid (R2): which slots a day has, which are outside opening hours, and
//! which local day a time falls on.

use crate::appointment::{EARLIEST_START_YEAR, LATEST_START_YEAR};
use crate::error::DomainError;
use crate::setup::hours::{HoursRange, Weekday, Weekdays};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// The shortest and the longest span, in minutes, the schedule works with: a slot of the grid,
/// and so a menu's consultation.
pub const SHORTEST_MINUTES: u32 = 5;
pub const LONGEST_MINUTES: u32 = 240;

/// One doctor's hours on one day (R2, SPEC §8): the length of a slot and the opening ranges,
/// none on a closed day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayHours {
    pub slot_minutes: u32,
    /// Earliest first, none overlapping.
    pub ranges: Vec<HoursRange>,
}

/// The slot length of a doctor who has no weekly hours yet.
pub const DEFAULT_SLOT_MINUTES: u32 = 15;

impl DayHours {
    /// `date` as the weekly template says, or without any opening when it is closed (a
    /// closure of the clinic or of the doctor) or there is no template.
    pub fn on(date: NaiveDate, weekly: Option<(&Weekdays, u32)>, closed: bool) -> Self {
        let Some((weekdays, slot_minutes)) = weekly else {
            return Self {
                slot_minutes: DEFAULT_SLOT_MINUTES,
                ranges: vec![],
            };
        };
        let day = Weekday::ALL[date.weekday().num_days_from_monday() as usize];
        Self {
            slot_minutes,
            ranges: if closed {
                vec![]
            } else {
                weekdays.day(day).to_vec()
            },
        }
    }

    /// Whether `[from_min, to_min)` (minutes after local midnight) lies within one opening range.
    pub fn covers(&self, from_min: u32, to_min: u32) -> bool {
        self.ranges
            .iter()
            .any(|r| r.start_min <= from_min && to_min <= r.end_min)
    }
}

/// What an in-clinic booking must fit (SPEC §8): the doctor's hours on the local day it
/// starts, in the clinic's time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingHours {
    pub time_zone: Tz,
    /// The doctor's hours on [`local_date`] of the booking's start.
    pub day: DayHours,
}

impl BookingHours {
    /// Whether `minutes` from `start_at` lie within one opening range of the day, to the
    /// second: a booking that starts before midnight and ends after it never does.
    pub fn cover(&self, start_at: DateTime<Utc>, minutes: u32) -> bool {
        let from_s = start_at
            .with_timezone(&self.time_zone)
            .num_seconds_from_midnight();
        let to_s = from_s + minutes * 60;
        // The opening minute at or before the start, and the one at or after the end.
        self.day.covers(from_s / 60, to_s.div_ceil(60))
    }
}

/// The clinic-local date of `at`: whose hours and closures apply to a booking starting then.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let utc = at.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix();
    // At chrono's very limits the local time does not exist (and `with_timezone` panics):
    // the UTC date stands in there, for a start `decide` refuses anyway.
    utc.checked_add_offset(offset).unwrap_or(utc).date()
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
pub fn slot_grid(date: NaiveDate, tz: Tz, hours: &DayHours, all_times: bool) -> Vec<Slot> {
    let slot_minutes = hours.slot_minutes.clamp(SHORTEST_MINUTES, LONGEST_MINUTES);
    let open = |minute: u32| hours.covers(minute, minute + slot_minutes);
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

    fn weekday_hours() -> Weekdays {
        let day = vec![
            HoursRange {
                start_min: 9 * 60,
                end_min: 12 * 60,
            },
            HoursRange {
                start_min: 14 * 60,
                end_min: 18 * 60,
            },
        ];
        Weekdays {
            mon: day.clone(),
            tue: day.clone(),
            wed: day.clone(),
            thu: day.clone(),
            fri: day,
            ..Weekdays::default()
        }
    }

    fn hours_on(date: NaiveDate) -> DayHours {
        DayHours::on(date, Some((&weekday_hours(), 15)), false)
    }

    #[test]
    fn r2_a_weekday_shows_only_opening_hours_unless_all_times() {
        let tokyo = chrono_tz::Asia::Tokyo;
        let tuesday = NaiveDate::from_ymd_opt(2022, 8, 30).unwrap();
        let slots = slot_grid(tuesday, tokyo, &hours_on(tuesday), false);
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

        let all = slot_grid(tuesday, tokyo, &hours_on(tuesday), true);
        assert_eq!(all.len(), 24 * 4);
        assert_eq!(all.iter().filter(|s| !s.closed).count(), slots.len());
    }

    #[test]
    fn r2_a_sunday_has_only_closed_slots() {
        let sunday = NaiveDate::from_ymd_opt(2022, 8, 28).unwrap();
        assert!(slot_grid(sunday, chrono_tz::Asia::Tokyo, &hours_on(sunday), false).is_empty());
        assert!(
            slot_grid(sunday, chrono_tz::Asia::Tokyo, &hours_on(sunday), true)
                .iter()
                .all(|s| s.closed)
        );
    }

    #[test]
    fn a_closed_day_or_a_doctor_without_hours_has_only_closed_slots() {
        let tuesday = NaiveDate::from_ymd_opt(2022, 8, 30).unwrap();
        let closed = DayHours::on(tuesday, Some((&weekday_hours(), 15)), true);
        assert!(slot_grid(tuesday, chrono_tz::Asia::Tokyo, &closed, false).is_empty());
        let none = DayHours::on(tuesday, None, false);
        assert_eq!(none.slot_minutes, DEFAULT_SLOT_MINUTES);
        assert!(
            slot_grid(tuesday, chrono_tz::Asia::Tokyo, &none, true)
                .iter()
                .all(|s| s.closed)
        );
    }

    #[test]
    fn hours_cover_a_span_only_within_one_range() {
        let tuesday = NaiveDate::from_ymd_opt(2022, 8, 30).unwrap();
        let hours = hours_on(tuesday);
        assert!(hours.covers(9 * 60, 12 * 60));
        assert!(hours.covers(14 * 60, 14 * 60 + 30));
        assert!(!hours.covers(11 * 60 + 45, 12 * 60 + 15));
        assert!(!hours.covers(8 * 60 + 45, 9 * 60 + 15));
        assert!(!hours.covers(11 * 60, 15 * 60));
    }

    #[test]
    fn a_booking_is_covered_only_within_one_range_of_its_local_day_to_the_second() {
        let tokyo = chrono_tz::Asia::Tokyo;
        let tuesday = NaiveDate::from_ymd_opt(2022, 8, 30).unwrap();
        let hours = BookingHours {
            time_zone: tokyo,
            day: hours_on(tuesday),
        };
        let at = |h, m, s| {
            tokyo
                .with_ymd_and_hms(2022, 8, 30, h, m, s)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert!(hours.cover(at(9, 0, 0), 30));
        assert!(hours.cover(at(11, 45, 0), 15));
        assert!(!hours.cover(at(11, 45, 1), 15), "ends a second after noon");
        assert!(!hours.cover(at(8, 59, 59), 15), "starts a second before nine");
        assert!(!hours.cover(at(11, 30, 0), 60), "runs into the lunch break");
        assert!(!hours.cover(at(12, 30, 0), 15));
        let late = BookingHours {
            time_zone: tokyo,
            day: DayHours {
                slot_minutes: 15,
                ranges: vec![HoursRange {
                    start_min: 23 * 60,
                    end_min: 24 * 60,
                }],
            },
        };
        assert!(late.cover(at(23, 45, 0), 15), "ends at midnight");
        assert!(!late.cover(at(23, 45, 0), 30), "runs past midnight");
        assert_eq!(local_date(at(0, 30, 0), tokyo), tuesday);
        assert_eq!(
            local_date(DateTime::<Utc>::MAX_UTC, tokyo),
            DateTime::<Utc>::MAX_UTC.date_naive()
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
