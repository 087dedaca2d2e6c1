// The set-up link's page: an invited staff member (or one who forgot their password) sees
// whose link it is and chooses a password; then logs in. The token stays in the path.

import { get, post } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { clearErrors, field, formError, setFieldError, showProblem } from './lib/forms.js';
import { dateTime } from './lib/format.js';
import { describe } from './lib/messages.js';

const MIN_CHARS = 10;
const main = document.getElementById('main');
const heading = main.querySelector('h1');
const token = location.pathname.split('/').pop();
const path = `/api/v1/setup-links/${encodeURIComponent(token)}`;

/** Only the words for a link that cannot be used (unknown, used, expired). */
function unusable(problem) {
  const text = problem.status === 404 ? 'このURLは正しくありません。届いたURLをもう一度ご確認ください。' : describe(problem);
  fill(main, heading, h('p', { class: 'form-error', role: 'alert' }, text), h('p', {}, h('a', { href: '/login' }, 'ログイン画面へ')));
}

function done() {
  fill(main, heading,
    h('p', { class: 'notice', role: 'status' }, 'パスワードを設定しました。新しいパスワードでログインしてください。'),
    h('p', {}, h('a', { class: 'button primary', href: '/login' }, 'ログイン画面へ')));
  main.querySelector('a').focus();
}

function form(link) {
  const password = h('input', { type: 'password', autocomplete: 'new-password', minlength: String(MIN_CHARS), maxlength: '256' });
  const again = h('input', { type: 'password', autocomplete: 'new-password', maxlength: '256' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'パスワードを設定する');
  const setup = h('form', { novalidate: true },
    // A username field lets password managers store the new password under the right name.
    h('input', { type: 'email', autocomplete: 'username', value: link.email, hidden: true, readonly: true }),
    h('dl', { class: 'setup-who' },
      h('dt', {}, '医療機関'), h('dd', {}, link.clinic_name),
      h('dt', {}, 'お名前'), h('dd', {}, link.name),
      h('dt', {}, 'メールアドレス（ログインID）'), h('dd', {}, link.email)),
    field({ label: '新しいパスワード', name: 'password', control: password, required: true, hint: `${MIN_CHARS}文字以上で入力してください。` }),
    field({ label: '新しいパスワード（確認）', name: 'again', control: again, required: true }),
    formError(),
    submit,
    h('p', { class: 'hint' }, `このURLの有効期限: ${dateTime(link.valid_until, Intl.DateTimeFormat().resolvedOptions().timeZone)}`));
  setup.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(setup);
    if ([...password.value].length < MIN_CHARS) {
      setFieldError(setup, 'password', `パスワードは${MIN_CHARS}文字以上で入力してください。`);
      password.focus();
      return;
    }
    if (again.value !== password.value) {
      setFieldError(setup, 'again', '確認のパスワードが一致しません。');
      again.focus();
      return;
    }
    submit.disabled = true;
    try {
      await post(path, { password: password.value });
      done();
    } catch (problem) {
      if (problem.status === 404 || problem.status === 410) return unusable(problem);
      showProblem(setup, problem);
      submit.disabled = false;
    }
  });
  fill(main, heading, setup);
  password.focus();
}

try {
  form(await get(path));
} catch (problem) {
  unusable(problem);
}
