// 設定 > 診療時間: one doctor's week, Monday to Sunday, each day with its opening ranges (a day
// without any is closed), and the length of a slot. The schedule's slot grid follows it; times
// are the clinic's local times, typed as 09:00 (full-width digits too).

import { get } from '../lib/api.js';
import { fill, h, keepingFocus } from '../lib/dom.js';
import { clearErrors, field, formError, setFieldError, showProblem } from '../lib/forms.js';
import { errorParagraph } from '../lib/messages.js';
import { confirmDialog } from '../lib/ui.js';
import { changeShown, statusLine } from './common.js';

const DAYS = [['mon', '月曜日'], ['tue', '火曜日'], ['wed', '水曜日'], ['thu', '木曜日'], ['fri', '金曜日'], ['sat', '土曜日'], ['sun', '日曜日']];
const SLOT_MINUTES = [5, 10, 15, 20, 30, 60];
const BAD_TIME = '時刻は「09:00」のように、00:00から24:00までで入力してください。';

/** `09:00` from what a person typed (`9:00`, `０９：００`, `0900`, `9`), or null. */
function readTime(typed) {
  const ascii = typed.trim().replace(/[０-９：]/g, (c) => (c === '：' ? ':' : String.fromCharCode(c.charCodeAt(0) - 0xfee0)));
  const parts = /^(\d{1,2})(?::?(\d{2}))?$/.exec(ascii);
  if (!parts) return null;
  const [hours, minutes] = [Number(parts[1]), Number(parts[2] ?? 0)];
  if (minutes > 59 || hours > 24 || (hours === 24 && minutes > 0)) return null;
  return `${String(hours).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`;
}

