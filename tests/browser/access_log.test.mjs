// 設定 > アクセスログ (SPEC §8): an auditor, whose only tab of 設定 it is, reads the clinic's
// access log in Japanese (their own sign-in, what they read, what they were refused), narrows
// it by staff member, appointment and period, and downloads it as a CSV Excel opens; an
// administrator has the tab beside the set-up; reception has neither the page nor the tab.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { api, screenshot, serverAndBrowser, unlabelledControls, weekdayAhead } from './harness.mjs';

const running = serverAndBrowser();
const ACTIONS = ['ログイン', 'ログアウト', '閲覧', '変更', '設定用リンク'];
const OUTCOMES = ['成功', '拒否', '失敗'];
const HEADINGS = ['日時', '職員', '操作', '対象', '予約', '結果', '端末'];
const CSV_HEADER = '記録番号,日時,日時（UTC）,職員,職員ID,操作,対象,リクエスト,予約ID,結果,端末,リクエストID,メールアドレスのHMAC（ログイン）';

/** The rows of the access log's table, each as the text of its cells. */
const shownRows = (page) => page.locator('.access-log-table tbody tr')
  .evaluateAll((rows) => rows.map((row) => [...row.cells].map((cell) => cell.textContent.trim())));

/** Open 設定 > アクセスログ from the header and wait for its first answer. */
async function openAccessLog(page) {
  await page.locator('body[data-live="connected"]').waitFor();
  await page.getByRole('navigation', { name: 'メニュー' }).getByRole('link', { name: '設定' }).click();
  await page.waitForURL(/\/settings/);
  const tab = page.getByRole('navigation', { name: '設定の項目' }).getByRole('link', { name: 'アクセスログ' });
  if (await tab.getAttribute('aria-current') !== 'page') await tab.click();
  await page.locator('.settings-body h2', { hasText: 'アクセスログ' }).waitFor();
  await page.locator('.access-log-table, .access-log-list .empty').first().waitFor();
}

/** Show the log again with the filters in the form, and wait for the new answer. */
async function show(page) {
  const answer = page.waitForResponse((r) => r.url().includes('/api/v1/admin/access-log'));
  await page.getByRole('button', { name: '表示', exact: true }).click();
  await answer;
  await page.locator('.access-log-list .loading').waitFor({ state: 'detached' });
}

