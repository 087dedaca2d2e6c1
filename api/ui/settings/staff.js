// 設定 > スタッフ: everyone on the clinic's staff, active or not; inviting someone (their
// one-time set-up URL is shown once, to copy and hand over), changing a name, role or the
// administrator flag, deactivating (which signs them out at once) and reactivating, and a new
// set-up URL for someone who forgot their password.

import { post } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { clearErrors, field, formError, radios, showProblem } from '../lib/forms.js';
import { dateTime } from '../lib/format.js';
import { ROLE_LABELS } from '../lib/labels.js';
import { listLoader } from '../lib/lists.js';
import { confirmDialog, copyButton } from '../lib/ui.js';
import { changeShown, closePanel, openPanel, statusLine, table } from './common.js';

const ROLE_HINT = '医師：担当医師になり、ビデオ通話を開始・終了できます。受付：予約、URLの送信、編集、キャンセルができます。'
  + '監査：予約や履歴をすべて閲覧でき、変更はできません。';

export function staffTab(ctx, body) {
  const status = statusLine();
  const list = h('div');
  fill(body,
    h('div', { class: 'settings-head' },
      h('h2', {}, 'スタッフ'),
      h('button', { type: 'button', class: 'primary', dataset: { focusKey: 'invite' }, onclick: () => inviteForm() }, 'スタッフを招待')),
    status.element,
    list);
  const refresh = listLoader(list, () => '/api/v1/admin/staff', (roster) => fill(list,
    table('staff-table', ['名前', 'メールアドレス', '役割', '管理者', '状態', '操作'], roster.items.map(row))));

  function row(member) {
    const you = member.id === ctx.staffId;
    return h('tr', { class: member.active ? null : 'inactive', dataset: { staffId: member.id } },
      h('td', {}, member.name, you ? h('span', { class: 'you' }, '（あなた）') : null),
      h('td', {}, member.email),
      h('td', {}, ROLE_LABELS[member.role] ?? member.role),
      h('td', {}, member.admin ? '管理者' : '—'),
      h('td', {}, member.active ? '有効' : '無効'),
      h('td', {}, h('div', { class: 'row-actions' },
        h('button', { type: 'button', dataset: { focusKey: `edit-${member.id}` }, onclick: () => editForm(member) }, '編集'),
        member.active
          ? h('button', { type: 'button', class: 'danger', dataset: { focusKey: `active-${member.id}` }, onclick: () => setActive(member, false) }, '無効にする')
          : h('button', { type: 'button', dataset: { focusKey: `active-${member.id}` }, onclick: () => setActive(member, true) }, '有効にする'),
        member.active
          ? h('button', { type: 'button', dataset: { focusKey: `setup-${member.id}` }, onclick: () => newSetupUrl(member) }, 'パスワード再設定URLを発行')
          : null)));
  }

  /** The fields of a staff member's name, role and administrator flag, starting as `member`. */
  function memberFields(member) {
    const name = h('input', { type: 'text', maxlength: '100', value: member.name, autocomplete: 'off' });
    const admin = h('input', { type: 'checkbox', id: 'staff-admin', checked: member.admin });
    return {
      name,
      admin,
      nameField: field({ label: '名前', name: 'name', control: name, required: true }),
      roleField: [
        radios({ legend: '役割', name: 'role', options: Object.entries(ROLE_LABELS), value: member.role }),
        h('p', { class: 'hint' }, ROLE_HINT),
      ],
      adminField: h('div', { class: 'checkbox' },
        admin, h('label', { for: 'staff-admin' }, '管理者（この設定画面を使えます）')),
    };
  }

  function inviteForm() {
    const fields = memberFields({ name: '', role: 'doctor', admin: false });
    const email = h('input', { type: 'email', maxlength: '254', autocomplete: 'off' });
    const submit = h('button', { type: 'submit', class: 'primary' }, '招待する');
    const form = h('form', { class: 'settings-form', novalidate: true },
      fields.nameField,
      field({ label: 'メールアドレス', name: 'email', control: email, required: true, hint: 'ログインに使うメールアドレスです。' }),
      fields.roleField,
      fields.adminField,
      formError(),
      h('p', { class: 'hint' }, '招待すると、パスワードを設定するためのURLが表示されます。'),
      h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      try {
        const invited = await post('/api/v1/admin/staff', {
          name: fields.name.value, email: email.value, role: form.role.value, admin: fields.admin.checked,
        });
        showSetupUrl(invited.name, invited, `${invited.name}さんを招待しました。`,
          `${invited.name}さんがこのURLを開いてパスワードを設定すると、ログインできるようになります。`);
        refresh();
      } catch (problem) {
        showProblem(form, problem);
        submit.disabled = false;
      }
    });
    openPanel(ctx, 'スタッフを招待', form);
  }

  function editForm(member) {
    const fields = memberFields(member);
    const submit = h('button', { type: 'submit', class: 'primary' }, '保存');
    const form = h('form', { class: 'settings-form', novalidate: true },
      h('div', { class: 'field' }, h('span', { class: 'label' }, 'メールアドレス'), h('span', { class: 'value' }, member.email)),
      fields.nameField,
      fields.roleField,
      fields.adminField,
      formError(),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => closePanel(ctx) }, '戻る'), submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      try {
        const saved = await changeShown('PATCH', `/api/v1/admin/staff/${member.id}`,
          { name: fields.name.value, role: form.role.value, admin: fields.admin.checked }, member,
          { status, reload: refresh });
        closePanel(ctx);
        if (!saved) return;
        // Without the flag this page is no longer theirs: show them so.
        if (saved.id === ctx.staffId && !saved.admin) {
          location.reload();
          return;
        }
        status.say(`${saved.name}さんの登録内容を保存しました。`);
        refresh();
      } catch (problem) {
        showProblem(form, problem);
        submit.disabled = false;
      }
    });
    openPanel(ctx, 'スタッフの編集', form);
  }

  /** 無効にする (after a confirmation: they are signed out at once) or 有効にする. */
  async function setActive(member, active) {
    status.clear();
    if (!active && !(await confirmDialog({
      title: 'スタッフを無効にする',
      message: `${member.name}さんを無効にしますか？無効にすると、${member.name}さんはすぐにログアウトされ、ログインできなくなります。`
        + '担当医師の選択肢からも外れます。登録済みの予約はそのまま残ります。',
      confirm: '無効にする',
      danger: true,
    }))) return;
    try {
      const saved = await changeShown('PATCH', `/api/v1/admin/staff/${member.id}`, { active }, member, { status, reload: refresh });
      if (!saved) return;
      status.say(active
        ? `${saved.name}さんを有効にしました。これまでのパスワードでログインできます（分からない場合は「パスワード再設定URLを発行」してください）。`
        : `${saved.name}さんを無効にしました。`);
      refresh();
    } catch (problem) {
      status.fail(problem);
    }
  }

  /** パスワード再設定URLを発行, after a confirmation: older links stop working. */
  async function newSetupUrl(member) {
    status.clear();
    if (!(await confirmDialog({
      title: 'パスワード再設定URLの発行',
      message: `${member.name}さんのパスワード再設定URLを発行しますか？以前に発行したURLは使えなくなります。`
        + 'パスワードは、新しいURLで設定し直すまで変わりません。',
      confirm: '発行する',
    }))) return;
    try {
      const link = await post(`/api/v1/admin/staff/${member.id}/setup-url`);
      showSetupUrl(member.name, link, `${member.name}さんのパスワード再設定URLを発行しました。`,
        `${member.name}さんがこのURLを開いてパスワードを設定し直すと、新しいパスワードでログインできます。`);
    } catch (problem) {
      status.fail(problem);
    }
  }

  /** A set-up URL in the side panel, to copy and hand over: it is never shown again. */
  function showSetupUrl(name, link, done, after) {
    const copy = copyButton('URLをコピー', 'copy-setup-url', link.setup_url);
    openPanel(ctx, 'パスワード設定URL', h('div', { class: 'setup-url' },
      h('p', { class: 'notice', role: 'status' }, done),
      h('label', { for: 'setup-url' }, 'パスワード設定URL'),
      h('input', { id: 'setup-url', type: 'text', readonly: true, value: link.setup_url }),
      h('div', { class: 'actions' }, copy),
      h('p', { class: 'once' },
        `このURLの有効期限は24時間です（${dateTime(link.valid_until, ctx.tz)}まで）。URLが表示されるのは今回だけです。コピーして${name}さんに渡してください。`),
      h('p', { class: 'hint' }, after),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => closePanel(ctx) }, '閉じる'))),
    copy.querySelector('button'));
  }

  return { refresh };
}
