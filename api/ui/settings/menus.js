// 設定 > 診療メニュー: every treatment menu, those no longer taken too; adding and editing one
// (name, modes, first-visit and revisit minutes, booking fee), and 受付停止 / 受付再開. A stopped
// menu cannot be booked; bookings made with it keep what they copied from it.

import { post } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { checkboxes, clearErrors, field, formError, setFieldError, showProblem } from '../lib/forms.js';
import { MODE_LABELS } from '../lib/labels.js';
import { listLoader } from '../lib/lists.js';
import { fieldMessage } from '../lib/messages.js';
import { confirmDialog } from '../lib/ui.js';
import { changeShown, closePanel, openPanel, statusLine, table } from './common.js';

const yen = (amount) => `${amount.toLocaleString('ja-JP')}円`;

export function menusTab(ctx, body) {
  const status = statusLine();
  const list = h('div');
  fill(body,
    h('div', { class: 'settings-head' },
      h('h2', {}, '診療メニュー'),
      h('button', { type: 'button', class: 'primary', dataset: { focusKey: 'add-menu' }, onclick: () => menuForm(null) }, '診療メニューを追加')),
    status.element,
    list);
  const refresh = listLoader(list, () => '/api/v1/admin/menus', (menus) => fill(list,
    menus.items.length === 0
      ? h('p', { class: 'empty' }, '診療メニューがありません。「診療メニューを追加」から登録してください。')
      : table('menus-table', ['メニュー名', '診察方式', '診察時間', '予約料', '状態', '操作'], menus.items.map(row))));

  function row(menu) {
    return h('tr', { class: menu.active ? null : 'inactive', dataset: { menuId: menu.id } },
      h('td', {}, menu.name),
      h('td', {}, menu.modes.map((m) => MODE_LABELS[m] ?? m).join('・')),
      h('td', {}, `初診 ${menu.duration_first_min}分・再診 ${menu.duration_revisit_min}分`),
      h('td', {}, menu.booking_fee_yen > 0 ? yen(menu.booking_fee_yen) : 'なし'),
      h('td', {}, menu.active ? '受付中' : '受付停止'),
      h('td', {}, h('div', { class: 'row-actions' },
        h('button', { type: 'button', dataset: { focusKey: `edit-${menu.id}` }, onclick: () => menuForm(menu) }, '編集'),
        menu.active
          ? h('button', { type: 'button', class: 'danger', dataset: { focusKey: `active-${menu.id}` }, onclick: () => setActive(menu, false) }, '受付停止')
          : h('button', { type: 'button', dataset: { focusKey: `active-${menu.id}` }, onclick: () => setActive(menu, true) }, '受付再開'))));
  }

  /** 診療メニューを追加 (`menu` null) or 編集. */
  function menuForm(menu) {
    const minutes = () => h('input', { type: 'number', min: '5', max: '240', step: '1', inputmode: 'numeric' });
    const name = h('input', { type: 'text', maxlength: '100', value: menu?.name ?? '', autocomplete: 'off' });
    const first = minutes();
    const revisit = minutes();
    const fee = h('input', { type: 'number', min: '0', max: '1000000', step: '1', inputmode: 'numeric' });
    first.value = menu?.duration_first_min ?? '';
    revisit.value = menu?.duration_revisit_min ?? '';
    fee.value = menu?.booking_fee_yen ?? 0;
    const submit = h('button', { type: 'submit', class: 'primary' }, menu ? '保存' : '追加する');
    const form = h('form', { class: 'settings-form', novalidate: true },
      field({ label: 'メニュー名', name: 'name', control: name, required: true }),
      checkboxes({ legend: '診察方式', name: 'modes', options: [['in_person', '対面'], ['online', 'オンライン']],
        values: menu?.modes ?? ['in_person', 'online'] }),
      field({ label: '初診の診察時間（分）', name: 'duration_first_min', control: first, required: true }),
      field({ label: '再診の診察時間（分）', name: 'duration_revisit_min', control: revisit, required: true }),
      field({ label: '予約料（円）', name: 'booking_fee_yen', control: fee,
        hint: '自費の予約料です。ない場合は0にしてください。院内予約（非会員）では徴収しません。' }),
      menu ? h('p', { class: 'hint' }, '変更は、これからの予約に使われます。登録済みの予約の内容は変わりません。') : null,
      formError(),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => closePanel(ctx) }, '戻る'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const numbers = {};
      const wrong = [];
      for (const [key, input] of [['duration_first_min', first], ['duration_revisit_min', revisit], ['booking_fee_yen', fee]]) {
        numbers[key] = Number(input.value);
        if (input.value.trim() === '' || !Number.isInteger(numbers[key])) {
          setFieldError(form, key, fieldMessage(key));
          wrong.push(input);
        }
      }
      if (wrong.length) {
        wrong[0].focus();
        return;
      }
      const request = {
        name: name.value,
        modes: [...form.querySelectorAll('input[name="modes"]:checked')].map((box) => box.value),
        ...numbers,
      };
      submit.disabled = true;
      try {
        const saved = menu
          ? await changeShown('PATCH', `/api/v1/admin/menus/${menu.id}`, request, menu, { status, reload: refresh })
          : await post('/api/v1/admin/menus', request);
        closePanel(ctx);
        if (!saved) return;
        status.say(menu ? `「${saved.name}」を保存しました。` : `「${saved.name}」を追加しました。`);
        refresh();
      } catch (problem) {
        showProblem(form, problem);
        submit.disabled = false;
      }
    });
    openPanel(ctx, menu ? '診療メニューの編集' : '診療メニューの追加', form);
  }

  /** 受付停止 (after a confirmation) or 受付再開. */
  async function setActive(menu, active) {
    status.clear();
    if (!active && !(await confirmDialog({
      title: '受付停止',
      message: `「${menu.name}」の受付を停止しますか？新しい予約ではこのメニューを選べなくなります。登録済みの予約はそのまま残ります。`,
      confirm: '受付停止',
      danger: true,
    }))) return;
    try {
      const saved = await changeShown('PATCH', `/api/v1/admin/menus/${menu.id}`, { active }, menu, { status, reload: refresh });
      if (!saved) return;
      status.say(active ? `「${saved.name}」の受付を再開しました。` : `「${saved.name}」の受付を停止しました。`);
      refresh();
    } catch (problem) {
      status.fail(problem);
    }
  }

  return { refresh };
}
