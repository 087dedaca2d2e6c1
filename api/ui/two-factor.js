// 2段階認証, for every staff member: register an authenticator app (the QR code, or the key
// typed in), confirm with its code, keep the recovery codes shown once; change phones or turn
// it off with the password. Administrators also choose whether the whole clinic requires it.

import { call, get, post } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { clearErrors, field, formError, setFieldError, showProblem } from './lib/forms.js';
import { describe, errorParagraph } from './lib/messages.js';

const main = document.getElementById('main');
const heading = main.querySelector('h1');

/** The way out: back to work, or (while enrolling is all this session may do) logging out. */
function leave(me) {
  if (me.two_factor.required && !me.two_factor.enrolled) {
    return h('p', {}, h('button', {
      type: 'button',
      class: 'link',
      onclick: async () => {
        try {
          await post('/api/v1/logout');
        } finally {
          location.assign('/login');
        }
      },
    }, 'ログアウト'));
  }
  return h('p', {}, h('a', { href: '/schedule' }, 'スケジュールに戻る'));
}

/** A password field for the changes that need it. */
const passwordInput = () => h('input', { type: 'password', autocomplete: 'current-password', maxlength: '1024' });

/** Groups of four, as the key is easier to type that way. */
const grouped = (key) => key.match(/.{1,4}/g).join(' ');

function status(me) {
  const { enrolled, required } = me.two_factor;
  return [
    h('p', { class: 'two-factor-status' }, enrolled
      ? '2段階認証は有効です。ログインのとき、パスワードのあとに認証アプリの確認コードを入力します。'
      : '2段階認証は設定されていません。設定すると、ログインのときにパスワードに加えて、スマートフォンの認証アプリに表示される確認コードが必要になります。'),
    required && !enrolled
      ? h('p', { class: 'notice', role: 'status' }, 'この医療機関では2段階認証が必須です。設定が終わるまで、ほかの画面は使えません。')
      : null,
  ];
}

/** Start an enrolment (`password` only to replace one that is on), then show it. */
async function start(me, password) {
  const body = password === undefined ? {} : { current_password: password };
  const enrolment = await post('/api/v1/two-factor/enrolment', body);
  enrol(me, enrolment);
}

function enrol(me, enrolment) {
  const code = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '64' });
  const submit = h('button', { type: 'submit', class: 'primary' }, '有効にする');
  const confirm = h('form', { novalidate: true },
    field({ label: '確認コード（6桁）', name: 'code', control: code, required: true, hint: '登録したあと、認証アプリに表示されている6桁の数字を入力してください。' }),
    formError(),
    submit);
  confirm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(confirm);
    if (!code.value.trim()) {
      setFieldError(confirm, 'code', '確認コードを入力してください。');
      code.focus();
      return;
    }
    submit.disabled = true;
    try {
      const { recovery_codes: codes } = await post('/api/v1/two-factor/enrolment/confirm', { code: code.value.trim() });
      recoveryCodes(codes);
    } catch (problem) {
      showProblem(confirm, problem);
      if (problem.code === 'invalid_two_factor_code') code.select();
      submit.disabled = false;
    }
  });
  fill(main, heading,
    h('h2', {}, '認証アプリに登録する'),
    h('p', {}, 'スマートフォンの認証アプリ（Google Authenticator、Microsoft Authenticator など）で、次のQRコードを読み取ってください。'),
    h('img', { src: enrolment.qr_code, alt: '2段階認証の登録用QRコード', class: 'qr-code', width: 200, height: 200 }),
    h('p', {}, '読み取れないときは、次のキーを認証アプリに手で入力してください（時間ベース）。'),
    h('p', {}, h('code', { class: 'manual-key', 'aria-label': '手動入力用のキー' }, grouped(enrolment.secret))),
    confirm,
    leave(me));
  code.focus();
}

function recoveryCodes(codes) {
  fill(main, heading,
    h('p', { class: 'notice', role: 'status' }, '2段階認証を有効にしました。次回のログインから確認コードが必要です。'),
    h('h2', {}, '回復コード'),
    h('p', {}, 'スマートフォンをなくしたときなどに、確認コードの代わりに使えます。1つのコードは1回だけ使えます。'),
    h('p', { class: 'warning' }, h('strong', {}, 'この回復コードは今だけ表示されます。印刷するか書き写して、ほかの人に見られない安全な場所に保管してください。')),
    h('ol', { class: 'recovery-codes' }, codes.map((c) => h('li', {}, h('code', {}, c)))),
    h('p', {}, h('button', { type: 'button', onclick: () => window.print() }, '印刷する')),
    h('p', {}, h('a', { href: '/schedule' }, 'スケジュールへ進む')));
}

