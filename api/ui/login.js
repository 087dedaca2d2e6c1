// Staff login: on success, back to where the person was going (a path on this site only).

import { call } from './lib/api.js';
import { describe } from './lib/messages.js';

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');

function nextPage() {
  const next = new URLSearchParams(location.search).get('next') || '/schedule';
  // Only a local path: never send a person on to another site after login.
  return next.startsWith('/') && !next.startsWith('//') ? next : '/schedule';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    await call('POST', '/api/v1/login', {
      body: { email: form.email.value.trim(), password: form.password.value },
      allowAnonymous: true,
    });
    location.assign(nextPage());
  } catch (problem) {
    error.textContent = describe(problem);
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});
