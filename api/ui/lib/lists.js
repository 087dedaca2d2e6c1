// What the day lists (schedule, reception) share: the day kept in the address
// (`?date=YYYY-MM-DD`) so a reload or a shared link shows the same day, the previous/today/next
// navigation, and loading that shows only the newest answer.

import { get } from './api.js';
import { fill, h } from './dom.js';
import { addDays, longDate, today } from './format.js';
import { describe } from './messages.js';

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

/**
 * A refresh for a list in `main`: GET `path()` and `show` the answer, or the error in its
 * place. Only the newest answer is shown, however the requests overtake each other.
 */
export function listLoader(main, path, show) {
  let serial = 0;
  return async () => {
    serial += 1;
    const mine = serial;
    let result;
    let problem = null;
    try {
      result = await get(path());
    } catch (error) {
      problem = error;
    }
    if (mine !== serial) return;
    if (problem) fill(main, h('p', { class: 'form-error', role: 'alert' }, describe(problem)));
    else show(result);
  };
}