export function hoursTab(ctx, body) {
  const status = statusLine();
  const doctorSelect = h('select', { id: 'hours-doctor' });
  const place = h('div');
  fill(body,
    h('h2', {}, '診療時間'),
    h('p', { class: 'hint' }, '医師ごとに、曜日ごとの診療時間と予約枠の長さを設定します。スケジュールの予約枠はこの設定に従います。時間帯のない曜日は休診です。'),
    h('div', { class: 'field hours-doctor' }, h('label', { for: 'hours-doctor' }, '医師'), doctorSelect),
    status.element,
    place);

  let doctors = [];
  // What the person typed and has not saved: never replaced by a live update.
  let editing = false;
  let loads = 0;
  const doctorName = () => doctors.find((d) => d.id === doctorSelect.value)?.name ?? '';

  doctorSelect.addEventListener('change', async () => {
    const chosen = doctorSelect.value;
    if (editing && !(await confirmDialog({
      title: '保存していない変更',
      message: '保存していない変更があります。変更を破棄して、別の医師の診療時間を表示しますか？',
      confirm: '破棄して表示する',
      danger: true,
    }))) {
      doctorSelect.value = doctorSelect.dataset.shown;
      return;
    }
    doctorSelect.value = chosen;
    status.clear();
    editing = false;
    load();
  });

  /** The doctors to choose from (someone just invited is among them), then the chosen one's week. */
  async function refresh() {
    if (editing) return;
    try {
      doctors = (await get('/api/v1/doctors')).items;
    } catch (problem) {
      fill(place, errorParagraph(problem));
      return;
    }
    const keep = [doctorSelect.value, ctx.doctorId].find((id) => doctors.some((d) => d.id === id)) ?? doctors[0]?.id;
    fill(doctorSelect, doctors.map((d) => h('option', { value: d.id }, d.name)));
    if (!keep) {
      fill(place, h('p', { class: 'empty' }, '医師が登録されていません。「スタッフ」で医師を招待してください。'));
      return;
    }
    doctorSelect.value = keep;
    await load();
  }

  /** The chosen doctor's week; only the newest answer is drawn. */
  async function load() {
    loads += 1;
    const mine = loads;
    const doctorId = doctorSelect.value;
    let hours;
    try {
      hours = await get(`/api/v1/admin/hours?doctor_id=${encodeURIComponent(doctorId)}`);
    } catch (problem) {
      if (mine === loads) fill(place, errorParagraph(problem));
      return;
    }
    if (mine !== loads || editing) return;
    doctorSelect.dataset.shown = doctorId;
    keepingFocus(() => fill(place, week(hours)));
  }

  function week(hours) {
    const slot = h('select', {},
      (SLOT_MINUTES.includes(hours.slot_min) ? SLOT_MINUTES : [...SLOT_MINUTES, hours.slot_min].sort((a, b) => a - b))
        .map((minutes) => h('option', { value: String(minutes) }, `${minutes}分`)));
    slot.value = String(hours.slot_min);
    const days = DAYS.map(([key, label]) => dayRow(key, label, hours.weekdays?.[key] ?? []));
    const save = h('button', { type: 'submit', class: 'primary', dataset: { focusKey: 'save-hours' } }, '保存');
    const form = h('form', { class: 'settings-form hours-form', novalidate: true },
      field({ label: '予約枠の長さ', name: 'slot_min', control: slot, hint: 'スケジュールの1枠の長さです。' }),
      h('table', { class: 'settings-table hours-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '曜日'), h('th', { scope: 'col' }, '診療時間'))),
        h('tbody', {}, days.map((d) => d.row))),
      formError(),
      h('div', { class: 'actions' }, save));
    form.addEventListener('input', () => { editing = true; });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      status.clear();
      const weekdays = {};
      let firstWrong = null;
      for (const [i, [key]] of DAYS.entries()) {
        const read = days[i].read();
        if (read.wrong) {
          setFieldError(form, `weekdays.${key}`, BAD_TIME);
          firstWrong ??= read.wrong;
        }
        weekdays[key] = read.ranges;
      }
      if (firstWrong) {
        firstWrong.focus();
        return;
      }
      save.disabled = true;
      const request = { doctor_id: doctorSelect.value, slot_min: Number(slot.value), weekdays };
      const reload = () => { editing = false; load(); };
      try {
        // A doctor without hours yet is at version 0.
        const saved = await changeShown('PUT', '/api/v1/admin/hours', request, hours, { status, reload });
        if (!saved) return;
        editing = false;
        keepingFocus(() => fill(place, week(saved)));
        status.say(`${doctorName()}さんの診療時間を保存しました。スケジュールの予約枠に反映されます。`);
      } catch (problem) {
        showProblem(form, problem);
        save.disabled = false;
      }
    });
    return form;
  }

  /**
   * One weekday's row: its ranges, each two times and 削除, and 時間帯を追加. `read()` gives
   * the ranges typed, leaving out a range left wholly empty, and the first input that is no time.
   */
  function dayRow(key, label, initial) {
    const ranges = initial.map((r) => ({ start: r.start, end: r.end }));
    const list = h('ul', { class: 'ranges' });
    const add = h('button', { type: 'button', class: 'add-range' }, '時間帯を追加');
    const draw = (focusIndex = null) => {
      fill(list, ranges.length === 0
        ? h('li', { class: 'closed-day' }, '休診')
        : ranges.map((range, i) => {
          const start = timeInput(`${label}の時間帯${i + 1}の開始`, range, 'start');
          const end = timeInput(`${label}の時間帯${i + 1}の終了`, range, 'end');
          const remove = h('button', { type: 'button', 'aria-label': `${label}の時間帯${i + 1}を削除`, onclick: () => {
            ranges.splice(i, 1);
            editing = true;
            draw();
            add.focus();
          } }, '削除');
          return h('li', { class: 'range' }, start, h('span', { 'aria-hidden': 'true' }, '〜'), end, remove);
        }));
      if (focusIndex !== null) list.querySelectorAll('input')[focusIndex * 2]?.focus();
    };
    add.addEventListener('click', () => {
      ranges.push({ start: '', end: '' });
      editing = true;
      draw(ranges.length - 1);
    });
    draw();
    const row = h('tr', { dataset: { field: `weekdays.${key}`, day: key } },
      h('th', { scope: 'row' }, label),
      h('td', {}, list, add, h('p', { class: 'field-error', 'aria-live': 'polite' })));
    const read = () => {
      let wrong = null;
      const inputs = [...list.querySelectorAll('input')];
      const typed = ranges.filter((r) => r.start.trim() || r.end.trim());
      const times = typed.map((r) => ({ start: readTime(r.start), end: readTime(r.end) }));
      times.forEach((r, i) => {
        const at = ranges.indexOf(typed[i]) * 2;
        if (!r.start) wrong ??= inputs[at];
        if (!r.end) wrong ??= inputs[at + 1];
      });
      return { ranges: times, wrong };
    };
    return { row, read };
  }

  function timeInput(name, range, end) {
    const input = h('input', {
      type: 'text', class: 'time', value: range[end], placeholder: end === 'start' ? '09:00' : '12:00',
      inputmode: 'numeric', maxlength: '5', autocomplete: 'off', 'aria-label': name,
    });
    input.addEventListener('input', () => { range[end] = input.value; });
    // Shown as it will be saved once the person leaves the field.
    input.addEventListener('change', () => {
      const time = readTime(input.value);
      if (time) input.value = range[end] = time;
    });
    return input;
  }

  return { refresh };
}
