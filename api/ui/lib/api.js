// The HTTP API, as the page uses it: JSON in and out, the session cookie plus the CSRF
// header on changes, and problem+json errors turned into `Problem` exceptions.

class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || 'unknown';
    this.field = body?.field || null;
    this.detail = body?.detail || '';
  }
}

function csrfToken() {
  const cookie = document.cookie.split('; ').find((c) => c.startsWith('enkaku_csrf='));
  return cookie ? decodeURIComponent(cookie.slice('enkaku_csrf='.length)) : '';
}

/** Go to the login page, coming back here afterwards. */
function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/**
 * Call the API; resolves to the JSON answer. A 401 sends the person to the login page unless
 * `allowAnonymous` is set.
 */
export async function call(method, path, { body, headers = {}, allowAnonymous = false } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  if (method !== 'GET') init.headers['X-CSRF-Token'] = csrfToken();
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Problem(0, { code: 'network', detail: 'network error' });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    if (response.status === 401 && !allowAnonymous) {
      toLogin();
      // The page is going away: settle never, so no caller renders an error meanwhile.
      return new Promise(() => {});
    }
    throw new Problem(response.status, json);
  }
  return json;
}

export const get = (path, options) => call('GET', path, options);
export const post = (path, body, options = {}) => call('POST', path, { ...options, body });

/**
 * `If-Match` for a change to what is shown (an appointment, a staff member, a menu…): its
 * ETag is its `version`, so a change made meanwhile by someone else gets 412 instead of being
 * overwritten.
 */
export const ifMatch = (shown) => ({ 'If-Match': `"${shown.version}"` });
