// 設定 (SPEC §8, issue 14): an administrator edits the clinic's profile (a change made
// meanwhile by someone else is said, not overwritten), invites a doctor and copies the
// set-up URL; the doctor chooses a password there, signs in and sees their schedule; the
// administrator gives them Saturday hours, which their open schedule follows, and they book on
// them; menus and a closed day come and go; the administrator deactivates the doctor and their
// open page goes to the login page by itself. Anyone but an administrator has no 設定, and its
// address tells them it is not theirs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, collectErrors, screenshot, serverAndBrowser, unlabelledControls } from './harness.mjs';

const running = serverAndBrowser();
const DOCTOR = { name: '高橋 健', email: 'takahashi@demo.enkaku.test' };
const PASSWORD = '春の訪れを待ちながら';
/** Next week's Saturday, `YYYY-MM-DD` in Tokyo. */
const saturday = (() => {
  const tokyo = new Date(Date.now() + 9 * 3600 * 1000);
  const day = new Date(Date.UTC(tokyo.getUTCFullYear(), tokyo.getUTCMonth(), tokyo.getUTCDate() + 7));
  while (day.getUTCDay() !== 6) day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
})();
const CHANGED_ELSEWHERE = '他の方が先に変更しました。最新の内容を表示しています。必要なら、もう一度変更してください。';

/** The tab of 設定 named `name`, opened from its tab bar. */
async function openTab(page, name) {
  await page.getByRole('navigation', { name: '設定の項目' }).getByRole('link', { name }).click();
  await page.locator('.settings-body h2', { hasText: name }).waitFor();
}