describe('設定 > アクセスログ', () => {
  let appointmentId;

  test('an auditor reads the log in Japanese: their sign-in, what they read, what they were refused', async () => {
    // 山田 (an administrator doctor) signs in and makes a video URL: records of someone else.
    const yamada = await running.staffPage('yamada@demo.enkaku.test');
    await yamada.page.locator('body[data-live="connected"]').waitFor();
    const me = await api(yamada.page, 'GET', '/api/v1/me');
    const created = await api(yamada.page, 'POST', '/api/v1/video-calls',
      { doctor_id: me.staff.id, start_at: `${weekdayAhead()}T10:00:00+09:00`, title: '監査確認' });
    appointmentId = created.id;
    await yamada.context.close();

    const { page, errors, context } = await running.staffPage('kansa@demo.enkaku.test');
    // The auditor reads the appointment, and is refused the staff list.
    await api(page, 'GET', `/api/v1/appointments/${appointmentId}`);
    const refused = await page.request.get(`${running.server.url}/api/v1/admin/staff`);
    assert.equal(refused.status(), 403);

    await openAccessLog(page);
    // 設定 has this one tab for an auditor.
    assert.deepEqual(await page.getByRole('navigation', { name: '設定の項目' }).getByRole('link').allTextContents(), ['アクセスログ']);
    assert.deepEqual(await page.locator('.access-log-table thead th').allTextContents(), HEADINGS);
    const rows = await shownRows(page);
    for (const [at, , action, , , outcome] of rows) {
      assert.match(at, /^\d{4}\/\d{2}\/\d{2}\([日月火水木金土]\) \d{2}:\d{2}:\d{2}$/);
      assert.ok(ACTIONS.includes(action), action);
      assert.ok(OUTCOMES.includes(outcome), outcome);
    }
    const has = (who, action, what, outcome = '成功', appointment = '—') => rows.some((r) =>
      r[1] === who && r[2] === action && r[3] === what && r[4] === appointment && r[5] === outcome && r[6] === '127.0.0.1');
    assert.ok(has('監査 太郎', 'ログイン', 'ログイン'), JSON.stringify(rows));
    assert.ok(has('監査 太郎', '閲覧', '予約一覧'), 'the schedule the login opened');
    assert.ok(has('監査 太郎', '閲覧', '予約の詳細', '成功', `…${appointmentId.slice(-8)}`));
    assert.ok(has('監査 太郎', '閲覧', 'スタッフ一覧', '拒否'));
    assert.ok(has('山田 太郎', 'ログイン', 'ログイン'));
    // A creation names the appointment it made.
    assert.ok(has('山田 太郎', '変更', 'ビデオ通話URLの作成', '成功', `…${appointmentId.slice(-8)}`));
    // Oldest first: 山田's sign-in came before the auditor's.
    const first = (who) => rows.findIndex((r) => r[1] === who && r[2] === 'ログイン');
    assert.ok(first('山田 太郎') < first('監査 太郎'));
    await assert.doesNotReject(page.getByRole('status').getByText(/^\d+件を表示しています。$/).waitFor());
    await screenshot(page, '72-access-log');
    assert.deepEqual(await unlabelledControls(page), []);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('narrowed by staff member, appointment and period; the CSV holds every matching record', async () => {
    const { page, errors, context } = await running.staffPage('kansa@demo.enkaku.test');
    await openAccessLog(page);
    const staff = page.getByLabel('職員', { exact: true });
    const appointmentField = page.getByRole('textbox', { name: '予約ID' });

    await staff.selectOption({ label: '山田 太郎' });
    await show(page);
    let rows = await shownRows(page);
    assert.ok(rows.length > 0);
    assert.deepEqual([...new Set(rows.map((r) => r[1]))], ['山田 太郎']);
    assert.ok(rows.some((r) => r[2] === 'ログイン'));

    await staff.selectOption({ label: '監査 太郎' });
    await show(page);
    rows = await shownRows(page);
    assert.deepEqual([...new Set(rows.map((r) => r[1]))], ['監査 太郎']);
    // The auditor's two sign-ins (one per test), each a row.
    assert.equal(rows.filter((r) => r[2] === 'ログイン').length, 2);
    await screenshot(page, '73-access-log-by-staff');

    // The CSV of the same filters: every record, a BOM, a Japanese header, Excel's dates.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'CSVダウンロード' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^access-log-\d{8}\.csv$/);
    const bytes = await readFile(await download.path());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a UTF-8 BOM');
    const lines = bytes.toString('utf8').slice(1).split('\r\n');
    assert.equal(lines.at(-1), '', 'every line ends in CRLF');
    assert.equal(lines[0], CSV_HEADER);
    const records = lines.slice(1, -1).map((line) => line.split(','));
    assert.ok(records.length >= rows.length, `${records.length} records, ${rows.length} shown`);
    assert.ok(records.every((r) => r[3] === '監査 太郎'));
    const signIn = records.find((r) => r[5] === 'ログイン');
    assert.ok(signIn, lines.join('\n'));
    assert.match(signIn[1], /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.match(signIn[2], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
    assert.deepEqual([signIn[6], signIn[7], signIn[9], signIn[10]], ['ログイン', 'POST /api/v1/login', '成功', '127.0.0.1']);
    assert.match(signIn[12], /^[0-9a-f]{64}$/, 'the address only as its keyed hash');
    await assert.doesNotReject(page.getByRole('status').getByText(/^\d+件の記録をCSVに書き出しました。$/).waitFor());

    // An appointment's short id narrows the log to its records.
    await staff.selectOption({ label: 'すべての職員' });
    await show(page);
    await page.locator(`button[data-appointment-id="${appointmentId}"]`).first().click();
    await page.locator('.access-log-list .loading').waitFor({ state: 'detached' });
    assert.equal(await appointmentField.inputValue(), appointmentId);
    rows = await shownRows(page);
    assert.deepEqual([...new Set(rows.map((r) => r[4]))], [`…${appointmentId.slice(-8)}`]);
    // Its creation by 山田 first, then the auditor's read.
    assert.deepEqual(rows.map((r) => [r[1], r[3]]), [['山田 太郎', 'ビデオ通話URLの作成'], ['監査 太郎', '予約の詳細']]);

    // Inputs that cannot be asked for are said next to their field; nothing is sent.
    await appointmentField.fill('1234');
    await page.getByRole('button', { name: '表示', exact: true }).click();
    await assert.doesNotReject(page.getByText(/^予約IDを正しく入力してください/).waitFor());
    assert.equal(await appointmentField.getAttribute('aria-invalid'), 'true');
    await appointmentField.fill('');
    const later = weekdayAhead();
    await page.getByLabel('期間（開始日）').fill(later);
    await page.getByLabel('期間（終了日）').fill('2020-01-01');
    await page.getByRole('button', { name: '表示', exact: true }).click();
    await assert.doesNotReject(page.getByText('期間の終了日は開始日と同じか、それより後の日付を入力してください。').waitFor());
    // A period without records: said so.
    await page.getByLabel('期間（終了日）').fill(later);
    await show(page);
    await assert.doesNotReject(page.getByText('該当する記録はありません。').waitFor());
    assert.equal(await page.locator('.access-log-table').count(), 0);
    await page.getByRole('button', { name: 'CSVダウンロード' }).click();
    await assert.doesNotReject(page.getByText('該当する記録はありません。CSVは作成しませんでした。').waitFor());
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('an administrator has the tab beside the set-up, and chooses among the whole staff', async () => {
    const { page, errors, context } = await running.staffPage('yamada@demo.enkaku.test');
    await openAccessLog(page);
    assert.deepEqual(await page.getByRole('navigation', { name: '設定の項目' }).getByRole('link').allTextContents(),
      ['医療機関情報', 'スタッフ', '診療メニュー', '診療時間', '休診日', 'アクセスログ']);
    // From the staff list, reception included though it never appears in the records.
    await assert.doesNotReject(page.locator('select[name="staff_id"] option', { hasText: '受付 花子' }).waitFor({ state: 'attached' }));
    assert.ok((await shownRows(page)).some((r) => r[1] === '監査 太郎' && r[2] === 'ログイン'));

    // Over 500 records: the screen shows 100 at a time, the CSV follows every page.
    for (let i = 0; i < 520; i += 20) {
      await Promise.all(Array.from({ length: 20 }, () => api(page, 'GET', '/api/v1/doctors')));
    }
    await show(page);
    await assert.doesNotReject(page.getByText('100件を表示しています（続きがあります）。').waitFor());
    await page.getByRole('button', { name: 'さらに読み込む' }).click();
    await assert.doesNotReject(page.getByText('200件を表示しています（続きがあります）。').waitFor());
    const positions = await page.locator('.access-log-table tbody tr')
      .evaluateAll((rows) => rows.map((row) => Number(row.dataset.position)));
    assert.equal(new Set(positions).size, 200);
    assert.ok(positions.every((p, i) => i === 0 || p > positions[i - 1]), 'oldest first');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'CSVダウンロード' }).click(),
    ]);
    const lines = (await readFile(await download.path(), 'utf8')).split('\r\n').slice(1, -1);
    const written = lines.map((line) => Number(line.split(',')[0]));
    assert.ok(written.length > 520, `${written.length} records`);
    assert.deepEqual(written.slice(0, 200), positions);
    assert.ok(written.every((p, i) => i === 0 || p > written[i - 1]));
    assert.ok(lines.some((line) => line.includes(',山田 太郎,') && line.includes(',閲覧,医師一覧,GET /api/v1/doctors,')));
    await screenshot(page, '75-access-log-more');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('reception has neither the page nor its tab', async () => {
    const { page, errors, context } = await running.staffPage('uketsuke@demo.enkaku.test');
    await page.locator('body[data-live="connected"]').waitFor();
    assert.equal(await page.getByRole('link', { name: '設定' }).count(), 0);
    await page.goto(`${running.server.url}/settings?tab=access-log`);
    await assert.doesNotReject(page.getByText('この画面は管理者のみ使用できます。').waitFor());
    assert.equal(await page.getByRole('link', { name: 'アクセスログ' }).count(), 0);
    assert.equal(await page.locator('.access-log-table').count(), 0);
    // The server refuses the log to reception whatever the page shows.
    const refused = await page.request.get(`${running.server.url}/api/v1/admin/access-log`);
    assert.equal(refused.status(), 403);
    assert.equal((await refused.json()).code, 'forbidden');
    await screenshot(page, '74-access-log-reception');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
