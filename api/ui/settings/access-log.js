// 設定 > アクセスログ, for administrators and auditors (the server's `Inspector`): who signed in
// and out, and which staff member read or changed what, when, as the server recorded it
// (GET /api/v1/admin/access-log). Records show oldest first, the API's order, a page at a
// time (「さらに読み込む」 follows `next`), narrowed by staff member, appointment and a period of
// clinic-local dates. 「CSVダウンロード」 writes every record the filters match into a CSV made
// here, in the browser (UTF-8 with a BOM, so Excel in Japan opens it as it is).
//
// The log is read only when asked (表示, さらに読み込む, CSV): a live update of 設定 or a
// reconnection leaves what is shown as it is, since every read of the log is itself a record
// in it.

import { get } from '../lib/api.js';
import { fill, focusByKey, h } from '../lib/dom.js';
import { clearErrors, field, formError, setFieldError } from '../lib/forms.js';
import { addDays, dateTimeSeconds, sheetDateTime, startOfDay, today } from '../lib/format.js';
import { ACCESS_ACTION_LABELS, ACCESS_OUTCOME_LABELS } from '../lib/labels.js';
import { errorParagraph, fieldMessage } from '../lib/messages.js';
import { statusLine, table } from './common.js';

/** Records per page on the screen, and per request of the CSV (the server's maximum). */
const PAGE = 100;
const CSV_PAGE = 500;
/** Beyond this many records the CSV is not made: a shorter period is asked for instead. */
const CSV_MAX = 100_000;
/** The period shown first: the last week, today included. */
const DEFAULT_DAYS = 7;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What a record concerns, by the method and route the server recorded (`GET
 * /api/v1/appointments/{id}`); a route not named here is shown as it was recorded.
 */
const RESOURCES = {
  'POST /api/v1/login': 'ログイン',
  'POST /api/v1/logout': 'ログアウト',
  'GET /api/v1/me': 'ログイン中の職員情報',
  'POST /api/v1/password': 'パスワード変更',
  'POST /api/v1/two-factor/enrolment': '2段階認証の設定開始',
  'POST /api/v1/two-factor/enrolment/confirm': '2段階認証の設定',
  'POST /api/v1/two-factor/disable': '2段階認証の解除',
  'GET /api/v1/schedule': '予約一覧',
  'GET /api/v1/reception': '受付一覧',
  'POST /api/v1/appointments/search': '患者検索',
  'GET /api/v1/outbox': '送信ボックス',
  'GET /api/v1/live': '画面の自動更新',
  'GET /api/v1/doctors': '医師一覧',
  'GET /api/v1/menus': '診療メニュー一覧',
  'POST /api/v1/appointments': '予約の作成',
  'POST /api/v1/video-calls': 'ビデオ通話URLの作成',
  'GET /api/v1/appointments/{id}': '予約の詳細',
  'PATCH /api/v1/appointments/{id}': '予約の編集',
  'POST /api/v1/appointments/{id}/send-url': '患者用URLの送信',
  'POST /api/v1/appointments/{id}/resend-url': '患者用URLの再送',
  'POST /api/v1/appointments/{id}/cancel': '予約のキャンセル',
  'POST /api/v1/appointments/{id}/erase': '個人情報の削除',
  'POST /api/v1/appointments/{id}/start-call': 'ビデオ通話の開始',
  'POST /api/v1/appointments/{id}/end-call': 'ビデオ通話の終了',
  'POST /api/v1/appointments/{id}/reissue-patient-url': '患者用URLの再発行',
  'GET /api/v1/appointments/{id}/events': '予約の履歴',
  'GET /api/v1/appointments/{id}/presence': '患者の入室状況',
  'GET /api/v1/call-links/{token}': 'ビデオ通話画面',
  'GET /api/v1/media/clinic/{token}': 'ビデオ通話の映像・音声',
  'POST /api/v1/destinations/check': '送信先の確認',
  'GET /api/v1/setup-links/{token}': 'パスワード設定URLの表示',
  'POST /api/v1/setup-links/{token}': 'パスワード設定URLでのパスワード設定',
  'GET /api/v1/admin/clinic': '医療機関情報',
  'PATCH /api/v1/admin/clinic': '医療機関情報の変更',
  'GET /api/v1/admin/staff': 'スタッフ一覧',
  'POST /api/v1/admin/staff': 'スタッフの招待',
  'PATCH /api/v1/admin/staff/{id}': 'スタッフの変更',
  'POST /api/v1/admin/staff/{id}/setup-url': 'パスワード再設定URLの発行',
  'DELETE /api/v1/admin/staff/{id}/two-factor': 'スタッフの2段階認証の解除',
  'PUT /api/v1/admin/two-factor': '2段階認証の必須設定',
  'GET /api/v1/admin/menus': '診療メニュー',
  'POST /api/v1/admin/menus': '診療メニューの追加',
  'PATCH /api/v1/admin/menus/{id}': '診療メニューの変更',
  'GET /api/v1/admin/hours': '診療時間',
  'PUT /api/v1/admin/hours': '診療時間の変更',
  'GET /api/v1/admin/closures': '休診日',
  'POST /api/v1/admin/closures': '休診日の追加',
  'DELETE /api/v1/admin/closures/{id}': '休診日の削除',
  'GET /api/v1/admin/integrations': '外部連携',
  'POST /api/v1/admin/integrations': '外部連携の追加',
  'DELETE /api/v1/admin/integrations/{id}': '外部連携の削除',
  'GET /api/v1/admin/access-log': 'アクセスログ',
  'GET /api/v1/audit/proof': '記録の証明',
};

