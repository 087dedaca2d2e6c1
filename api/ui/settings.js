// 設定, for the clinic's administrators (SPEC §8): the clinic's profile, its staff, treatment
// menus, each doctor's weekly hours and closed days, one tab each, the tab kept in the
// address (`?tab=`) like the schedule's day; and the access log (アクセスログ), which auditors
// also read and which is the only tab they have. Forms that add or edit one item open in the
// side panel; every edit sends the version shown (`If-Match`), so a change someone else made
// first is said and shown instead of being overwritten. Others' set-up changes arrive as live
// updates of the `directory` read model. Anyone else is told the page is for administrators.

import { fill, h } from './lib/dom.js';
import { saveToAddress } from './lib/lists.js';
import { accessLogTab } from './settings/access-log.js';
import { clinicTab } from './settings/clinic.js';
import { closuresTab } from './settings/closures.js';
import { hoursTab } from './settings/hours.js';
import { menusTab } from './settings/menus.js';
import { staffTab } from './settings/staff.js';

// The tabs in order: the key in the address, the name, the function that draws the tab
// into an element and answers `{ refresh }`, and who has it: administrators (`admin`), or
// administrators and auditors (`inspector`, as the server's `Inspector`). Another part of the
// set-up is one more entry.
const TABS = [
  ['clinic', '医療機関情報', clinicTab, 'admin'],
  ['staff', 'スタッフ', staffTab, 'admin'],
  ['menus', '診療メニュー', menusTab, 'admin'],
  ['hours', '診療時間', hoursTab, 'admin'],
  ['closures', '休診日', closuresTab, 'admin'],
  ['access-log', 'アクセスログ', accessLogTab, 'inspector'],
];

export function settingsView(ctx, main) {
  const tabs = TABS.filter(([, , , who]) => ctx[who]);
  if (tabs.length === 0) {
    fill(main, h('section', { class: 'settings' },
      h('h1', { class: 'view-title' }, '設定'),
      h('p', { class: 'notice closed' }, 'この画面は管理者のみ使用できます。')));
    return { readModels: [], refresh() {} };
  }

  const body = h('div', { class: 'settings-body' });
  const links = tabs.map((tab) => {
    const [key, name] = tab;
    return h('a', {
      href: `/settings?tab=${key}`,
      onclick: (event) => {
        // A click opens the tab here; a middle or modified click a new window, as links do.
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        show(tab);
        tabView.refresh();
      },
    }, name);
  });
  fill(main, h('section', { class: 'settings' },
    h('h1', { class: 'view-title' }, '設定'),
    h('nav', { class: 'settings-tabs', 'aria-label': '設定の項目' }, links),
    body));

  let tabView = null;
  function show(tab) {
    const [key, , draw] = tab;
    links.forEach((link, i) => (tabs[i] === tab ? link.setAttribute('aria-current', 'page') : link.removeAttribute('aria-current')));
    saveToAddress({ tab: key });
    // A form of the tab left behind has nothing to do with the new one.
    if (ctx.panel.showing?.kind === 'settings') ctx.panel.close();
    tabView = draw(ctx, body);
  }
  const asked = new URLSearchParams(location.search).get('tab');
  show(tabs.find(([key]) => key === asked) ?? tabs[0]);

  return { readModels: ['directory'], refresh: () => tabView.refresh() };
}
