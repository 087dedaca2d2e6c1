// What the day lists (schedule, reception) share: the day kept in the address
// (`?date=YYYY-MM-DD`) so a reload or a shared link shows the same day, a frame with the
// previous/today/next navigation that stays put while the list under it is refreshed, and
// loading that shows only the newest answer; also the note that a patient has arrived.

import { get } from './api.js';
import { fill, h, keepingFocus } from './dom.js';
import { addDays, longDate, patientArrival, today } from './format.js';
import { errorParagraph } from './messages.js';

function dateFromAddress(tz) {
  const date = new URLSearchParams(location.search).get('date');
  return /^\d{4}-\d{2}-\d{2}$/.test(date ?? '') ? date : today(tz);
}

export function saveToAddress(params) {
  const search = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === false) search.delete(key);
    else search.set(key, String(value));
  }
  history.replaceState(null, '', `${location.pathname}?${search}`);
}

/**
 * How far the day navigation moves and what it says: by a day (`BY_DAY`, the default), or by
 * whatever a view shows at once (a week). `heading(date)` is the title of what is shown.
 */
export const BY_DAY = { days: 1, back: '‹ 前日', backName: '前の日', forward: '翌日 ›', forwardName: '次の日', heading: longDate };

/**
 * The frame of a day list: `title`, the day navigation, `extras` (controls), and `list`, the
 * element refreshes fill. `onChange` runs when the person picks another day; `go(date)` picks
 * one from the code, and `setStep` changes how far the navigation moves (`BY_DAY`).
 */
export function dayFrame({ title, tz, onChange, extras = [] }) {
  let date = dateFromAddress(tz);
  let step = BY_DAY;
  const heading = h('h2', { class: 'day-title' });
  const picker = h('input', { type: 'date', value: date, 'aria-label': '日付を選ぶ' });
  const back = h('button', { type: 'button', onclick: () => go(addDays(date, -step.days)) });
  const forward = h('button', { type: 'button', onclick: () => go(addDays(date, step.days)) });
  const label = () => {
    fill(heading, step.heading(date));
    fill(back, step.back);
    back.setAttribute('aria-label', step.backName);
    fill(forward, step.forward);
    forward.setAttribute('aria-label', step.forwardName);
  };
  const go = (d) => {
    date = d;
    if (picker.value !== d) picker.value = d;
    label();
    onChange(d);
  };
  label();
  picker.addEventListener('change', () => picker.value && go(picker.value));
  const list = h('div', { class: 'day-list' });
  const frame = h('section', { class: 'day-frame' },
    h('h1', { class: 'view-title' }, title),
    h('div', { class: 'day-nav' },
      back,
      h('button', { type: 'button', onclick: () => go(today(tz)) }, '今日'),
      forward,
      picker,
      heading),
    extras,
    list);
  return {
    frame,
    list,
    date: () => date,
    go,
    setStep(s) {
      step = s;
      label();
    },
  };
}

/** Entries asked for per page of a day list: the server's maximum, for the fewest requests. */
const PAGE_SIZE = 500;

/**
 * GET a paged day list to its end, following `next_cursor` until it is null, so nothing is
 * missing from the screen or a print: the first answer with the `entries` of every page.
 */
export async function getEveryPage(path) {
  const first = `${path}${path.includes('?') ? '&' : '?'}limit=${PAGE_SIZE}`;
  const answer = await get(first);
  const entries = [...answer.entries];
  let next = answer.next_cursor;
  while (next) {
    const page = await get(`${first}&cursor=${encodeURIComponent(next)}`);
    entries.push(...page.entries);
    next = page.next_cursor;
  }
  return { ...answer, entries, next_cursor: null };
}

/**
 * A refresh for `container`: `load` (a plain GET, or `getEveryPage` for a paged list)
 * `path()` and `show` the answer there, or the error in its place. Only the newest answer is
 * shown, however the requests overtake each other, and the keyboard focus survives the redraw.
 */
export function listLoader(container, path, show, load = get) {
  let serial = 0;
  return async () => {
    serial += 1;
    const mine = serial;
    let result;
    let problem = null;
    try {
      result = await load(path());
    } catch (error) {
      problem = error;
    }
    if (mine !== serial) return;
    keepingFocus(() => (problem ? fill(container, errorParagraph(problem)) : show(result)));
  };
}

/** A list entry's 「患者さんが入室しました（10:02〜）」, or null. */
export function arrivalNote(entry, timeZone) {
  const text = patientArrival(entry.patient_joined_at, entry.status, timeZone);
  return text ? h('span', { class: 'arrival' }, text) : null;
}
