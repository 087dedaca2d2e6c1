// Staff roles in the clinic UI (SPEC §8): reception books for a doctor but is told on the call
// screen that only doctors start and end calls; an auditor sees the schedule and the
// appointment without a way to change them.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectErrors, screenshot, serverAndBrowser, unlabelledControls, weekdayAhead } from './harness.mjs';
const ONLY_DOCTORS = 'ビデオ通話の開始と終了は医師のみが行えます。';

const running = serverAndBrowser();
const date = weekdayAhead();

/** The schedule of `date` for 山田 太郎, once live updates are connected. */
async function yamadasSchedule(page) {
  await page.goto(`${running.server.url}/schedule?date=${date}`);
  await page.locator('body[data-live="connected"]').waitFor();
  await page.locator('#doctor-select').selectOption({ label: '山田 太郎' });
  await page.locator('.slots').waitFor();
}

describe('staff roles', () => {
  test('reception books a patient for a doctor and cannot start the call', async () => {
    const { page, errors } = await running.staffPage('uketsuke@demo.enkaku.test');
    await yamadasSchedule(page);
    // Reception chooses among the doctors only, and is not one of them.
    const doctors = await page.locator('#doctor-select option').allTextContents();
    assert.deepEqual(doctors.toSorted(), ['佐藤 花子', '山田 太郎']);
    assert.equal(await page.getByText('閲覧のみの権限です').isVisible(), false);

    await page.getByRole('button', { name: '10:00 の予約受付' }).click();
    await page.getByRole('button', { name: '非会員' }).click();
    const panel = page.locator('#panel');
    await panel.getByLabel('患者名').fill('受付 予約');
    await panel.getByLabel('オンライン').check();
    await panel.getByRole('button', { name: '予約' }).click();
    await page.getByRole('dialog', { name: 'ビデオ通話URLの送信' }).getByRole('button', { name: 'キャンセル', exact: true }).click();
    await assert.doesNotReject(panel.locator('dd', { hasText: '山田 太郎' }).waitFor());

    // The link to the call screen is there; the screen says who starts calls, and offers none.
    const start = panel.getByRole('link', { name: '診察をはじめる' });
    const call = await page.context().newPage();
    const callErrors = collectErrors(call);
    await call.goto(await start.getAttribute('href'));
    await assert.doesNotReject(call.getByText(ONLY_DOCTORS).waitFor());
    await assert.doesNotReject(call.locator('.call-name', { hasText: '受付 予約' }).waitFor());
    assert.equal(await call.getByRole('button', { name: 'ビデオ通話を開始する' }).isVisible(), false);
    assert.equal(await call.getByRole('button', { name: '通話を終了する' }).isVisible(), false);
    assert.equal(await call.getByRole('link', { name: 'スケジュールに戻る' }).count(), 1);
    // No camera was asked for and no media opened: the clinic's side is the doctor's.
    assert.equal(await call.locator('#self-video').evaluate((v) => v.srcObject), null);
    await screenshot(call, '50-reception-role');
    assert.deepEqual(await unlabelledControls(call), []);
    assert.deepEqual([...errors, ...callErrors], []);
  });

  test('an auditor sees the schedule and the appointment read-only', async () => {
    const { page, errors } = await running.staffPage('kansa@demo.enkaku.test');
    await yamadasSchedule(page);
    await assert.doesNotReject(page.locator('.app-header').getByText('閲覧のみの権限です').waitFor());
    // No slot can be booked: the grid has no person buttons.
    assert.equal(await page.getByRole('button', { name: /の予約受付/ }).count(), 0);
    const entry = page.locator('.entry', { hasText: '受付 予約' });
    await entry.click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByRole('heading', { name: '予約内容' }).waitFor());
    await assert.doesNotReject(panel.locator('dd', { hasText: '受付 予約' }).waitFor());
    // What it holds is shown and can be copied; nothing in it can be changed or started.
    await assert.doesNotReject(panel.getByRole('button', { name: '医療機関用URLをコピー' }).waitFor());
    for (const name of ['予約キャンセル', '編集', 'ビデオ通話キャンセル', 'URL送信', 'URL再送', '患者用URLを再発行']) {
      assert.equal(await panel.getByRole('button', { name }).count(), 0, name);
    }
    assert.equal(await panel.getByRole('link', { name: '診察をはじめる' }).count(), 0);
    await screenshot(page, '51-auditor-read-only');
    assert.deepEqual(await unlabelledControls(page), []);
    assert.deepEqual(errors, []);
  });
});
