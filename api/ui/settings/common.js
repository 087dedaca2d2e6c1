// What the tabs of 設定 share: the side panel for their forms, the line under the tab's title
// saying what just happened, and a change sent with the version shown.

import { call, ifMatch } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { errorParagraph } from '../lib/messages.js';

/** Said when a save met a newer version (412): the newest is shown instead. */
export const CHANGED_ELSEWHERE = '他の方が先に変更しました。最新の内容を表示しています。必要なら、もう一度変更してください。';

/**
 * Show `content` under `title` in the side panel, as a form of 設定, and put the focus on
 * `focus` (by default the first field).
 */
export function openPanel(ctx, title, content, focus = content.querySelector('input:not([type="hidden"]), select')) {
  ctx.panel.invalidate();
  ctx.panel.showing = { kind: 'settings' };
  ctx.panel.open(title, content);
  focus?.focus();
}

/** Close the side panel if it shows a form of 設定. */
export function closePanel(ctx) {
  if (ctx.panel.showing?.kind === 'settings') ctx.panel.close();
}

/** The place under a tab's title where it says what just happened (or what went wrong). */
export function statusLine() {
  const element = h('div', { class: 'settings-status' });
  return {
    element,
    say: (text) => fill(element, h('p', { class: 'notice', role: 'status' }, text)),
    fail: (problem) => fill(element, errorParagraph(problem)),
    clear: () => fill(element),
  };
}

/**
 * `method` `path` with `body`, on condition that `shown` (which carries its `version`) is
 * still the newest. Resolves to the answer (null for 204), or to false when someone else
 * changed it first (412): then `status` says so and `reload` shows the newest. Other problems
 * are thrown.
 */
export async function changeShown(method, path, body, shown, { status, reload }) {
  try {
    return await call(method, path, { body, headers: ifMatch(shown) });
  } catch (problem) {
    if (problem.status !== 412) throw problem;
    status.say(CHANGED_ELSEWHERE);
    reload();
    return false;
  }
}

/** A table with a header row of `columns` and `rows`, scrolling sideways when narrow. */
export function table(className, columns, rows) {
  return h('div', { class: 'table-scroll' },
    h('table', { class: `settings-table ${className}` },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
}
