// 設定 > 休診日: the closed days of the coming year, for the whole clinic or one doctor, each
// with its reason; adding one and removing one. The schedule shows a closed day's slots as
// 休診枠 (they can still be booked after a confirmation).

import { get, post } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { clearErrors, field, formError, setFieldError, showProblem } from '../lib/forms.js';
import { addDays, longDate, today } from '../lib/format.js';
import { errorParagraph } from '../lib/messages.js';
import { confirmDialog } from '../lib/ui.js';
import { changeShown, closePanel, openPanel, statusLine, table } from './common.js';

const WHOLE_CLINIC = '医療機関全体';

export function closuresTab(ctx, body) {
  const status = statusLine();
  const list = h('div');
  fill(body,
    h('div', { class: 'settings-head' },
      h('h2', {}, '休診日'),
      h('button', { type: 'button', class: 'primary', dataset: { focusKey: 'add-closure' }, onclick: () => closureForm() }, '休診日を追加')),
    h('p', { class: 'hint' }, '今日から1年先までの休診日です。休診日の予約枠は、スケジュールで休診枠として表示されます。'),
    status.element,
    list);

  // Everyone on the staff, to name the doctor of a closure even after they left.
  let staff = [];
  const target = (closure) => (closure.doctor_id
    ? staff.find((s) => s.id === closure.doctor_id)?.name ?? '（不明な医師）'
    : WHOLE_CLINIC);
  let loads = 0;

  async function refresh() {
    loads += 1;
    const mine = loads;
    const from = today(ctx.tz);
    let closures;
    try {
      [staff, closures] = await Promise.all([
        get('/api/v1/admin/staff').then((roster) => roster.items),
        get(`/api/v1/admin/closures?from=${from}&to=${addDays(from, 365)}`).then((answer) => answer.items),
      ]);
    } catch (problem) {
      if (mine === loads) fill(list, errorParagraph(problem));
      return;
    }
    if (mine !== loads) return;
    fill(list, closures.length === 0
      ? h('p', { class: 'empty' }, '予定されている休診日はありません。')
      : table('closures-table', ['日付', '対象', '理由', '操作'], closures.map((closure) => h('tr', { dataset: { closureId: closure.id } },
        h('td', {}, longDate(closure.date)),
        h('td', {}, target(closure)),
        h('td', {}, closure.reason),
        h('td', {}, h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'danger', onclick: () => remove(closure) }, '削除')))))));
  }

  function closureForm() {
    const date = h('input', { type: 'date', min: today(ctx.tz) });
    const who = h('select', {},
      h('option', { value: '' }, `${WHOLE_CLINIC}（すべての医師）`),
      staff.filter((s) => s.active && s.role === 'doctor').map((d) => h('option', { value: d.id }, d.name)));
    const reason = h('input', { type: 'text', maxlength: '200', autocomplete: 'off' });
    const submit = h('button', { type: 'submit', class: 'primary' }, '追加する');
    const form = h('form', { class: 'settings-form', novalidate: true },
      field({ label: '日付', name: 'date', control: date, required: true }),
      field({ label: '対象', name: 'doctor_id', control: who, hint: '医療機関全体か、休診する医師を選びます。' }),
      field({ label: '理由', name: 'reason', control: reason, required: true, hint: '例：年末年始、学会出張' }),
      formError(),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => closePanel(ctx) }, '戻る'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!date.value) {
        setFieldError(form, 'date', '日付を選んでください。');
        date.focus();
        return;
      }
      submit.disabled = true;
      const request = { date: date.value, reason: reason.value };
      if (who.value) request.doctor_id = who.value;
      try {
        const added = await post('/api/v1/admin/closures', request);
        closePanel(ctx);
        status.say(`${longDate(added.date)}を休診日にしました（${target(added)}）。`);
        refresh();
      } catch (problem) {
        showProblem(form, problem);
        submit.disabled = false;
      }
    });
    openPanel(ctx, '休診日の追加', form);
  }

  /** 削除, after a confirmation: the day opens again as its hours say. */
  async function remove(closure) {
    status.clear();
    if (!(await confirmDialog({
      title: '休診日の削除',
      message: `${longDate(closure.date)}の休診（${target(closure)}、${closure.reason}）を削除しますか？この日は診療時間どおりに予約を受け付けます。`,
      confirm: '削除する',
      danger: true,
    }))) return;
    try {
      const removed = await changeShown('DELETE', `/api/v1/admin/closures/${closure.id}`, undefined, closure, { status, reload: refresh });
      if (removed === false) return;
      status.say(`${longDate(closure.date)}の休診を削除しました。`);
    } catch (problem) {
      status.fail(problem);
    }
    refresh();
  }

  return { refresh };
}