/** Not enrolled: one button to begin. */
function beginForm(me) {
  const begin = h('button', { type: 'button', class: 'primary' }, '設定をはじめる');
  const error = formError();
  begin.addEventListener('click', async () => {
    begin.disabled = true;
    fill(error, '');
    try {
      await start(me);
    } catch (problem) {
      fill(error, describe(problem));
      begin.disabled = false;
    }
  });
  return h('div', {}, begin, error);
}

/** A form that asks for the current password before `action` (a new phone, turning off). */
function passwordForm({ title, explanation, button, action }) {
  const password = passwordInput();
  const submit = h('button', { type: 'submit' }, button);
  const form = h('form', { novalidate: true },
    h('h2', {}, title),
    h('p', {}, explanation),
    field({ label: '現在のパスワード', name: 'current_password', control: password, required: true }),
    formError(),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!password.value) {
      setFieldError(form, 'current_password', '現在のパスワードを入力してください。');
      password.focus();
      return;
    }
    submit.disabled = true;
    try {
      await action(password.value);
    } catch (problem) {
      if (problem.status === 403 && problem.code === 'invalid_credentials') {
        setFieldError(form, 'current_password', '現在のパスワードが正しくありません。');
        password.focus();
      } else {
        showProblem(form, problem);
      }
      submit.disabled = false;
    }
  });
  return form;
}

function enrolledForms(me) {
  const newPhone = passwordForm({
    title: 'スマートフォンを変更する',
    explanation: '新しいスマートフォンの認証アプリに登録し直します。登録が終わるまでは、今の認証アプリの確認コードが使えます。',
    button: '新しいスマートフォンで設定する',
    action: (password) => start(me, password),
  });
  const off = me.two_factor.required
    ? h('p', { class: 'hint' }, 'この医療機関では2段階認証が必須のため、解除できません。')
    : passwordForm({
      title: '2段階認証を解除する',
      explanation: '解除すると、ログインはパスワードだけになります。回復コードも使えなくなります。',
      button: '2段階認証を解除する',
      action: async (password) => {
        await post('/api/v1/two-factor/disable', { current_password: password });
        render(await get('/api/v1/me'), '2段階認証を解除しました。');
      },
    });
  return [newPhone, off];
}

/** Administrators: whether the whole clinic requires two-factor sign-in. */
function clinicForm(me) {
  const required = h('input', { type: 'checkbox', checked: me.two_factor.required });
  const submit = h('button', { type: 'submit' }, '保存する');
  const saved = h('p', { class: 'hint', role: 'status' });
  const form = h('form', { novalidate: true, class: 'clinic-two-factor' },
    h('h2', {}, '医療機関の設定（管理者）'),
    h('div', { class: 'field checkbox', dataset: { field: 'required' } },
      h('label', {}, required, ' すべてのスタッフに2段階認証を必須にする'),
      h('p', { class: 'hint' }, '必須にすると、設定していないスタッフは次のログインのあと、2段階認証を設定するまでほかの画面を使えません。'),
      h('p', { class: 'field-error', 'aria-live': 'polite' })),
    formError(),
    submit,
    saved);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    fill(saved, '');
    submit.disabled = true;
    try {
      const answer = await call('PUT', '/api/v1/admin/two-factor', { body: { required: required.checked } });
      required.checked = answer.required;
      fill(saved, answer.required ? '2段階認証を必須にしました。' : '2段階認証を任意にしました。');
    } catch (problem) {
      showProblem(form, problem);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function render(me, notice) {
  fill(main, heading,
    notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
    h('p', {}, `${me.staff.name} さん（${me.staff.email}）`),
    status(me),
    me.two_factor.enrolled ? enrolledForms(me) : beginForm(me),
    me.staff.admin ? clinicForm(me) : null,
    leave(me));
}

try {
  render(await get('/api/v1/me'));
} catch (problem) {
  fill(main, heading, errorParagraph(problem), h('p', {}, h('a', { href: '/schedule' }, 'スケジュールに戻る')));
}
