// 患者検索: the clinic's appointments of any day found by patient name (or a word of it, or how
// it begins), a video URL's title or カルテ番号. The name opens the appointment in the side
// panel. The query is sent in a POST body and kept only in this page's memory: never in the
// address bar, so it stays out of the history, shared links and proxy logs.

import { post } from './lib/api.js';
import { fill, h, icon } from './lib/dom.js';
import { dateTime, entryName, time } from './lib/format.js';
import { MODE_LABELS, STATUS_LABELS } from './lib/labels.js';
import { arrivalNote, listLoader } from './lib/lists.js';

const EMPTY_QUERY = '患者名またはカルテ番号を入力してください。';

export function searchView(ctx, main) {
  const error = h('p', { class: 'field-error', id: 'search-query-error', 'aria-live': 'polite' });
  const input = h('input', {
    type: 'search',
    id: 'search-query',
    // No name: even a form submitted without this script would not put the query in a URL.
    autocomplete: 'off',
    enterkeyhint: 'search',
    maxlength: '100',
    'aria-describedby': 'search-query-hint search-query-error',
  });
  const results = h('div', { class: 'search-results' });
  const form = h('form', { class: 'search-form', role: 'search', method: 'post' },
    h('label', { for: 'search-query' }, '患者名またはカルテ番号'),
    h('div', { class: 'search-row' }, input, h('button', { type: 'submit', class: 'primary' }, '検索')),
    h('p', { class: 'hint', id: 'search-query-hint' },
      '姓・名のどちらかだけでも、カルテ番号でも探せます（最初の数文字だけでも可）。全角・半角、カタカナ・ひらがなは区別しません。'),
    error);
  fill(main, h('section', { class: 'search' }, h('h1', { class: 'view-title' }, '患者検索'), form, results));

  let query = '';
  const load = listLoader(results, () => query, (answer) => show(ctx, results, answer),
    (text) => post('/api/v1/appointments/search', { query: text }));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const typed = input.value.trim();
    fill(error, typed ? '' : EMPTY_QUERY);
    input.setAttribute('aria-invalid', typed ? 'false' : 'true');
    if (!typed) {
      input.focus();
      return;
    }
    query = typed;
    load();
  });

  // Live changes re-run the search shown, if there is one.
  const refresh = () => (query ? load() : undefined);
  return { readModels: ['patient_search', 'presence'], refresh };
}

function show(ctx, results, answer) {
  if (answer.entries.length === 0) {
    fill(results, h('p', { class: 'empty', role: 'status' }, '該当する予約はありません。'));
    return;
  }
  const count = answer.more
    ? `新しい順に${answer.entries.length}件を表示しています。ほかにも該当する予約があります。名前やカルテ番号をもう少し入力すると絞り込めます。`
    : `${answer.entries.length}件の予約が見つかりました。`;
  fill(results,
    h('p', { class: 'result-count', role: 'status' }, count),
    h('div', { class: 'table-scroll' },
      h('table', { class: 'search-table' },
        h('thead', {}, h('tr', {}, ['日時', '患者名', 'カルテ番号', '診療メニュー', '診察方式', '担当医師', '状態'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, answer.entries.map((e) => row(ctx, e))))));
}

function row(ctx, entry) {
  const video = entry.kind === 'video_url';
  // `2022/08/30(火) 13:00`: the day, then the start.
  const [day, start] = dateTime(entry.start_at, ctx.tz).split(' ');
  return h('tr', { class: `status-${entry.status}`, dataset: { appointmentId: entry.appointment_id } },
    h('td', { class: 'when' },
      h('time', { datetime: entry.start_at },
        h('span', {}, day), ' ', h('span', {}, `${start}〜${time(entry.end_at, ctx.tz)}`))),
    h('td', { class: 'patient' },
      entry.video ? h('span', { class: 'video-mark' }, icon('video'), h('span', { class: 'visually-hidden' }, 'ビデオ通話 ')) : null,
      h('button', {
        type: 'button',
        class: 'link patient-name',
        dataset: { focusKey: `hit-${entry.appointment_id}` },
        onclick: () => ctx.appointment.show(entry.appointment_id),
      }, entryName(entry))),
    h('td', {}, entry.chart_number ?? ''),
    h('td', {}, video ? 'ビデオ通話URL' : entry.menu_name ?? ''),
    h('td', {}, MODE_LABELS[entry.mode] ?? ''),
    h('td', {}, ctx.doctorName(entry.doctor_id)),
    h('td', {}, STATUS_LABELS[entry.status] ?? entry.status, arrivalNote(entry, ctx.tz)));
}
