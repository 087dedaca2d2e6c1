// パスワード変更, for every staff member: the current password, then the new one twice. Other
// sessions of the person end; this one stays.

import { get, post } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { clearErrors, field, formError, setFieldError, showProblem } from './lib/forms.js';
import { errorParagraph } from './lib/messages.js';

const MIN_CHARS = 10;
const main = document.getElementById('main');
const heading = main.querySelector('h1');
const back = () => h('p', {}, h('a', { href: '/schedule' }, 'スケジュールに戻る'));

function form(me) {
  const current = h('input', { type: 'password', autocomplete: 'current-password', maxlength: '1024' });
  const next = h('input', { type: 'password', autocomplete: 'new-password', maxlength: '256' });
  const again = h('input', { type: 'password', autocomplete: 'new-password', maxlength: '256' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'パスワードを変更する');
  const change = h('form', { novalidate: true },
    h('input', { type: 'email', autocomplete: 'username', value: me.staff.email, hidden: true, readonly: true }),
    h('p', {}, `${me.staff.name} さん（${me.staff.email}）`),
    field({ label: '現在のパスワード', name: 'current_password', control: current, required: true }),
    field({ label: '新しいパスワード', name: 'new_password', control: next, required: true, hint: `${MIN_CHARS}文字以上で入力してください。` }),
    field({ label: '新しいパスワード（確認）', name: 'again', control: again, required: true }),
    formError(),
    submit,
    back());
  change.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(change);
    const wrong = (name, message, control) => {
      setFieldError(change, name, message);
      control.focus();
    };
    if (!current.value) return wrong('current_password', '現在のパスワードを入力してください。', current);
    if ([...next.value].length < MIN_CHARS) return wrong('new_password', `パスワードは${MIN_CHARS}文字以上で入力してください。`, next);
    if (again.value !== next.value) return wrong('again', '確認のパスワードが一致しません。', again);
    submit.disabled = true;
    try {
      await post('/api/v1/password', { current_password: current.value, new_password: next.value });
      fill(main, heading,
        h('p', { class: 'notice', role: 'status' }, 'パスワードを変更しました。ほかの端末でのログインは終了しました。'),
        back());
      main.querySelector('a').focus();
    } catch (problem) {
      if (problem.status === 403) wrong('current_password', '現在のパスワードが正しくありません。', current);
      else showProblem(change, problem);
      submit.disabled = false;
    }
  });
  fill(main, heading, change);
  current.focus();
}

try {
  form(await get('/api/v1/me'));
} catch (problem) {
  fill(main, heading, errorParagraph(problem), back());
}
