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

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
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
