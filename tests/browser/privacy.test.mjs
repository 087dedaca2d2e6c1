// 個人情報を削除: an administrator erases a booking's personal data from its panel after a
// confirmation that says it cannot be undone; the panel, 受付一覧 and the schedule then show
// 「（削除済み）」 where the name and chart number were, and staff who are not administrators are
// not offered it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, collectErrors, login, screenshot, serverAndBrowser, weekdayAhead } from './harness.mjs';

const running = serverAndBrowser();
const date = weekdayAhead(9);

describe('erasing personal data', () => {
  let page;
  let errors;
  let id;

  before(async () => {
    const context = await running.browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    errors = collectErrors(page);
    await login(page, running.server.url);
    const me = await api(page, 'GET', '/api/v1/me');
    const menus = await api(page, 'GET', '/api/v1/menus');
    const created = await api(page, 'POST', '/api/v1/appointments', {
      doctor_id: me.staff.id, start_at: `${date}T10:00:00+09:00`, patient_name: '消去 花子',
      chart_number: 'E-0001', memo: '削除の確認', menu_id: menus.items[0].id, visit_type: 'first', mode: 'in_person',
    });
    id = created.id;
  });

  test('an administrator erases a booking after a confirmation, and every view says 「（削除済み）」', async () => {
    await page.goto(`${running.server.url}/reception?date=${date}`);
    await page.locator('tr', { hasText: '消去 花子' }).getByRole('button', { name: '消去 花子' }).click();
    const panel = page.locator('#panel');
    await panel.getByRole('button', { name: '個人情報を削除' }).click();
    const confirm = page.getByRole('dialog', { name: '個人情報の削除' });
    await assert.doesNotReject(confirm.getByText('削除した情報は元に戻せません。', { exact: false }).waitFor());
    await screenshot(page, '60-erase-confirm');
    await confirm.getByRole('button', { name: '削除する' }).click();
    await assert.doesNotReject(panel.getByText('個人情報を削除しました。').waitFor());
    const shown = await panel.locator('dl').first().innerText();
    for (const gone of ['消去 花子', 'E-0001', '削除の確認']) assert.ok(!shown.includes(gone), shown);
    assert.equal((shown.match(/（削除済み）/g) ?? []).length, 3, shown);
    assert.equal(await panel.getByRole('button', { name: '個人情報を削除' }).count(), 0, 'once is enough');
    await screenshot(page, '61-erased');

    // 受付一覧 follows live, and the schedule shows the same words.
    await assert.doesNotReject(page.locator('tr', { hasText: '（削除済み）' }).waitFor());
    assert.equal(await page.locator('tr', { hasText: '消去 花子' }).count(), 0);
    await page.goto(`${running.server.url}/schedule?date=${date}`);
    await assert.doesNotReject(page.locator('.entry', { hasText: '（削除済み）' }).first().waitFor());
    const history = await api(page, 'GET', `/api/v1/appointments/${id}/events`);
    assert.equal(history.items.at(-1).type, 'PersonalDataErased', 'the history keeps the erasure');
  });

  test('staff who are not administrators are not offered it', async () => {
    const context = await running.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const other = await context.newPage();
    await login(other, running.server.url, 'sato@demo.enkaku.test');
    const me = await api(other, 'GET', '/api/v1/me');
    const menus = await api(other, 'GET', '/api/v1/menus');
    await api(other, 'POST', '/api/v1/appointments', {
      doctor_id: me.staff.id, start_at: `${date}T11:00:00+09:00`, patient_name: '佐藤 患者',
      menu_id: menus.items[0].id, visit_type: 'first', mode: 'in_person',
    });
    await other.goto(`${running.server.url}/reception?date=${date}`);
    await other.locator('tr', { hasText: '佐藤 患者' }).getByRole('button', { name: '佐藤 患者' }).click();
    await assert.doesNotReject(other.locator('#panel').getByRole('button', { name: '予約キャンセル' }).waitFor());
    assert.equal(await other.locator('#panel').getByRole('button', { name: '個人情報を削除' }).count(), 0);
    await context.close();
  });

  after(() => assert.deepEqual(errors, []));
});
