// 患者検索 (issue 13): from the header, staff find a patient's bookings of any day by a word of
// the name or by the chart number typed full-width, open one in the side panel, and see the
// list follow a change made elsewhere. The query never reaches the address bar.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, collectErrors, login, screenshot, serverAndBrowser, unlabelledControls, weekdayAhead } from './harness.mjs';

const running = serverAndBrowser();
const date = weekdayAhead();

describe('患者検索', () => {
  let page;
  let errors;
  const ids = {};

  before(async () => {
    const context = await running.browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    errors = collectErrors(page);
    await login(page, running.server.url);
    const me = await api(page, 'GET', '/api/v1/me');
    const menus = await api(page, 'GET', '/api/v1/menus');
    // At 12:00 too, past the morning's hours: confirmed.
    const book = async (time, name, chart, mode) => {
      const created = await api(page, 'POST', '/api/v1/appointments', {
        doctor_id: me.staff.id, start_at: `${date}T${time}:00+09:00`, patient_name: name,
        chart_number: chart, menu_id: menus.items[0].id, visit_type: 'first', mode, allow_outside_hours: true,
      });
      ids[name] = created.id;
    };
    await book('10:00', '青木 花子', 'S-1001', 'online');
    await book('11:00', '青木 太郎', 'S-1002', 'in_person');
    await book('12:00', '村上 一郎', 'T-2001', 'in_person');
  });

  const box = () => page.getByLabel('患者名またはカルテ番号');
  // Submit a query. The answer announced before is marked stale first, so waiting for the
  // answer (`answered`) never mistakes the previous one for it.
  const submit = async (query) => {
    await page.locator('.search-results [role="status"]').evaluateAll((shown) => shown.forEach((e) => {
      e.dataset.stale = 'true';
    }));
    await box().fill(query);
    await page.getByRole('button', { name: '検索', exact: true }).click();
  };
  const searchFor = async (query) => {
    await submit(query);
    await page.locator('.search-results [role="status"]:not([data-stale])').waitFor();
  };
  const rows = () => page.locator('.search-table tbody tr');
  const addressHoldsNoQuery = (query) => {
    const address = new URL(page.url());
    assert.equal(address.pathname, '/search');
    assert.equal(address.search, '', 'nothing after ? in the address');
    assert.ok(!decodeURIComponent(page.url()).includes(query), `the address ${page.url()} holds no query`);
  };

  test('the header leads to 患者検索, and a family name finds both of its bookings, latest first', async () => {
    await page.getByRole('navigation', { name: 'メニュー' }).getByRole('link', { name: '患者検索' }).click();
    await page.waitForURL(/\/search$/);
    await searchFor('青木');
    await assert.doesNotReject(page.getByText('2件の予約が見つかりました。').waitFor());
    assert.deepEqual(await rows().locator('.patient-name').allTextContents(), ['青木 太郎', '青木 花子']);
    const first = await rows().first().locator('td').allTextContents();
    assert.match(first[0], /^\d{4}\/\d{2}\/\d{2}\(.\) 11:00〜11:30$/);
    assert.deepEqual(first.slice(2), ['S-1002', '一般内科', '対面', '山田 太郎', '予約済']);
    addressHoldsNoQuery('青木');
    assert.deepEqual(await unlabelledControls(page), []);
    await screenshot(page, '40-search');
  });

  test('a given name alone, and a chart number typed full-width, find their booking', async () => {
    await searchFor('花子');
    assert.deepEqual(await rows().locator('.patient-name').allTextContents(), ['青木 花子']);
    await searchFor('ｔ－２００１');
    await assert.doesNotReject(page.getByText('1件の予約が見つかりました。').waitFor());
    assert.deepEqual(await rows().locator('.patient-name').allTextContents(), ['村上 一郎']);
    addressHoldsNoQuery('２００１');
  });

  test('the name opens the booking in the side panel', async () => {
    await searchFor('S-1001');
    await rows().getByRole('button', { name: '青木 花子' }).click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByRole('heading', { name: '予約内容' }).waitFor());
    await assert.doesNotReject(panel.getByText('青木 花子', { exact: true }).waitFor());
    await assert.doesNotReject(panel.getByText('S-1001', { exact: true }).waitFor());
    await screenshot(page, '40b-search-panel');
  });

  test('a booking cancelled elsewhere shows as cancelled without searching again', async () => {
    await searchFor('村上');
    await assert.doesNotReject(rows().getByText('予約済').waitFor());
    await api(page, 'POST', `/api/v1/appointments/${ids['村上 一郎']}/cancel`, {});
    await assert.doesNotReject(rows().getByText('キャンセル').waitFor());
  });

  test('no hit says so, and an empty query is refused next to the field', async () => {
    await searchFor('該当なし');
    await assert.doesNotReject(page.getByText('該当する予約はありません。', { exact: true }).waitFor());
    assert.equal(await rows().count(), 0);
    await submit('   ');
    await assert.doesNotReject(page.getByText('患者名またはカルテ番号を入力してください。', { exact: true }).waitFor());
    assert.equal(await box().getAttribute('aria-invalid'), 'true');
    addressHoldsNoQuery('該当なし');
    assert.deepEqual(errors, []);
  });
});
