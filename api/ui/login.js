// Staff login: on success, back to where the person was going (a path on this site only).

import { post } from './lib/api.js';
import { describe } from './lib/messages.js';

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');

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
  try {
    await post('/api/v1/login', { email: form.email.value.trim(), password: form.password.value }, { allowAnonymous: true });
    location.assign(nextPage());
  } catch (problem) {
    error.textContent = describe(problem);
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});
