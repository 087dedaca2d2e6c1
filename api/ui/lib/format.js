// Dates and times in the clinic's time zone, in Japanese formats.

const WEEKDAYS = ['日', '月', '火', '水', '木', '金', '土'];

function parts(instant, timeZone) {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  const out = {};
  for (const p of format.formatToParts(instant)) out[p.type] = p.value;
  return {
    year: Number(out.year), month: Number(out.month), day: Number(out.day),
    hour: Number(out.hour), minute: Number(out.minute), second: Number(out.second),
  };
}

const pad = (n) => String(n).padStart(2, '0');

/** `YYYY-MM-DD` of an instant in the zone. */
function isoDate(instant, timeZone) {
  const p = parts(new Date(instant), timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** Today's date in the zone. */
export const today = (timeZone) => isoDate(Date.now(), timeZone);

/** `2026年11月30日(月)` for a `YYYY-MM-DD` date. */
export function longDate(date) {
  const [y, m, d] = date.split('-').map(Number);
  const weekday = WEEKDAYS[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
  return `${y}年${m}月${d}日(${weekday})`;
}

/** `11月30日(月)` for a `YYYY-MM-DD` date. */
export function shortDate(date) {
  return longDate(date).replace(/^\d+年/, '');
}

/** The seven `YYYY-MM-DD` dates, Monday to Sunday, of the week `date` is in. */
export function weekOf(date) {
  const [y, m, d] = date.split('-').map(Number);
  const monday = addDays(date, -((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7));
  return Array.from({ length: 7 }, (_, i) => addDays(monday, i));
}

/** A `YYYY-MM-DD` date moved by `days`. */
export function addDays(date, days) {
  const [y, m, d] = date.split('-').map(Number);
  const moved = new Date(Date.UTC(y, m - 1, d + days));
  return `${moved.getUTCFullYear()}-${pad(moved.getUTCMonth() + 1)}-${pad(moved.getUTCDate())}`;
}

/** `13:00` */
export function time(instant, timeZone) {
  const p = parts(new Date(instant), timeZone);
  return `${pad(p.hour)}:${pad(p.minute)}`;
}

/** `2022/08/30(火) 13:00` */
export function dateTime(instant, timeZone) {
  const p = parts(new Date(instant), timeZone);
  const weekday = WEEKDAYS[new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay()];
  return `${p.year}/${pad(p.month)}/${pad(p.day)}(${weekday}) ${pad(p.hour)}:${pad(p.minute)}`;
}

/** `2022/08/30(火) 13:00:05`: a moment to the second, as a record of what happened. */
export function dateTimeSeconds(instant, timeZone) {
  const p = parts(new Date(instant), timeZone);
  return `${dateTime(instant, timeZone)}:${pad(p.second)}`;
}

/** `2022/08/30 13:00:05`, a moment as spreadsheets read it (Excel takes it for a date and time). */
export function sheetDateTime(instant, timeZone) {
  const p = parts(new Date(instant), timeZone);
  return `${p.year}/${pad(p.month)}/${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** The instant a clinic-local `YYYY-MM-DD` date begins, in the zone. */
export const startOfDay = (date, timeZone) => fromLocalInput(`${date}T00:00`, timeZone);

/** The value a `datetime-local` input shows for an instant, in the zone. */
export function localInput(instant, timeZone) {
  const p = parts(new Date(instant), timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

/** The instant a `datetime-local` value names in the zone (not in the browser's zone). */
export function fromLocalInput(value, timeZone) {
  const [date, clock] = value.split('T');
  const [y, mo, d] = date.split('-').map(Number);
  const [h, mi] = clock.split(':').map(Number);
  const wanted = Date.UTC(y, mo - 1, d, h, mi);
  // Guess with the zone's offset at the wanted wall time, then correct once for a change of
  // offset in between (daylight saving).
  let instant = wanted;
  for (let i = 0; i < 2; i += 1) {
    const p = parts(new Date(instant), timeZone);
    const shown = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
    instant += wanted - shown;
  }
  return new Date(instant);
}

/**
 * `2022/08/30(火) 12:00` read straight off an RFC 3339 time as the server wrote it (in the
 * clinic's zone), for pages that do not know the zone's name (the patient page).
 */
export function wallClock(rfc3339) {
  const [, y, mo, d, hh, mi] = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(rfc3339) ?? [];
  if (!y) return rfc3339;
  const weekday = WEEKDAYS[new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d))).getUTCDay()];
  return `${y}/${mo}/${d}(${weekday}) ${hh}:${mi}`;
}

/**
 * `12月3日(木) 10:00`, read off an RFC 3339 time as the server wrote it: the consultation's
 * date and time as a patient says it.
 */
export function consultationTime(rfc3339) {
  const [, y, mo, d, hh, mi] = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(rfc3339) ?? [];
  if (!y) return rfc3339;
  const weekday = WEEKDAYS[new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d))).getUTCDay()];
  return `${Number(mo)}月${Number(d)}日(${weekday}) ${hh}:${mi}`;
}

/** 「患者さんが入室しました（10:02〜）」 while the patient has a call that is still on open; else null. */
export function patientArrival(since, status, timeZone) {
  if (!since || (status !== 'booked' && status !== 'in_call')) return null;
  return `患者さんが入室しました（${time(since, timeZone)}〜）`;
}

/** What shows in place of personal data an administrator erased (SPEC §9). */
export const ERASED = '（削除済み）';

/**
 * A list entry's name: the patient's, or a video URL's title; 「（削除済み）」 once erased.
 */
export function entryName(entry) {
  if (entry.erased) return ERASED;
  return entry.display_name || (entry.kind === 'video_url' ? '（タイトルなし）' : '');
}

/**
 * A destination as people write it: a Japanese mobile number `+819012345678` as
 * `090-1234-5678` (the API keeps E.164); anything else as it is.
 */
export function destinationForPeople(channel, destination) {
  if (destination === null) return ERASED;
  const mobile = channel === 'sms' && /^\+81([789]0)(\d{4})(\d{4})$/.exec(destination);
  return mobile ? `0${mobile[1]}-${mobile[2]}-${mobile[3]}` : destination;
}
