// Staff login: on success, back to where the person was going (a path on this site only).
// A person who enrolled in two-factor sign-in is asked for the code once the server says the
// password was right (`two_factor_required`).

import { post } from './lib/api.js';
import { describe } from './lib/messages.js';

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const codeField = document.getElementById('code-field');

function nextPage() {
  const next = new URLSearchParams(location.search).get('next') || '/schedule';
  // Only a page of this site: never send a person on to another site after login. Parsing
  // settles the tricks (`/\\host`, tabs, `//host`) that a prefix check lets through.
  try {
    const url = new URL(next, location.origin);
    if (url.origin === location.origin) return url.pathname + url.search;
  } catch {
    // not a URL at all
  }
  return '/schedule';
}

/** What an incomplete form lacks, and the field to fill; null when nothing is missing. */
function missing() {
  if (!form.email.value.trim()) return ['メールアドレスを入力してください。', form.email];
  if (!form.password.value) return ['パスワードを入力してください。', form.password];
  if (!codeField.hidden && !form.code.value.trim()) return ['確認コードを入力してください。', form.code];
  return null;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
  const lacking = missing();
  if (lacking) {
    const [message, field] = lacking;
    error.textContent = message;
    field.focus();
    return;
  }
  const button = form.querySelector('button');
  button.disabled = true;
  const credentials = { email: form.email.value.trim(), password: form.password.value };
  if (!codeField.hidden) credentials.code = form.code.value.trim();
  try {
    await post('/api/v1/login', credentials, { allowAnonymous: true });
    location.assign(nextPage());
  } catch (problem) {
    error.textContent = describe(problem);
    if (problem.code === 'two_factor_required' || problem.code === 'invalid_two_factor_code') {
      codeField.hidden = false;
      form.code.value = '';
      form.code.focus();
    } else {
      form.password.focus();
    }
  } finally {
    button.disabled = false;
  }
});