const resourceText = (resource) => RESOURCES[resource] ?? resource;
const actionText = (action) => ACCESS_ACTION_LABELS[action] ?? action;
const outcomeText = (outcome) => ACCESS_OUTCOME_LABELS[outcome] ?? outcome;

/** Who acted: the staff member's name, or what is known of them. */
function staffText(record) {
  if (record.staff_name) return record.staff_name;
  if (record.staff_id) return '（不明な職員）';
  return record.action === 'sign_in' ? '不明なアドレス' : '—';
}

/**
 * An appointment's id as the table shows it: its last 8 characters, the random end of a
 * UUIDv7 (its beginning is the time it was made, much the same for a day's appointments).
 */
const shortId = (id) => `…${id.slice(-8)}`;

/** `YYYYMMDD` of a `YYYY-MM-DD` date. */
const compact = (date) => date.replaceAll('-', '');

export function accessLogTab(ctx, body) {
  const status = statusLine();
  const list = h('div', { class: 'access-log-list' });

  // 職員: administrators choose among the whole staff, active or not; auditors may not read
  // the staff list (403), so theirs is the doctors, themselves and whoever the records name.
  const staffSelect = h('select', {}, h('option', { value: '' }, 'すべての職員'));
  const staffNames = new Map([[ctx.staffId, ctx.staffName], ...ctx.doctors.map((d) => [d.id, d.name])]);
  const inactive = new Set();
  function fillStaff() {
    const chosen = staffSelect.value;
    fill(staffSelect, h('option', { value: '' }, 'すべての職員'),
      [...staffNames].sort((a, b) => a[1].localeCompare(b[1], 'ja'))
        .map(([id, name]) => h('option', { value: id }, inactive.has(id) ? `${name}（無効）` : name)));
    staffSelect.value = staffNames.has(chosen) ? chosen : '';
  }
  function seeStaff(records) {
    const before = staffNames.size;
    for (const r of records) {
      if (r.staff_id && r.staff_name && !staffNames.has(r.staff_id)) staffNames.set(r.staff_id, r.staff_name);
    }
    if (staffNames.size !== before) fillStaff();
  }
  let staffLoading = false;
  async function loadStaff() {
    if (!ctx.admin || staffLoading) return;
    staffLoading = true;
    try {
      const roster = await get('/api/v1/admin/staff');
      for (const member of roster.items) {
        staffNames.set(member.id, member.name);
        if (member.active) inactive.delete(member.id);
        else inactive.add(member.id);
      }
      fillStaff();
    } catch {
      // The doctors and the names in the records still make a list to choose from.
    } finally {
      staffLoading = false;
    }
  }
  fillStaff();

  const appointment = h('input', { type: 'text', maxlength: '36', autocomplete: 'off', spellcheck: 'false', class: 'appointment-id' });
  const from = h('input', { type: 'date', value: addDays(today(ctx.tz), 1 - DEFAULT_DAYS) });
  const to = h('input', { type: 'date', value: today(ctx.tz) });
  const showButton = h('button', { type: 'submit', class: 'primary' }, '表示');
  const form = h('form', { class: 'access-log-filters', role: 'search', 'aria-label': 'アクセスログの絞り込み', novalidate: true },
    field({ label: '職員', name: 'staff_id', control: staffSelect }),
    field({ label: '予約ID', name: 'appointment_id', control: appointment }),
    field({ label: '期間（開始日）', name: 'since', control: from }),
    field({ label: '期間（終了日）', name: 'until', control: to }),
    h('div', { class: 'actions' }, showButton),
    formError());
  const csvButton = h('button', { type: 'button', dataset: { focusKey: 'access-log-csv' }, onclick: () => downloadCsv() }, 'CSVダウンロード');

  fill(body,
    h('div', { class: 'settings-head' }, h('h2', {}, 'アクセスログ'), csvButton),
    h('p', { class: 'hint' },
      'ログイン・ログアウトと、職員が予約などを閲覧・変更した記録です。古い順に表示します。日時は医療機関のタイムゾーンで表示します。'
      + 'CSVダウンロードでは、条件に合う記録をすべて書き出します。'),
    form,
    status.element,
    list);

  /**
   * The query of the filters as they are in the form, or null after saying next to the field
   * what is wrong (nothing is sent then).
   */
  function filters() {
    clearErrors(form);
    const query = new URLSearchParams();
    if (staffSelect.value) query.set('staff_id', staffSelect.value);
    const id = appointment.value.trim();
    if (id && !UUID.test(id)) {
      setFieldError(form, 'appointment_id', fieldMessage('appointment_id'));
      appointment.focus();
      return null;
    }
    if (id) query.set('appointment_id', id.toLowerCase());
    if (from.value && to.value && to.value < from.value) {
      setFieldError(form, 'until', fieldMessage('until'));
      to.focus();
      return null;
    }
    if (from.value) query.set('since', startOfDay(from.value, ctx.tz).toISOString());
    if (to.value) query.set('until', startOfDay(addDays(to.value, 1), ctx.tz).toISOString());
    return query;
  }

  // What is shown: the query behind it, its records and where the next page starts.
  let shown = null;
  let loads = 0;

  async function load(query) {
    loads += 1;
    const mine = loads;
    shown = { query, items: [], next: null, failed: false };
    fill(list, h('p', { class: 'loading', role: 'status' }, '読み込み中…'));
    showButton.disabled = true;
    try {
      const page = await get(`/api/v1/admin/access-log?${query}&limit=${PAGE}`);
      if (mine !== loads) return;
      shown.items = page.items;
      shown.next = page.next;
      seeStaff(page.items);
      draw();
    } catch (problem) {
      if (mine !== loads) return;
      shown.failed = true;
      fill(list, errorParagraph(problem));
    } finally {
      if (mine === loads) showButton.disabled = false;
    }
  }

  async function more(button) {
    const mine = loads;
    button.disabled = true;
    fill(button, '読み込み中…');
    try {
      const page = await get(`/api/v1/admin/access-log?${shown.query}&after=${shown.next}&limit=${PAGE}`);
      if (mine !== loads) return;
      shown.items.push(...page.items);
      shown.next = page.next;
      seeStaff(page.items);
      draw();
      // The keyboard stays on the button, for the page after this one.
      focusByKey('access-log-more');
    } catch (problem) {
      if (mine !== loads) return;
      button.disabled = false;
      fill(button, 'さらに読み込む');
      fill(list.querySelector('.more-error'), errorParagraph(problem));
    }
  }

  function draw() {
    if (shown.items.length === 0) {
      fill(list, h('p', { class: 'empty', role: 'status' }, '該当する記録はありません。'));
      return;
    }
    fill(list,
      h('p', { class: 'result-count', role: 'status' },
        `${shown.items.length}件を表示しています${shown.next === null ? '。' : '（続きがあります）。'}`),
      table('access-log-table', ['日時', '職員', '操作', '対象', '予約', '結果', '端末'], shown.items.map(row)),
      h('div', { class: 'more-error' }),
      shown.next === null ? null
        : h('div', { class: 'actions' }, h('button', {
          type: 'button', dataset: { focusKey: 'access-log-more' }, onclick: (event) => more(event.currentTarget),
        }, 'さらに読み込む')));
  }

  function row(record) {
    return h('tr', { class: `outcome-${record.outcome}`, dataset: { position: record.position } },
      h('td', {}, h('time', { datetime: record.at }, dateTimeSeconds(record.at, ctx.tz))),
      h('td', {}, staffText(record)),
      h('td', {}, actionText(record.action)),
      h('td', { title: record.resource }, resourceText(record.resource)),
      h('td', {}, record.appointment_id
        ? h('button', {
          type: 'button',
          class: 'link appointment-id',
          title: `予約ID ${record.appointment_id} で絞り込む`,
          dataset: { appointmentId: record.appointment_id },
          onclick: () => {
            appointment.value = record.appointment_id;
            form.requestSubmit();
          },
        }, shortId(record.appointment_id))
        : '—'),
      h('td', { class: 'outcome' }, outcomeText(record.outcome)),
      h('td', {}, record.client || '—'));
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    status.clear();
    const query = filters();
    if (query) load(query);
  });

  /** Every record the filters in the form match, as a CSV file to save. */
  async function downloadCsv() {
    status.clear();
    const query = filters();
    if (!query) return;
    csvButton.disabled = true;
    fill(csvButton, 'CSVを作成中…');
    try {
      const records = [];
      let after = null;
      do {
        const page = await get(`/api/v1/admin/access-log?${query}&limit=${CSV_PAGE}${after === null ? '' : `&after=${after}`}`);
        records.push(...page.items);
        // A full page is followed even without `next`: the server (up to now) caps its look-ahead
        // at 500 rows, so a page of 500 never says whether more come. An empty page ends it.
        after = page.next ?? (page.items.length === CSV_PAGE ? page.items.at(-1).position : null);
        if (records.length > CSV_MAX) {
          status.fail({ code: 'too_many_records' });
          return;
        }
      } while (after !== null);
      if (records.length === 0) {
        status.say('該当する記録はありません。CSVは作成しませんでした。');
        return;
      }
      save(csv(records, ctx.tz), `access-log-${compact(today(ctx.tz))}.csv`);
      status.say(`${records.length.toLocaleString('ja-JP')}件の記録をCSVに書き出しました。`);
    } catch (problem) {
      if (problem.field && setFieldError(form, problem.field, fieldMessage(problem.field))) return;
      status.fail(problem);
    } finally {
      csvButton.disabled = false;
      fill(csvButton, 'CSVダウンロード');
    }
  }

  // The log is read when asked: the first time the tab is refreshed (it is opened), and again
  // only after that failed (a reconnection, say); not on every live update.
  function refresh() {
    loadStaff();
    if (shown === null || shown.failed) form.requestSubmit();
  }

  return { refresh };
}