describe('設定', () => {
  let admin;
  let setupUrl;
  let doctor;

  before(async () => {
    admin = await running.staffPage('yamada@demo.enkaku.test');
    await admin.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: running.server.url });
  });

  test('an administrator edits the clinic profile; a change made meanwhile is said, not overwritten', async () => {
    const { page } = admin;
    await page.locator('body[data-live="connected"]').waitFor();
    await page.getByRole('navigation', { name: 'メニュー' }).getByRole('link', { name: '設定' }).click();
    await page.waitForURL(/\/settings$/);
    await page.locator('body[data-live="connected"]').waitFor();
    const name = page.getByLabel(/^医療機関名/);
    const phone = page.getByLabel('電話番号');
    assert.equal(await name.inputValue(), 'デモクリニック');
    assert.equal(await page.getByLabel('タイムゾーン').inputValue(), 'Asia/Tokyo');
    await assert.doesNotReject(page.getByText(/タイムゾーンを変更しても、登録済みの予約の時刻そのものは変わりません。/).waitFor());

    // A number that is none: said next to the field, nothing saved.
    await phone.fill('123');
    await page.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(page.getByText('電話番号を正しく入力してください（例：03-1234-5678）。').waitFor());
    assert.equal(await phone.getAttribute('aria-invalid'), 'true');
    await screenshot(page, '60-settings-clinic-error');

    // Typed as people write it (full-width), kept as patients will read it.
    await name.fill('デモクリニック本院');
    await phone.fill('０３－９８７６－５４３２');
    await page.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText('保存しました。').waitFor());
    assert.equal(await phone.inputValue(), '03-9876-5432');
    await assert.doesNotReject(page.locator('#clinic-name', { hasText: 'デモクリニック本院' }).waitFor());
    assert.equal((await api(page, 'GET', '/api/v1/me')).clinic.phone, '03-9876-5432');
    await screenshot(page, '61-settings-clinic');
    assert.deepEqual(await unlabelledControls(page), []);

    // Another administrator's change shows up live while nothing is being typed…
    const other = await running.staffPage('yamada@demo.enkaku.test');
    await api(other.page, 'PATCH', '/api/v1/admin/clinic', { name: 'デモクリニック駅前' });
    await assert.doesNotReject(page.waitForFunction(() => document.querySelector('input[name="name"]').value === 'デモクリニック駅前'));
    // …and one made while typing is not overwritten: the save is refused and the newest shown.
    await phone.fill('03-9999-0000');
    await api(other.page, 'PATCH', '/api/v1/admin/clinic', { name: 'デモクリニック新館' });
    await page.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(page.getByText(CHANGED_ELSEWHERE).waitFor());
    await assert.doesNotReject(page.waitForFunction(() => document.querySelector('input[name="name"]').value === 'デモクリニック新館'));
    assert.equal(await phone.inputValue(), '03-9876-5432');
    assert.deepEqual(other.errors, []);
    await other.context.close();
  });

  test('invites a doctor and copies the set-up URL, shown once', async () => {
    const { page } = admin;
    await openTab(page, 'スタッフ');
    const rows = page.locator('.staff-table tbody tr');
    await assert.doesNotReject(rows.filter({ hasText: 'yamada@demo.enkaku.test' }).filter({ hasText: '（あなた）' }).waitFor());
    assert.match(await rows.filter({ hasText: 'uketsuke@demo.enkaku.test' }).innerText(), /受付\s+—\s+有効/);
    assert.match(await rows.filter({ hasText: 'kansa@demo.enkaku.test' }).innerText(), /監査/);

    await page.getByRole('button', { name: 'スタッフを招待' }).click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByRole('heading', { name: 'スタッフを招待' }).waitFor());
    assert.equal(await panel.getByLabel('医師').isChecked(), true, 'a doctor unless chosen otherwise');
    // Without a name, then with an address someone has: said next to the field.
    await panel.getByRole('button', { name: '招待する' }).click();
    await assert.doesNotReject(panel.locator('[data-field="name"] .field-error', { hasText: '1文字以上100文字以内で入力してください。' }).waitFor());
    await panel.getByLabel(/^名前/).fill(DOCTOR.name);
    await panel.getByLabel(/^メールアドレス/).fill('sato@demo.enkaku.test');
    await panel.getByRole('button', { name: '招待する' }).click();
    await assert.doesNotReject(panel.getByText('このメールアドレスは別のスタッフが使用しています。').waitFor());
    await screenshot(page, '62-settings-invite-form');
    assert.deepEqual(await unlabelledControls(page), []);

    await panel.getByLabel(/^メールアドレス/).fill(DOCTOR.email);
    await panel.getByRole('button', { name: '招待する' }).click();
    await assert.doesNotReject(panel.getByText(`${DOCTOR.name}さんを招待しました。`).waitFor());
    setupUrl = await panel.getByLabel('パスワード設定URL').inputValue();
    assert.ok(setupUrl.startsWith(`${running.server.url}/setup/`), setupUrl);
    await assert.doesNotReject(panel.getByText(/このURLの有効期限は24時間です（.+まで）。URLが表示されるのは今回だけです。/).waitFor());
    await panel.getByRole('button', { name: 'URLをコピー' }).click();
    await assert.doesNotReject(panel.getByText('コピーしました').waitFor());
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), setupUrl);
    assert.match(await rows.filter({ hasText: DOCTOR.email }).innerText(), /医師\s+—\s+有効/);
    await screenshot(page, '63-settings-invited');

    // Once closed, the URL is nowhere on the page.
    await panel.getByRole('button', { name: '閉じる', exact: true }).click();
    assert.equal(await page.locator('#panel').isHidden(), true);
    assert.equal(await page.getByText(setupUrl).count(), 0);
  });

  test('the new doctor chooses a password there, signs in and sees their schedule', async () => {
    const context = await running.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    doctor = { page, context, errors: collectErrors(page) };
    await page.goto(setupUrl);
    await assert.doesNotReject(page.locator('.setup-who', { hasText: DOCTOR.email }).waitFor());
    await page.getByLabel(/^新しいパスワード(?!（確認）)/).fill(PASSWORD);
    await page.getByLabel('新しいパスワード（確認）').fill(PASSWORD);
    await page.getByRole('button', { name: 'パスワードを設定する' }).click();
    await page.getByRole('link', { name: 'ログイン画面へ' }).click();
    await page.getByLabel('メールアドレス').fill(DOCTOR.email);
    await page.getByLabel('パスワード').fill(PASSWORD);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.waitForURL(/\/schedule/);
    await assert.doesNotReject(page.locator('#staff-name', { hasText: DOCTOR.name }).waitFor());
    // A doctor starts as the doctor in charge of their own schedule.
    await assert.doesNotReject(page.locator('.view-doctor', { hasText: DOCTOR.name }).waitFor());
    await page.locator('body[data-live="connected"]').waitFor();
    assert.equal(await page.getByRole('link', { name: '設定' }).count(), 0, 'no 設定 for a doctor who is no administrator');
    await screenshot(page, '64-settings-new-doctor-schedule');
  });

  test('the administrator gives the new doctor Saturday hours, and the doctor books on them', async () => {
    const { page } = admin;
    // The doctor looks at next Saturday: no hours yet.
    await doctor.page.goto(`${running.server.url}/schedule?date=${saturday}`);
    await assert.doesNotReject(doctor.page.getByText('この日は診療時間がありません。', { exact: false }).waitFor());
    await doctor.page.locator('body[data-live="connected"]').waitFor();

    await openTab(page, '診療時間');
    const main = page.getByRole('main');
    await main.getByLabel('医師').selectOption({ label: DOCTOR.name });
    const sat = page.locator('tr[data-day="sat"]');
    await assert.doesNotReject(sat.getByText('休診').waitFor());
    await sat.getByRole('button', { name: '時間帯を追加' }).click();
    // Typed as a clinic types it: full-width, or the hour alone.
    await page.getByLabel('土曜日の時間帯1の開始').fill('１０：００');
    await page.getByLabel('土曜日の時間帯1の終了').fill('9');
    await main.getByLabel('予約枠の長さ').selectOption('30');
    await page.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(sat.locator('.field-error', { hasText: '時間帯を確認してください。' }).waitFor());
    await page.getByLabel('土曜日の時間帯1の終了').fill('13');
    await screenshot(page, '68-settings-hours');
    assert.deepEqual(await unlabelledControls(page), []);
    await page.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText(`${DOCTOR.name}さんの診療時間を保存しました。`, { exact: false }).waitFor());
    assert.equal(await page.getByLabel('土曜日の時間帯1の終了').inputValue(), '13:00');

    // The doctor's open schedule follows at once: 10:00 to 12:30 every 30 minutes.
    const slotButton = (time) => doctor.page.getByRole('button', { name: `${time} の予約受付` });
    await assert.doesNotReject(slotButton('12:30').waitFor());
    for (const time of ['10:00', '10:30', '11:00', '11:30', '12:00']) assert.equal(await slotButton(time).count(), 1, time);
    assert.equal(await doctor.page.getByRole('button', { name: /^13:00 / }).count(), 0);
    await slotButton('10:00').click();
    await doctor.page.getByRole('button', { name: '非会員' }).click();
    const panel = doctor.page.locator('#panel');
    await panel.getByLabel('患者名').fill('土曜 初診');
    await panel.getByLabel('対面').check();
    await panel.getByRole('button', { name: '予約' }).click();
    await assert.doesNotReject(panel.locator('dd', { hasText: '土曜 初診' }).waitFor());
    await assert.doesNotReject(doctor.page.locator('.entry', { hasText: '土曜 初診' }).waitFor());
    await screenshot(doctor.page, '69-settings-booked-on-new-hours');
  });

  test('menus are added, edited, stopped and taken again', async () => {
    const { page } = admin;
    await openTab(page, '診療メニュー');
    await page.getByRole('button', { name: '診療メニューを追加' }).click();
    const panel = page.locator('#panel');
    await panel.getByLabel(/^メニュー名/).fill('禁煙外来');
    await panel.getByLabel('対面').uncheck();
    await panel.getByLabel(/^初診/).fill('30');
    await panel.getByLabel(/^再診/).fill('300');
    await panel.getByRole('button', { name: '追加する' }).click();
    await assert.doesNotReject(panel.getByText('診察時間は5分から240分の間で入力してください。').waitFor());
    await panel.getByLabel(/^再診/).fill('15');
    await panel.getByLabel(/^予約料/).fill('2200');
    await panel.getByRole('button', { name: '追加する' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText('「禁煙外来」を追加しました。').waitFor());
    const row = page.locator('.menus-table tbody tr', { hasText: '禁煙外来' });
    assert.match(await row.innerText(), /禁煙外来\s+オンライン\s+初診 30分・再診 15分\s+2,200円\s+受付中/);

    await row.getByRole('button', { name: '編集' }).click();
    await panel.getByLabel(/^メニュー名/).fill('禁煙外来（オンライン）');
    await panel.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText('「禁煙外来（オンライン）」を保存しました。').waitFor());

    await row.getByRole('button', { name: '受付停止' }).click();
    await page.getByRole('dialog', { name: '受付停止' }).getByRole('button', { name: '受付停止' }).click();
    await assert.doesNotReject(row.getByRole('button', { name: '受付再開' }).waitFor());
    assert.match(await row.innerText(), /2,200円\s+受付停止/);
    await screenshot(page, '70-settings-menus');
    const bookable = await api(page, 'GET', '/api/v1/menus');
    assert.equal(bookable.items.some((m) => m.name.startsWith('禁煙外来')), false, 'a stopped menu cannot be booked');
    await row.getByRole('button', { name: '受付再開' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText('「禁煙外来（オンライン）」の受付を再開しました。').waitFor());
  });

  test('a closed day is added for one doctor, closes their slots, and is removed', async () => {
    const { page } = admin;
    await openTab(page, '休診日');
    await page.getByRole('button', { name: '休診日を追加' }).click();
    const panel = page.locator('#panel');
    await panel.getByLabel(/^日付/).fill(saturday);
    await panel.getByLabel('対象').selectOption({ label: DOCTOR.name });
    await panel.getByLabel(/^理由/).fill('学会出張');
    await screenshot(page, '71-settings-closure-form');
    await panel.getByRole('button', { name: '追加する' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText(`を休診日にしました（${DOCTOR.name}）。`, { exact: false }).waitFor());
    const row = page.locator('.closures-table tbody tr', { hasText: '学会出張' });
    assert.match(await row.innerText(), new RegExp(DOCTOR.name));

    // The doctor's open schedule follows: Saturday has no hours now, and the booking made on
    // it shows as outside them.
    await assert.doesNotReject(doctor.page.getByText('この日は診療時間がありません。', { exact: false }).waitFor());
    assert.equal(await doctor.page.getByRole('button', { name: '10:30 の予約受付' }).count(), 0);
    await assert.doesNotReject(doctor.page.locator('.outside-hours .entry', { hasText: '土曜 初診' }).waitFor());
    await row.getByRole('button', { name: '削除' }).click();
    await page.getByRole('dialog', { name: '休診日の削除' }).getByRole('button', { name: '削除する' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText('の休診を削除しました。', { exact: false }).waitFor());
    await assert.doesNotReject(page.getByText('予定されている休診日はありません。').waitFor());
    await assert.doesNotReject(doctor.page.getByRole('button', { name: '10:30 の予約受付' }).waitFor());
  });

  test('deactivated, the doctor\'s open page goes to the login page by itself; reactivated, gets a new set-up URL', async () => {
    const { page } = admin;
    await openTab(page, 'スタッフ');
    const row = page.locator('.staff-table tbody tr', { hasText: DOCTOR.email });
    await row.getByRole('button', { name: '無効にする' }).click();
    const dialog = page.getByRole('dialog', { name: 'スタッフを無効にする' });
    await assert.doesNotReject(dialog.getByText(`${DOCTOR.name}さんはすぐにログアウトされ、ログインできなくなります。`, { exact: false }).waitFor());
    await screenshot(page, '65-settings-deactivate');
    await dialog.getByRole('button', { name: '無効にする' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText(`${DOCTOR.name}さんを無効にしました。`).waitFor());
    await assert.doesNotReject(row.getByRole('button', { name: '有効にする' }).waitFor());
    assert.match(await row.innerText(), /医師\s+—\s+無効/);
    assert.equal(await row.getByRole('button', { name: 'パスワード再設定URLを発行' }).count(), 0);

    // The doctor's open page: its live stream ends with the session, and on reconnecting it
    // learns the session is gone and goes to the login page by itself (so a click on the page
    // here would race that, and lose on a slow machine). There they cannot sign in.
    await doctor.page.waitForURL(/\/login/);
    await doctor.page.getByLabel('メールアドレス').fill(DOCTOR.email);
    await doctor.page.getByLabel('パスワード').fill(PASSWORD);
    await doctor.page.getByRole('button', { name: 'ログイン' }).click();
    await assert.doesNotReject(doctor.page.getByText('メールアドレスまたはパスワードが正しくありません。').waitFor());

    await row.getByRole('button', { name: '有効にする' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText(`${DOCTOR.name}さんを有効にしました。`, { exact: false }).waitFor());
    await row.getByRole('button', { name: 'パスワード再設定URLを発行' }).click();
    await page.getByRole('dialog', { name: 'パスワード再設定URLの発行' }).getByRole('button', { name: '発行する' }).click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByText(`${DOCTOR.name}さんのパスワード再設定URLを発行しました。`).waitFor());
    const again = await panel.getByLabel('パスワード設定URL').inputValue();
    assert.ok(again.startsWith(`${running.server.url}/setup/`) && again !== setupUrl, again);
    await screenshot(page, '66-settings-setup-url-again');
    await panel.getByRole('button', { name: '閉じる', exact: true }).click();
  });

  test('a change of name and role is saved with the version shown', async () => {
    const { page } = admin;
    const row = page.locator('.staff-table tbody tr', { hasText: 'kansa@demo.enkaku.test' });
    await row.getByRole('button', { name: '編集' }).click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByRole('heading', { name: 'スタッフの編集' }).waitFor());
    assert.equal(await panel.getByLabel('監査').isChecked(), true);
    await panel.getByLabel(/^名前/).fill('監査 次郎');
    await panel.getByLabel('受付').check();
    await panel.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(page.getByRole('status').getByText('監査 次郎さんの登録内容を保存しました。').waitFor());
    await assert.doesNotReject(row.filter({ hasText: '監査 次郎' }).waitFor());
    assert.match(await row.innerText(), /監査 次郎\s+kansa@demo\.enkaku\.test\s+受付/);
    assert.equal(await page.locator('#panel').isHidden(), true);
  });

  test('no one but an administrator has 設定', async () => {
    for (const email of ['sato@demo.enkaku.test', 'uketsuke@demo.enkaku.test']) {
      const { page, errors, context } = await running.staffPage(email);
      assert.equal(await page.getByRole('link', { name: '設定' }).count(), 0, email);
      await page.goto(`${running.server.url}/settings?tab=staff`);
      await assert.doesNotReject(page.getByText('この画面は管理者のみ使用できます。').waitFor());
      assert.equal(await page.getByRole('navigation', { name: '設定の項目' }).count(), 0);
      assert.equal(await page.getByRole('link', { name: '設定' }).count(), 0);
      if (email.startsWith('sato')) await screenshot(page, '67-settings-not-admin');
      assert.deepEqual(errors, []);
      await context.close();
    }
  });

  after(() => {
    assert.deepEqual(admin.errors, []);
    assert.deepEqual(doctor?.errors ?? [], []);
  });
});
