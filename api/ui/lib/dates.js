// The day a list shows, kept in the address (`?date=YYYY-MM-DD`) so a reload or a shared
// link shows the same day, with the previous/today/next navigation every list has.

import { h } from './dom.js';
import { addDays, longDate, today } from './format.js';

export function dateFromAddress(tz) {
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

/** Day navigation: ‹ 前日, 今日, 翌日 ›, a date picker and the day as a heading. */
export function dayNavigation({ date, tz, onChange }) {
  const picker = h('input', { type: 'date', value: date, 'aria-label': '日付を選ぶ', onchange: (e) => e.target.value && onChange(e.target.value) });
  return h('div', { class: 'day-nav' },
    h('button', { type: 'button', onclick: () => onChange(addDays(date, -1)), 'aria-label': '前の日' }, '‹ 前日'),
    h('button', { type: 'button', onclick: () => onChange(today(tz)) }, '今日'),
    h('button', { type: 'button', onclick: () => onChange(addDays(date, 1)), 'aria-label': '次の日' }, '翌日 ›'),
    picker,
    h('h1', { class: 'day-title' }, longDate(date)));
}

/** Call `load` but apply only the newest answer, however the requests overtake each other. */
export function latestOnly(load, apply) {
  let serial = 0;
  return async () => {
    serial += 1;
    const mine = serial;
    const result = await load();
    if (mine === serial) apply(result);
  };
}