/** The CSV's columns: heading, and the value of a record. */
const COLUMNS = [
  ['記録番号', (r) => r.position],
  ['日時', (r, tz) => sheetDateTime(r.at, tz)],
  ['日時（UTC）', (r) => r.at],
  ['職員', staffText],
  ['職員ID', (r) => r.staff_id ?? ''],
  ['操作', (r) => actionText(r.action)],
  ['対象', (r) => resourceText(r.resource)],
  ['リクエスト', (r) => r.resource],
  ['予約ID', (r) => r.appointment_id ?? ''],
  ['結果', (r) => outcomeText(r.outcome)],
  ['端末', (r) => r.client ?? ''],
  ['リクエストID', (r) => r.request_id ?? ''],
  ['メールアドレスのHMAC（ログイン）', (r) => r.subject_hmac ?? ''],
];

/**
 * One CSV field (RFC 4180): quoted when it holds a quote, a comma or a line break, its quotes
 * doubled. Text a spreadsheet would take for a formula (=, +, -, @ first) gets a leading `'`.
 */
function csvField(value) {
  let text = String(value ?? '');
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The records as CSV: a BOM (Excel then reads UTF-8), a Japanese header, CRLF line ends. */
export function csv(records, tz) {
  const lines = [COLUMNS.map(([heading]) => csvField(heading)).join(',')];
  for (const record of records) lines.push(COLUMNS.map(([, value]) => csvField(value(record, tz))).join(','));
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

/** Save `text` as the file `name`, through a link to a Blob (nothing leaves the browser). */
function save(text, name) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
