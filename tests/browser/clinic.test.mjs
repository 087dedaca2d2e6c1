// The clinic UI and the patient page in a real browser (issue 4): what a person sees when
// they book, send, edit, cancel and open the call, and what the patient sees at each stage.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DESKTOP, api, collectErrors, launchBrowser, mediaArrives, openWebSocket, receivedMedia, refuseSoundBeforeATap, screenshot,
  serverAndBrowser, unlabelledControls, watchPeerConnections, weekdayAhead, withoutCamera,
} from './harness.mjs';

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const R13_BEFORE_WINDOW = 'このビデオ通話は開始前です。開始1時間前より待機することができます。';

const running = serverAndBrowser();
const date = weekdayAhead();

async function openSchedule(page) {
  await page.goto(`${running.server.url}/schedule?date=${date}`);
  await page.locator('body[data-live="connected"]').waitFor();
  await page.locator('.slots').waitFor();
}

const slot = (page, time) => page.locator('.slot', { has: page.getByRole('button', { name: `${time} の予約受付` }) });

describe('the clinic books a patient without an account (非会員)', () => {
  let page;
  let errors;
  let patientUrl;

  before(async () => {
    const context = await running.browser.newContext(DESKTOP);
    page = await context.newPage();
    errors = collectErrors(page);
  });

  test('login shows the clinic and the current doctor', async () => {
    await page.goto(`${running.server.url}/schedule`);
    await page.waitForURL(/\/login\?next=/);
    await screenshot(page, '01-login');
    // An empty form says what is missing, and puts the cursor there.
    await page.getByRole('button', { name: 'ログイン' }).click();
    await assert.doesNotReject(page.getByText('メールアドレスを入力してください。').waitFor());
    assert.equal(await page.evaluate(() => document.activeElement.id), 'email');
    await page.getByLabel('メールアドレス').fill('yamada@demo.enkaku.test');
    await page.getByRole('button', { name: 'ログイン' }).click();
    await assert.doesNotReject(page.getByText('パスワードを入力してください。').waitFor());
    assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
    await page.getByLabel('パスワード').fill('wrong-password');
    await page.getByRole('button', { name: 'ログイン' }).click();
    await assert.doesNotReject(page.getByText('メールアドレスまたはパスワードが正しくありません。').waitFor());
    // A `next` that points at another site is refused: the person lands on the schedule.
    await page.goto(`${running.server.url}/login?next=${encodeURIComponent('/\\evil.example/')}`);
    await page.getByLabel('メールアドレス').fill('yamada@demo.enkaku.test');
    await page.getByLabel('パスワード').fill('demo-password');
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.waitForURL(`${running.server.url}/schedule`);
    await assert.doesNotReject(page.locator('#clinic-name', { hasText: 'デモクリニック' }).waitFor());
    assert.equal(await page.getByLabel('医師', { exact: true }).locator('option:checked').textContent(), '山田 太郎');
  });

  test('a slot opens 予約受付 and the in-clinic form', async () => {
    await openSchedule(page);
    await screenshot(page, '02-schedule');
    // Day navigation moves the day, its heading and the address, and comes back.
    const heading = page.locator('.day-title');
    const shown = await heading.textContent();
    await page.getByRole('button', { name: '次の日' }).click();
    await page.waitForURL((url) => url.searchParams.get('date') !== date);
    assert.notEqual(await heading.textContent(), shown);
    await page.getByRole('button', { name: '前の日' }).click();
    await page.waitForURL((url) => url.searchParams.get('date') === date);
    assert.equal(await heading.textContent(), shown);
    await page.locator('.slots').waitFor();
    await page.getByRole('button', { name: '10:00 の予約受付' }).click();
    await page.getByRole('button', { name: '非会員' }).click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByRole('heading', { name: '予約受付' }).waitFor());
    // The slot being booked stays marked on the grid, and only that one.
    assert.deepEqual(await page.locator('li.slot.chosen .slot-time').allTextContents(), ['10:00']);
    assert.equal(await slot(page, '10:00').getAttribute('aria-current'), 'true');
    // The duration follows the menu and the visit type (R3).
    const duration = panel.locator('output.duration');
    const first = await duration.textContent();
    await panel.getByLabel('再診').check();
    assert.notEqual(await duration.textContent(), first, 'revisit duration differs from the first visit');
    await panel.getByLabel('初診').check();
    // A menu that allows only online consultations cannot be booked in person (R6), and its
    // booking fee is said to be waived (R5).
    // The menu says so in its name.
    await panel.getByLabel('対面').check();
    await panel.getByLabel('診療メニュー').selectOption({ label: 'オンライン自費診療（オンラインのみ）' });
    assert.equal(await panel.getByLabel('対面').isDisabled(), true);
    assert.equal(await panel.getByLabel('オンライン').isChecked(), true);
    await assert.doesNotReject(panel.getByText(/院内予約では徴収されません/).waitFor());
    // Back to a menu with both: the mode chosen before comes back.
    await panel.getByLabel('診療メニュー').selectOption({ label: '一般内科' });
    assert.equal(await panel.getByLabel('対面').isDisabled(), false);
    assert.equal(await panel.getByLabel('対面').isChecked(), true);
    await panel.getByLabel('オンライン').check();
    await screenshot(page, '03-booking-form');
    assert.deepEqual(await unlabelledControls(page), []);

    // Nothing but a name: the server's error appears next to the field.
    await panel.getByRole('button', { name: '予約' }).click();
    const nameError = panel.locator('[data-field="patient_name"] .field-error');
    await assert.doesNotReject(nameError.filter({ hasText: '患者名を入力してください' }).waitFor());
    assert.equal(await panel.getByLabel('患者名').getAttribute('aria-invalid'), 'true');
  });

  test('an invalid phone number keeps 「送信する」 disabled; a valid one sends by SMS', async () => {
    const panel = page.locator('#panel');
    await panel.getByLabel('患者名').fill('田中 花子');
    // Another doctor chosen in the header takes over the booking, and nothing typed is lost.
    const doctor = page.locator('#doctor-select');
    await doctor.selectOption({ label: '佐藤 花子' });
    assert.equal(await panel.locator('.field .current-doctor').textContent(), '佐藤 花子');
    await doctor.selectOption({ label: '山田 太郎' });
    assert.equal(await panel.locator('.field .current-doctor').textContent(), '山田 太郎');
    assert.equal(await panel.getByLabel('患者名').inputValue(), '田中 花子');
    await panel.getByLabel('カルテ番号').fill('K-0042');
    await panel.getByLabel('オンライン').check();
    await panel.getByLabel('当日メモ').fill('院内メモ: 血圧の薬');
    await panel.getByRole('button', { name: '予約' }).click();

    const dialog = page.getByRole('dialog', { name: 'ビデオ通話URLの送信' });
    await dialog.waitFor();
    // Not sending now is 「キャンセル」, and the pop-up says the booking stays and the URL can go later.
    await assert.doesNotReject(dialog.getByText('「キャンセル」を押しても予約はそのままです。URLはあとで「URL送信」から送れます。').waitFor());
    assert.equal(await dialog.getByRole('button', { name: 'キャンセル', exact: true }).count(), 1);
    const send = dialog.getByRole('button', { name: '送信する' });
    const number = dialog.getByLabel('送信先電話番号');
    assert.equal(await number.getAttribute('placeholder'), '例: 090-1234-5678');
    await number.fill('12345');
    // Not while typing: once the field is left.
    await page.waitForTimeout(800);
    assert.equal(await dialog.getByText('有効な携帯電話番号を入力してください').count(), 0, 'no error while typing');
    assert.equal(await send.isDisabled(), true, 'an invalid number cannot be sent');
    await number.blur();
    // In Japanese punctuation, with an example written as people write it.
    await assert.doesNotReject(dialog.getByText('有効な携帯電話番号を入力してください（例：090-1234-5678）。', { exact: true }).waitFor());
    // A number typed for SMS does not follow into the e-mail field, and comes back.
    await dialog.getByLabel('メール').check();
    assert.equal(await dialog.getByLabel('送信先メールアドレス').inputValue(), '');
    await dialog.getByLabel('SMS').check();
    assert.equal(await number.inputValue(), '12345');
    await number.focus();
    await number.blur();
    await assert.doesNotReject(dialog.getByText('有効な携帯電話番号を入力してください').waitFor());
    assert.equal(await dialog.getByLabel('送信先電話番号').getAttribute('aria-invalid'), 'true');
    await screenshot(page, '04-send-invalid-number');
    assert.deepEqual(await unlabelledControls(page), []);

    await dialog.getByLabel('送信先電話番号').fill('090-1234-5678');
    await send.waitFor({ state: 'visible' });
    await page.waitForFunction(() => !document.querySelector('dialog.send-dialog button[type=submit]').disabled);
    await send.click();
    await dialog.waitFor({ state: 'detached' });
    // The first send is confirmed as a resend is; the booked slot is no longer marked.
    await assert.doesNotReject(panel.locator('.notice', { hasText: 'ビデオ通話URLを送信しました。' }).waitFor());
    assert.equal(await page.locator('li.slot.chosen').count(), 0);

    // The panel shows the destination; the sent time arrives with the live update (R14, R16).
    // As people write it; the API keeps E.164.
    await assert.doesNotReject(panel.getByText('SMS 090-1234-5678').waitFor());
    await assert.doesNotReject(panel.locator('dd', { hasText: /^\d{4}\/\d{2}\/\d{2}\(.\) \d{2}:\d{2}$/ }).waitFor());
    // No SMS provider on the embedded default: kept, and said so plainly.
    await assert.doesNotReject(panel.getByText(/^送信ボックスに保管（未送信）/).waitFor());
    await panel.getByRole('button', { name: '患者用URLを表示' }).click();
    patientUrl = await panel.getByLabel('患者用URL').inputValue();
    assert.match(patientUrl, /\/p\/[A-Za-z0-9_-]{40,}$/);
    await assert.doesNotReject(panel.getByText(/^有効期間: .* 09:00〜.* 10:00$/).waitFor());
    await screenshot(page, '05-appointment-panel');
    assert.deepEqual(await unlabelledControls(page), []);

    // On the schedule, on its slot, with the video mark (R4).
    const entry = slot(page, '10:00').locator('.entry', { hasText: '田中 花子' });
    await assert.doesNotReject(entry.waitFor());
    assert.equal(await entry.locator('svg.icon-video').count(), 1);
  });

  test('the clinic URL can be copied, and 「URL再送」 by e-mail overwrites the destination', async () => {
    const panel = page.locator('#panel');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: running.server.url });
    await panel.getByRole('button', { name: '医療機関用URLをコピー' }).click();
    // Beside the button that was pressed.
    const pressed = panel.locator('.copy', { has: page.getByRole('button', { name: '医療機関用URLをコピー' }) });
    await assert.doesNotReject(pressed.getByText('コピーしました').waitFor());
    const clinicUrl = await panel.getByLabel('医療機関用URL').inputValue();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), clinicUrl);
    // A week ahead, the call screen says when it can start, and the button waits for it.
    const early = await page.context().newPage();
    await early.goto(clinicUrl);
    await assert.doesNotReject(early.getByText(/^このビデオ通話は \d{4}\/\d{2}\/\d{2}\(.\) 09:00 から開始できます。/).waitFor());
    assert.equal(await early.getByRole('button', { name: 'ビデオ通話を開始する' }).isDisabled(), true);
    await screenshot(early, '15b-call-before-window');
    await early.close();

    await panel.getByRole('button', { name: 'URL再送' }).click();
    const dialog = page.getByRole('dialog', { name: 'ビデオ通話URLの再送' });
    await dialog.getByLabel('メール').check();
    await dialog.getByLabel('送信先メールアドレス').fill('hanako@example.jp');
    await page.waitForFunction(() => !document.querySelector('dialog.send-dialog button[type=submit]').disabled);
    await dialog.getByRole('button', { name: '送信する' }).click();
    await assert.doesNotReject(panel.getByText('ビデオ通話URLを送信しました。').waitFor());
    await assert.doesNotReject(panel.getByText('メール hanako@example.jp', { exact: true }).waitFor());
    assert.equal(await panel.locator('dl.delivery').getByText('SMS 090-1234-5678').count(), 0, 'the shown destination is overwritten (R15)');
    // Every attempt stays in the history, newest first.
    await panel.getByText('送信履歴（2件）').click();
    const attempts = panel.locator('.delivery-history li');
    // The panel may be redrawn by a live update meanwhile: wait for the texts, not one reading.
    await attempts.nth(1).filter({ hasText: /SMS 090-1234-5678 — 送信ボックスに保管（未送信）/ }).waitFor();
    await attempts.nth(0).filter({ hasText: /メール hanako@example\.jp/ }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.delivery-history li').length === 2);
  });

  test('受付一覧 lists it with the video tooltip, and the name opens 診察をはじめる', async () => {
    await page.getByRole('link', { name: '受付一覧' }).click();
    await page.waitForURL(/\/reception/);
    await page.goto(`${running.server.url}/reception?date=${date}`);
    const row = page.locator('tr', { hasText: '田中 花子' });
    await row.waitFor();
    await row.locator('.video-mark').hover();
    const tooltip = page.getByRole('tooltip');
    await assert.doesNotReject(tooltip.filter({ hasText: 'ビデオ通話での診察です' }).waitFor({ state: 'visible' }));
    await screenshot(page, '06-reception-tooltip');
    // Whether the patient URL went out, in words (no provider here: kept in the outbox).
    assert.equal(await row.locator('td.url-delivery').innerText(), '送信ボックスに保管（未送信）');
    const headers = await page.locator('.reception-table th').allTextContents();
    assert.equal(headers.at(-1), 'URL送信');

    // Narrowed by doctor and by mode, kept in the address; the count says what is hidden.
    await page.getByLabel('担当医師').selectOption({ label: '佐藤 花子' });
    await page.waitForURL((url) => url.searchParams.has('doctor'));
    await row.waitFor({ state: 'detached' });
    await assert.doesNotReject(page.getByText(/^担当医師: 佐藤 花子で絞り込み中: \d+件中0件$/).waitFor());
    await assert.doesNotReject(page.getByText('条件に合う受付はありません。').waitFor());
    await page.getByLabel('担当医師').selectOption({ label: '山田 太郎' });
    await page.getByLabel('診察方式').selectOption({ label: '対面' });
    await row.waitFor({ state: 'detached' });
    await page.getByLabel('診察方式').selectOption({ label: 'オンライン' });
    await row.waitFor();
    await page.reload();
    await row.waitFor();
    assert.equal(await page.getByLabel('診察方式').inputValue(), 'online');
    await screenshot(page, '06b-reception-filtered');
    await page.getByLabel('担当医師').selectOption({ label: 'すべて' });
    await page.getByLabel('診察方式').selectOption({ label: 'すべて' });
    await page.waitForURL((url) => !url.searchParams.has('doctor') && !url.searchParams.has('mode'));
    await page.locator('.filter-note').waitFor({ state: 'detached' });

    // On paper: the day's list, without navigation or controls.
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.getByRole('navigation', { name: 'メニュー' }).isVisible(), false);
    assert.equal(await page.getByRole('button', { name: '印刷' }).isVisible(), false);
    assert.equal(await page.getByLabel('担当医師').isVisible(), false);
    assert.equal(await page.locator('.day-title').isVisible(), true);
    assert.equal(await row.isVisible(), true);
    await screenshot(page, '06c-reception-print');
    await page.emulateMedia({ media: 'screen' });

    await row.getByRole('button', { name: '田中 花子' }).click();
    const start = page.locator('#panel').getByRole('link', { name: '診察をはじめる' });
    await start.waitFor();
    assert.match(await start.getAttribute('href'), /\/call\/[A-Za-z0-9_-]{40,}$/);
    await screenshot(page, '07-reception-details');
    assert.deepEqual(await unlabelledControls(page), []);
  });

  test('the outbox shows the SMS with the patient link', async () => {
    await page.getByRole('link', { name: '送信ボックス' }).click();
    const message = page.locator('.message', { hasText: '090-1234-5678' });
    await message.waitFor();
    assert.equal(await message.getByRole('link', { name: patientUrl }).count(), 1);
    // The resend is in the history too (R15).
    await assert.doesNotReject(page.locator('.message', { hasText: 'hanako@example.jp' }).waitFor());
    await assert.doesNotReject(page.getByText(/SMSは送信設定がないため、送信せずにここに保管します/).waitFor());
    assert.match(await message.locator('.delivery-state').innerText(), /^送信ボックスに保管（未送信）/);
    await screenshot(page, '08-outbox');
  });

  test('the patient page before the window says so, at phone size, with nothing internal', async () => {
    const context = await running.browser.newContext(PHONE);
    const patient = await context.newPage();
    const patientErrors = collectErrors(patient);
    await patient.goto(patientUrl);
    await assert.doesNotReject(patient.getByText(R13_BEFORE_WINDOW, { exact: true }).waitFor());
    await assert.doesNotReject(patient.getByText('デモクリニック').first().waitFor());
    // When the consultation is comes first, then when the link works, then whom to call.
    const when = patient.locator('.when p');
    assert.match(await when.nth(0).innerText(), /^診察日時: \d{1,2}月\d{1,2}日\(.\) 10:00$/);
    assert.match(await when.nth(1).innerText(), /^URLを使える期間: .* 09:00〜.* 10:00$/);
    await assert.doesNotReject(patient.getByRole('link', { name: '03-1234-5678' }).waitFor());
    const fontSize = await patient.locator('.state-message').evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
    assert.ok(fontSize >= 18, `the message is ${fontSize}px`);
    const text = await patient.locator('body').innerText();
    for (const internal of ['田中 花子', 'K-0042', '血圧', '山田']) {
      assert.ok(!text.includes(internal), `the patient page shows "${internal}"`);
    }
    assert.equal(await patient.locator('video').count(), 0, 'no camera before the window');
    await screenshot(patient, '12-patient-before-window');
    assert.deepEqual(patientErrors, []);
    await context.close();
  });

  test('the booking is cancelled from its panel after a confirmation; 受付一覧 and the patient page say so', async () => {
    await page.goto(`${running.server.url}/reception?date=${date}`);
    const row = page.locator('tr', { hasText: '田中 花子' });
    await row.getByRole('button', { name: '田中 花子' }).click();
    const panel = page.locator('#panel');
    await panel.getByRole('button', { name: '予約キャンセル' }).click();
    const confirm = page.getByRole('dialog', { name: '予約のキャンセル' });
    await confirm.waitFor();
    await screenshot(page, '07b-booking-cancel-confirm');
    await confirm.getByRole('button', { name: 'キャンセルする' }).click();
    await assert.doesNotReject(panel.getByText('予約をキャンセルしました。').waitFor());
    assert.equal(await panel.getByRole('button', { name: '予約キャンセル' }).count(), 0);
    // Its URLs open nothing now: nothing to show or copy, and the notice is no success.
    assert.equal(await panel.getByRole('button', { name: /コピー|URLを表示|再発行|URL再送/ }).count(), 0);
    assert.equal(await panel.locator('.notice.closed', { hasText: 'この予約はキャンセルされました。' }).count(), 1);
    await assert.doesNotReject(page.locator('tr.status-cancelled', { hasText: '田中 花子' }).waitFor());

    const context = await running.browser.newContext(PHONE);
    const patient = await context.newPage();
    await patient.goto(patientUrl);
    await assert.doesNotReject(patient.getByText('このビデオ通話はキャンセルされました。', { exact: false }).waitFor());
    assert.equal(await patient.locator('.when').count(), 0, 'no time or window after a cancel');
    await context.close();
  });

  after(() => assert.deepEqual(errors, []));
});

describe('a video URL only (ビデオ通話URL作成)', () => {
  let page;
  let errors;
  let patientUrl;

  before(async () => {
    ({ page, errors } = await running.staffPage('yamada@demo.enkaku.test'));
  });

  test('is created from a slot, shows only in the schedule, and its title can be edited', async () => {
    await openSchedule(page);
    await page.getByRole('button', { name: '14:00 の予約受付' }).click();
    await page.getByRole('button', { name: 'ビデオ通話URL作成' }).click();
    const panel = page.locator('#panel');
    await panel.getByLabel('タイトル').fill('さくら苑 入居者');
    await screenshot(page, '09-video-url-form');
    await panel.getByRole('button', { name: '作成', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'ビデオ通話URLの送信' });
    await dialog.getByRole('button', { name: 'キャンセル', exact: true }).click();
    await assert.doesNotReject(panel.getByRole('heading', { name: 'ビデオ通話', exact: true }).waitFor());
    await assert.doesNotReject(panel.getByText('未送信').waitFor());
    // Nothing was sent yet: the button offers to send, not to send again.
    assert.equal(await panel.getByRole('button', { name: 'URL送信' }).count(), 1);
    assert.equal(await panel.getByRole('button', { name: 'URL再送' }).count(), 0);
    await panel.getByRole('button', { name: '患者用URLを表示' }).click();
    patientUrl = await panel.getByLabel('患者用URL').inputValue();

    const entry = slot(page, '14:00').locator('.entry', { hasText: 'さくら苑 入居者' });
    await entry.waitFor();
    assert.equal(await entry.locator('svg.icon-video').count(), 1, 'the video-camera mark (R9)');

    await panel.getByRole('button', { name: '編集' }).click();
    await assert.doesNotReject(panel.getByText('開始日時は変更できません。変更する場合は、キャンセルして作成し直してください。').waitFor());
    await screenshot(page, '10-edit');
    await panel.getByLabel('タイトル').fill('さくら苑 2階');
    await panel.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(panel.getByText('保存しました。').waitFor());
    await assert.doesNotReject(slot(page, '14:00').locator('.entry', { hasText: 'さくら苑 2階' }).waitFor());

    await page.goto(`${running.server.url}/reception?date=${date}`);
    await page.locator('.reception-table, .empty').first().waitFor();
    assert.equal(await page.getByText('さくら苑').count(), 0, 'never in the reception list (R9)');
  });

  test('its patient URL is reissued after a confirmation; the old link then says it is no longer valid', async () => {
    await openSchedule(page);
    await slot(page, '14:00').locator('.entry', { hasText: 'さくら苑 2階' }).click();
    const panel = page.locator('#panel');
    await panel.getByRole('button', { name: '患者用URLを再発行' }).click();
    const confirm = page.getByRole('dialog', { name: '患者用URLの再発行' });
    await confirm.waitFor();
    await screenshot(page, '10b-reissue-confirm');
    await confirm.getByRole('button', { name: '再発行する' }).click();
    await assert.doesNotReject(panel.getByText('患者用URLを再発行しました。', { exact: false }).waitFor());
    await panel.getByRole('button', { name: '患者用URLを表示' }).click();
    const reissued = await panel.getByLabel('患者用URL').inputValue();
    assert.match(reissued, /\/p\/[A-Za-z0-9_-]{40,}$/);
    assert.notEqual(reissued, patientUrl);

    const context = await running.browser.newContext(PHONE);
    const patient = await context.newPage();
    const patientErrors = collectErrors(patient);
    await patient.goto(patientUrl);
    await assert.doesNotReject(patient.getByText('このURLは無効になりました。医療機関から届いた新しいURLをご利用ください。', { exact: true }).waitFor());
    await screenshot(patient, '12b-patient-revoked');
    assert.deepEqual(patientErrors, []);
    await context.close();
    patientUrl = reissued;
  });

  test('is cancelled after a confirmation; the patient page then says so', async () => {
    await openSchedule(page);
    await slot(page, '14:00').locator('.entry', { hasText: 'さくら苑 2階' }).click();
    const panel = page.locator('#panel');
    await panel.getByRole('button', { name: 'ビデオ通話キャンセル' }).click();
    const confirm = page.getByRole('dialog', { name: 'ビデオ通話のキャンセル' });
    await confirm.waitFor();
    await screenshot(page, '11-cancel-confirm');
    await confirm.getByRole('button', { name: 'キャンセルする' }).click();
    await assert.doesNotReject(panel.getByText('ビデオ通話をキャンセルしました。').waitFor());
    assert.equal(await panel.getByRole('button', { name: 'URL再送' }).count(), 0);
    await assert.doesNotReject(slot(page, '14:00').locator('.entry.status-cancelled').waitFor());

    const context = await running.browser.newContext(PHONE);
    const patient = await context.newPage();
    await patient.goto(patientUrl);
    await assert.doesNotReject(patient.getByText('このビデオ通話はキャンセルされました。', { exact: false }).waitFor());
    await screenshot(patient, '13-patient-cancelled');
    await context.close();
  });

  after(() => assert.deepEqual(errors, []));
});

describe('a call that is open now', () => {
  /** A video call open now, created by Yamada through the API: his page and the call. */
  async function callOpenNow(title) {
    const staff = await running.staffPage('yamada@demo.enkaku.test');
    const me = await api(staff.page, 'GET', '/api/v1/me');
    const created = await api(staff.page, 'POST', '/api/v1/video-calls', { doctor_id: me.staff.id, start_now: true, title });
    return { ...staff, created };
  }

  /**
   * The patient's phone on `url`, its peer connections watched; `prepare(context)` changes the
   * phone first (no camera, iOS's sound rule), `from` is another browser (one refusing the camera).
   */
  async function patientPhone(url, { from = running.browser, prepare } = {}) {
    const context = await from.newContext(PHONE);
    await watchPeerConnections(context);
    await prepare?.(context);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    return { page, errors, context };
  }

  /** The call screen on `url`, in the staff member's context (their session). */
  async function callScreen(staff, url) {
    await watchPeerConnections(staff.context);
    const page = await staff.context.newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await page.getByText('ビデオ通話', { exact: true }).waitFor();
    return { page, errors };
  }

  /**
   * The doctor starts the call; both pages then receive each other's picture and sound (or,
   * on the call screen, what `fromPatient` says the patient sends; null: nothing).
   */
  async function startCall(call, patient, { fromPatient = {} } = {}) {
    await call.getByRole('button', { name: 'ビデオ通話を開始する' }).click();
    await call.getByRole('button', { name: '通話を終了する' }).waitFor();
    await patient.locator('.call-state[data-state="in_call"]').waitFor();
    await mediaArrives(patient, { what: "the doctor's media on the patient page" });
    if (fromPatient) await mediaArrives(call, { ...fromPatient, what: "the patient's media on the call screen" });
  }

  async function endCall(call) {
    await call.getByRole('button', { name: '通話を終了する' }).click();
    await call.getByRole('dialog', { name: '通話の終了' }).getByRole('button', { name: '終了する' }).click();
  }

  /**
   * Opening the patient's media socket from `page` is refused before the upgrade with 409;
   * the browser logs that refusal once, which is then taken out of `errors`.
   */
  async function assertMediaRefused(page, errors, token) {
    const path = `/api/v1/media/patient/${encodeURIComponent(token)}`;
    assert.deepEqual(await openWebSocket(page, path), { opened: false, status: 409 });
    const refusals = errors.filter((e) => e.includes(path));
    assert.equal(refusals.length, 1, 'the page itself tried no other media socket');
    errors.splice(errors.indexOf(refusals[0]), 1);
  }

  const tokenOf = (url) => new URL(url).pathname.split('/').pop();

  test('the patient waits with their own preview; the doctor sees the call screen, starts and ends', async () => {
    const { page, errors } = await running.staffPage('yamada@demo.enkaku.test');
    await page.goto(`${running.server.url}/schedule`);
    await page.locator('.slots, .empty').first().waitFor();
    await page.getByRole('button', { name: /の予約受付$/ }).first().click().catch(async () => {
      // Today may have no opening hours (a weekend): show every time.
      await page.getByLabel('すべての時間を表示する').check();
      await page.getByRole('button', { name: /の予約受付$/ }).first().click();
    });
    await page.getByRole('button', { name: 'ビデオ通話URL作成' }).click();
    const panel = page.locator('#panel');
    await panel.getByLabel('現在時刻で作成').check();
    assert.equal(await panel.getByLabel('開始日時').isDisabled(), true);
    await panel.getByLabel('タイトル').fill('いま診察');
    await panel.getByLabel('送信（作成後にビデオ通話URLを送信する）').uncheck();
    await panel.getByRole('button', { name: '作成', exact: true }).click();
    await panel.getByRole('button', { name: '患者用URLを表示' }).click();
    const patientUrl = await panel.getByLabel('患者用URL').inputValue();
    const clinicUrl = await panel.getByLabel('医療機関用URL').inputValue();

    const phone = await running.browser.newContext(PHONE);
    const patient = await phone.newPage();
    const patientErrors = collectErrors(patient);
    await patient.goto(patientUrl);
    await assert.doesNotReject(patient.getByText('医師が通話を開始するまでお待ちください。').waitFor());
    // Said once: no grey line repeating it below.
    assert.equal(await patient.getByText(/通話を開始するまで/).count(), 1);
    await patient.waitForFunction(() => document.querySelector('video.preview')?.videoWidth > 0);
    await screenshot(patient, '14-patient-open');
    // Staff see the patient arrive, live: on the schedule and in the panel still open.
    const arrived = /^患者さんが入室しました（\d{2}:\d{2}〜）$/;
    await assert.doesNotReject(page.locator('.entry .arrival', { hasText: arrived }).waitFor());
    await assert.doesNotReject(panel.locator('.arrival', { hasText: arrived }).waitFor());
    await screenshot(page, '14a-schedule-patient-arrived');

    const call = await page.context().newPage();
    const callErrors = collectErrors(call);
    await call.goto(clinicUrl);
    await assert.doesNotReject(call.getByText('ビデオ通話', { exact: true }).waitFor());
    await call.waitForFunction(() => document.getElementById('self-video')?.videoWidth > 0);
    const label = await call.locator('.call-label').boundingBox();
    const self = await call.locator('#self-video').boundingBox();
    const viewport = call.viewportSize();
    assert.ok(label.x < 50 && label.y < 50, 'ビデオ通話 sits top-left');
    assert.ok(self.x < 50 && self.y + self.height > viewport.height - 50, 'own camera sits bottom-left');
    assert.equal(await call.getByRole('button', { name: '通話を終了する' }).isVisible(), false, 'no end before the start');
    // Through the relay: the doctor sees the patient arrive; the patient sees no one yet.
    await call.waitForFunction(() => document.getElementById('remote-video')?.videoWidth > 0);
    const framesNow = () => document.getElementById('remote-video').getVideoPlaybackQuality().totalVideoFrames;
    const before = await call.evaluate(framesNow);
    await call.waitForFunction((n) => document.getElementById('remote-video').getVideoPlaybackQuality().totalVideoFrames > n + 10, before);
    assert.equal(await patient.locator('.doctor-box').evaluate((box) => box.hidden && box.querySelector('video').videoWidth === 0), true,
      'nothing from the clinic before the start');
    await screenshot(call, '15-call-screen');
    assert.deepEqual(await unlabelledControls(call), []);
    await call.getByRole('button', { name: 'ビデオ通話を開始する' }).click();
    await assert.doesNotReject(call.getByRole('button', { name: '通話を終了する' }).waitFor());
    await assert.doesNotReject(call.getByText('通話中です。').waitFor());
    // The doctor can mute and turn the camera off without leaving the call, and back.
    const mic = call.getByRole('button', { name: 'マイクをオフにする' });
    await mic.click();
    assert.equal(await call.getByRole('button', { name: 'マイクをオンにする' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await call.locator('#self-video').evaluate((v) => v.srcObject.getAudioTracks().every((t) => !t.enabled)), true);
    await call.getByRole('button', { name: 'マイクをオンにする' }).click();
    assert.equal(await call.locator('#self-video').evaluate((v) => v.srcObject.getAudioTracks().every((t) => t.enabled)), true);
    await call.getByRole('button', { name: 'カメラをオフにする' }).click();
    assert.equal(await call.locator('#self-video').evaluate((v) => v.srcObject.getVideoTracks().every((t) => !t.enabled)), true);
    await call.getByRole('button', { name: 'カメラをオンにする' }).click();
    // Both ways now: the patient sees and hears the doctor.
    await patient.waitForFunction(() => {
      const v = document.querySelector('video.doctor');
      return v && v.checkVisibility() && v.videoWidth > 0 && v.srcObject?.getAudioTracks().length > 0;
    });
    await assert.doesNotReject(patient.getByText('通話中です。').waitFor());
    await screenshot(patient, '16a-patient-in-call');
    await screenshot(call, '16-call-started');

    await endCall(call);
    await assert.doesNotReject(call.getByText('このビデオ通話は終了しました。').waitFor());
    assert.equal(await call.getByRole('link', { name: 'スケジュールに戻る' }).getAttribute('href'), '/schedule');
    assert.equal(await call.getByRole('button', { name: /マイク|カメラ/ }).count(), 0, 'no media controls after the end');
    assert.equal(await call.locator('#self-video').evaluate((v) => v.srcObject === null || v.srcObject.getTracks().every((t) => t.readyState === 'ended')), true,
      'the camera is off once the call ended');
    // The patient is told at once, and their camera is off too.
    await assert.doesNotReject(patient.getByText('ビデオ通話は終了しました。', { exact: false }).waitFor());
    assert.equal(await patient.locator('video').count(), 0);
    await patient.reload();
    await assert.doesNotReject(patient.getByText('ビデオ通話は終了しました。', { exact: false }).waitFor());
    await screenshot(patient, '16b-patient-ended');

    assert.deepEqual([...errors, ...patientErrors, ...callErrors], []);
    await phone.close();
  });

  test('the pre-call check: the microphone meter moves and the connection test passes', async () => {
    const { created } = await callOpenNow('通話前の確認');
    const patient = await patientPhone(created.video.patient_url);
    await assert.doesNotReject(patient.page.locator('.call-state[data-state="waiting"]').waitFor());
    await assert.doesNotReject(patient.page.getByText('接続テスト: 良好').waitFor());
    // Chromium's fake microphone beeps: the meter rises with each beep and falls between.
    const levels = await patient.page.evaluate(async () => {
      const meter = document.getElementById('mic-level');
      const seen = [];
      for (let i = 0; i < 30; i += 1) {
        seen.push(meter.value);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return seen;
    });
    // Silence reads 0. How loud the beeps read depends on when the samples fall: on a loaded
    // machine they peaked at 0.065, so the bounds only tell sound from none.
    assert.ok(Math.max(...levels) > 0.02, `the meter shows the sound: ${levels}`);
    assert.ok(Math.max(...levels) - Math.min(...levels) > 0.02, `the meter moves: ${levels}`);
    assert.equal(await patient.page.getByLabel('マイクの音量').count(), 1);
    assert.deepEqual(await unlabelledControls(patient.page), []);
    await screenshot(patient.page, '14b-patient-pre-call-check');
    assert.deepEqual(patient.errors, []);
    await patient.context.close();
  });

  test('a patient who refuses the camera gets help, and still sees and hears the doctor', async () => {
    const refusing = await launchBrowser({ grantCamera: false });
    try {
      const staff = await callOpenNow('カメラなしで参加');
      const patient = await patientPhone(staff.created.video.patient_url, { from: refusing });
      await patient.page.getByRole('button', { name: 'カメラとマイクを使う' }).click();
      await assert.doesNotReject(patient.page.getByText('カメラとマイクの使用が許可されていません。', { exact: false }).waitFor());
      assert.equal(await patient.page.getByRole('button', { name: 'もう一度試す' }).count(), 1);
      await assert.doesNotReject(patient.page.getByText('医師の映像と声は届きますが', { exact: false }).waitFor());
      await assert.doesNotReject(patient.page.getByText('接続テスト: 良好').waitFor());
      await screenshot(patient.page, '17-patient-camera-denied');

      const call = await callScreen(staff, staff.created.video.clinic_url);
      // The patient sends nothing: the call screen has nothing to decode.
      await startCall(call.page, patient.page, { fromPatient: null });
      assert.deepEqual(await receivedMedia(call.page), { frames: 0, audioPackets: 0 });
      await screenshot(patient.page, '17b-patient-camera-denied-in-call');
      assert.deepEqual([...patient.errors, ...call.errors], []);
    } finally {
      await refusing.close();
    }
  });

  test('a patient without a camera joins with the microphone alone', async () => {
    const staff = await callOpenNow('マイクだけで参加');
    const patient = await patientPhone(staff.created.video.patient_url, { prepare: withoutCamera });
    await assert.doesNotReject(patient.page.getByText('カメラが見つからないため、音声だけで参加します。', { exact: false }).waitFor());
    assert.equal(await patient.page.locator('.preview-box').isVisible(), false, 'no preview without a camera');
    const call = await callScreen(staff, staff.created.video.clinic_url);
    // The doctor hears the patient; there is no picture of them.
    await startCall(call.page, patient.page, { fromPatient: { video: false } });
    assert.equal((await receivedMedia(call.page)).frames, 0);
    assert.deepEqual([...patient.errors, ...call.errors], []);
    await patient.context.close();
  });

  test('on a phone that plays sound only after a tap (iOS), the doctor plays muted until 「音声をオンにする」', async () => {
    const staff = await callOpenNow('音声オン');
    const patient = await patientPhone(staff.created.video.patient_url, { prepare: refuseSoundBeforeATap });
    const preview = patient.page.locator('video.preview');
    await preview.waitFor();
    assert.deepEqual(await preview.evaluate((v) => [v.muted, v.hasAttribute('autoplay'), v.hasAttribute('playsinline')]), [true, true, true],
      'the own preview plays inline, and never plays one\'s own voice back');
    const call = await callScreen(staff, staff.created.video.clinic_url);
    await startCall(call.page, patient.page);
    const doctor = patient.page.locator('video.doctor');
    assert.deepEqual(await doctor.evaluate((v) => [v.hasAttribute('autoplay'), v.hasAttribute('playsinline'), v.muted, v.paused]), [true, true, true, false],
      'the doctor plays inline and muted');
    const unmute = patient.page.getByRole('button', { name: '音声をオンにする' });
    await assert.doesNotReject(unmute.waitFor());
    await screenshot(patient.page, '16c-patient-sound-off');
    await unmute.click();
    await unmute.waitFor({ state: 'hidden' });
    assert.deepEqual(await doctor.evaluate((v) => [v.muted, v.paused]), [false, false], 'the tap turned the sound on');
    assert.deepEqual([...patient.errors, ...call.errors], []);
    await patient.context.close();
  });

  // One call, followed through a reload on each side to its end.
  describe('in a call', () => {
    let staff;
    let patient;
    let call;

    test('both screens in the call', async () => {
      staff = await callOpenNow('再接続');
      patient = await patientPhone(staff.created.video.patient_url);
      await patient.page.locator('.call-state[data-state="waiting"]').waitFor();
      call = await callScreen(staff, staff.created.video.clinic_url);
      await startCall(call.page, patient.page);
      await screenshot(patient.page, '20-patient-in-call');
      await screenshot(call.page, '20b-call-screen-in-call');
      assert.deepEqual(await unlabelledControls(patient.page), []);
      assert.deepEqual(await unlabelledControls(call.page), []);
    });

    test('a patient who reloads is back in the same call without a new link', async () => {
      await patient.page.reload();
      await assert.doesNotReject(patient.page.getByText('通話中です。').waitFor());
      await mediaArrives(patient.page, { what: 'the doctor after the patient reloaded' });
      await mediaArrives(call.page, { what: 'the patient after they reloaded' });
    });

    test('a doctor who reloads is back in the same call', async () => {
      await call.page.reload();
      await assert.doesNotReject(call.page.getByText('通話中です。').waitFor());
      await mediaArrives(call.page, { what: 'the patient after the doctor reloaded' });
      await mediaArrives(patient.page, { what: 'the doctor after they reloaded' });
    });

    test('診察終了 ends it on both screens, and the patient cannot rejoin', async () => {
      await endCall(call.page);
      await assert.doesNotReject(call.page.getByText('このビデオ通話は終了しました。').waitFor());
      await assert.doesNotReject(patient.page.getByText('ビデオ通話は終了しました。ありがとうございました。').waitFor());
      await patient.page.reload();
      await assert.doesNotReject(patient.page.getByText('ビデオ通話は終了しました。ありがとうございました。').waitFor());
      await assertMediaRefused(patient.page, patient.errors, tokenOf(staff.created.video.patient_url));
      assert.deepEqual([...patient.errors, ...call.errors, ...staff.errors], []);
      await patient.context.close();
    });
  });

  test('a cancelled link is refused: the patient page says so and no media socket opens', async () => {
    const staff = await callOpenNow('キャンセル');
    const patient = await patientPhone(staff.created.video.patient_url);
    await patient.page.locator('.call-state[data-state="waiting"]').waitFor();
    await api(staff.page, 'POST', `/api/v1/appointments/${staff.created.id}/cancel`);
    await assert.doesNotReject(patient.page.getByText('このビデオ通話はキャンセルされました。', { exact: false }).waitFor());
    assert.equal(await patient.page.locator('video').count(), 0, 'the camera is off');
    await assertMediaRefused(patient.page, patient.errors, tokenOf(staff.created.video.patient_url));
    assert.deepEqual([...patient.errors, ...staff.errors], []);
    await patient.context.close();
  });
});

describe('予約受付 asks before a double booking or one in the past', () => {
  test('over another booking of the same doctor: 戻る books nothing, 予約する books both', async () => {
    const { page, errors, context } = await running.staffPage('yamada@demo.enkaku.test');
    await openSchedule(page);
    const book = async (name) => {
      await page.getByRole('button', { name: '11:00 の予約受付' }).click();
      const panel = page.locator('#panel');
      await panel.getByRole('button', { name: '非会員' }).click();
      await panel.getByLabel('患者名').fill(name);
      await panel.getByRole('button', { name: '予約' }).click();
    };
    const skipSending = async () => {
      const send = page.getByRole('dialog', { name: 'ビデオ通話URLの送信' });
      await send.getByRole('button', { name: 'キャンセル', exact: true }).click();
      await send.waitFor({ state: 'detached' });
    };
    await book('小林 一郎');
    await skipSending();
    await slot(page, '11:00').locator('.entry', { hasText: '小林 一郎' }).waitFor();

    await book('林 二郎');
    const confirm = page.getByRole('dialog', { name: '予約の確認' });
    await confirm.waitFor();
    assert.match(await confirm.innerText(), /担当医師（山田 太郎）には、この時間に別の予約があります（11:00〜\d\d:\d\d 小林 一郎）。このまま予約しますか？/);
    await screenshot(page, '03b-booking-overlap-confirm');
    await confirm.getByRole('button', { name: '戻る' }).click();
    await confirm.waitFor({ state: 'detached' });
    // Nothing booked: the form is still there with what was typed.
    assert.equal(await page.locator('#panel').getByLabel('患者名').inputValue(), '林 二郎');
    assert.equal(await slot(page, '11:00').locator('.entry').count(), 1);

    await page.locator('#panel').getByRole('button', { name: '予約' }).click();
    await confirm.getByRole('button', { name: '予約する' }).click();
    await skipSending();
    await slot(page, '11:00').locator('.entry', { hasText: '林 二郎' }).waitFor();
    assert.equal(await slot(page, '11:00').locator('.entry').count(), 2);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('in the past: the time is named and nothing is created unless confirmed', async () => {
    const { page, errors, context } = await running.staffPage('yamada@demo.enkaku.test');
    const yesterday = new Date(Date.now() + (9 - 24) * 3600 * 1000).toISOString().slice(0, 10);
    await page.goto(`${running.server.url}/schedule?date=${yesterday}&all_times=true`);
    await page.locator('.slots').waitFor();
    await page.getByRole('button', { name: /^10:00(（休診枠）)? の予約受付$/ }).click();
    const panel = page.locator('#panel');
    await panel.getByRole('button', { name: 'ビデオ通話URL作成' }).click();
    await panel.getByLabel('タイトル').fill('過去の記録');
    await panel.getByRole('button', { name: '作成', exact: true }).click();
    const confirm = page.getByRole('dialog', { name: '予約の確認' });
    await confirm.waitFor();
    assert.match(await confirm.innerText(), /開始日時（\d{4}\/\d{2}\/\d{2}\(.\) 10:00）は過ぎています。このまま予約しますか？/);
    await confirm.getByRole('button', { name: '戻る' }).click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await page.locator('.entry', { hasText: '過去の記録' }).count(), 0);
    assert.equal(await panel.getByRole('heading', { name: '予約受付' }).count(), 1);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('予約受付 asks before a booking outside the doctor\'s hours', () => {
  test('a closed slot: the server\'s refusal is asked about, 戻る books nothing, 予約する books it', async () => {
    const { page, errors, context } = await running.staffPage('yamada@demo.enkaku.test');
    await openSchedule(page);
    // The lunch break is offered only with all times shown.
    assert.equal(await page.getByRole('button', { name: /^12:30(（休診枠）)? の予約受付$/ }).count(), 0);
    await page.getByLabel('すべての時間を表示する').check();
    await page.getByRole('button', { name: '12:30（休診枠） の予約受付' }).click();
    const panel = page.locator('#panel');
    await panel.getByRole('button', { name: '非会員' }).click();
    await panel.getByLabel('患者名').fill('昼休み 予約');
    await panel.getByLabel('対面').check();
    await panel.getByRole('button', { name: '予約' }).click();
    const confirm = page.getByRole('dialog', { name: '予約の確認' });
    await confirm.waitFor();
    assert.equal(await confirm.locator('p').textContent(),
      '診療時間外の予約です。担当医師（山田 太郎）の診療時間外か休診日にかかっています。このまま予約しますか？');
    await screenshot(page, '03c-booking-outside-hours-confirm');
    await confirm.getByRole('button', { name: '戻る' }).click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await panel.getByLabel('患者名').inputValue(), '昼休み 予約');
    assert.equal(await slot(page, '12:30（休診枠）').locator('.entry').count(), 0, 'nothing booked');

    await panel.getByRole('button', { name: '予約' }).click();
    await confirm.getByRole('button', { name: '予約する' }).click();
    await panel.getByRole('heading', { name: '予約内容' }).waitFor();
    await assert.doesNotReject(slot(page, '12:30（休診枠）').locator('.entry', { hasText: '昼休み 予約' }).waitFor());
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('moving an appointment to another doctor', () => {
  test('says whose schedule it went to, and it leaves this one', async () => {
    const { page, errors, context } = await running.staffPage('yamada@demo.enkaku.test');
    await openSchedule(page);
    await page.getByRole('button', { name: '15:00 の予約受付' }).click();
    const panel = page.locator('#panel');
    await panel.getByRole('button', { name: 'ビデオ通話URL作成' }).click();
    await panel.getByLabel('タイトル').fill('ひまわり荘');
    await panel.getByRole('button', { name: '作成', exact: true }).click();
    await page.getByRole('dialog', { name: 'ビデオ通話URLの送信' }).getByRole('button', { name: 'キャンセル', exact: true }).click();
    const entry = slot(page, '15:00').locator('.entry', { hasText: 'ひまわり荘' });
    await entry.waitFor();

    await panel.getByRole('button', { name: '編集' }).click();
    await panel.getByLabel('担当医師').selectOption({ label: '佐藤 花子' });
    await panel.getByRole('button', { name: '保存' }).click();
    await assert.doesNotReject(panel.locator('.notice', {
      hasText: '保存しました。担当医師を佐藤 花子に変更しました。この予約は佐藤 花子のスケジュールに表示されます。',
    }).waitFor());
    await entry.waitFor({ state: 'detached' });
    await screenshot(page, '10c-moved-to-another-doctor');
    await page.locator('#doctor-select').selectOption({ label: '佐藤 花子' });
    await assert.doesNotReject(page.locator('.entry', { hasText: 'ひまわり荘' }).waitFor());
    await page.locator('#doctor-select').selectOption({ label: '山田 太郎' });
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('the keyboard', () => {
  test('reaches a slot, opens 予約受付, and Escape closes it', async () => {
    const { page, errors } = await running.staffPage('yamada@demo.enkaku.test');
    await openSchedule(page);
    await page.getByLabel('すべての時間を表示する').check();
    await assert.doesNotReject(page.locator('.slot.closed .closed-mark', { hasText: '休診' }).first().waitFor());
    await screenshot(page, '02b-schedule-all-times');
    await page.getByRole('button', { name: '09:00 の予約受付' }).focus();
    await page.keyboard.press('Enter');
    const heading = page.locator('#panel').getByRole('heading', { name: '予約受付' });
    await heading.waitFor();
    assert.equal(await heading.evaluate((h) => h === document.activeElement), true, 'focus moves to the panel');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await assert.doesNotReject(page.locator('#panel').getByLabel('患者名').waitFor());
    await page.keyboard.press('Escape');
    await page.locator('#panel').waitFor({ state: 'hidden' });
    assert.equal(await page.getByRole('button', { name: '09:00 の予約受付' }).evaluate((b) => b === document.activeElement), true,
      'focus returns to the slot');
    assert.deepEqual(errors, []);
  });
});

describe('live updates', () => {
  test('another staff member sees a booking and a cancel without reloading', async () => {
    const yamada = await running.staffPage('yamada@demo.enkaku.test');
    const sato = await running.staffPage('sato@demo.enkaku.test');
    // Sato looks at Yamada's schedule and at the reception list.
    await openSchedule(sato.page);
    await sato.page.getByLabel('医師', { exact: true }).selectOption({ label: '山田 太郎' });
    const reception = await sato.context.newPage();
    await reception.goto(`${running.server.url}/reception?date=${date}`);
    await reception.locator('body[data-live="connected"]').waitFor();

    // Sato's keyboard focus is on a slot; the live redraw must not take it away.
    await sato.page.getByRole('button', { name: '11:15 の予約受付' }).focus();

    await openSchedule(yamada.page);
    await yamada.page.getByRole('button', { name: '11:30 の予約受付' }).click();
    await yamada.page.getByRole('button', { name: '非会員' }).click();
    await yamada.page.locator('#panel').getByLabel('患者名').fill('高橋 次郎');
    await yamada.page.locator('#panel').getByLabel('対面').check();
    await yamada.page.locator('#panel').getByRole('button', { name: '予約' }).click();
    await yamada.page.locator('#panel').getByRole('heading', { name: '予約内容' }).waitFor();

    await assert.doesNotReject(slot(sato.page, '11:30').locator('.entry', { hasText: '高橋 次郎' }).waitFor({ timeout: 5000 }));
    assert.equal(await sato.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), '11:15 の予約受付',
      'the focus stays on the slot through the live redraw');
    await assert.doesNotReject(reception.locator('tr', { hasText: '高橋 次郎' }).waitFor({ timeout: 5000 }));
    assert.equal(await reception.locator('tr', { hasText: '高橋 次郎' }).locator('.video-mark').count(), 0, 'in person: no video mark');
    await screenshot(sato.page, '18-live-update');

    // Yamada creates a video URL and cancels it, through the API this time.
    const me = await api(yamada.page, 'GET', '/api/v1/me');
    const start = (await slot(sato.page, '11:45').getAttribute('data-start'));
    const created = await api(yamada.page, 'POST', '/api/v1/video-calls', { doctor_id: me.staff.id, start_at: start, title: 'ライブ確認' });
    const entry = slot(sato.page, '11:45').locator('.entry', { hasText: 'ライブ確認' });
    await assert.doesNotReject(entry.waitFor({ timeout: 5000 }));
    await api(yamada.page, 'POST', `/api/v1/appointments/${created.id}/cancel`);
    await assert.doesNotReject(slot(sato.page, '11:45').locator('.entry.status-cancelled', { hasText: 'ライブ確認' }).waitFor({ timeout: 5000 }));
    assert.deepEqual([...yamada.errors, ...sato.errors], []);
  });
});

describe('a day longer than one page of the lists', () => {
  test('the schedule and 受付一覧 follow next_cursor and show every booking', async () => {
    const { page, errors } = await running.staffPage('yamada@demo.enkaku.test');
    const day = weekdayAhead(15);
    const me = await api(page, 'GET', '/api/v1/me');
    const menus = await api(page, 'GET', '/api/v1/menus');
    const menu = menus.items.find((m) => m.modes.includes('in_person')) ?? menus.items[0];
    // More than the 500 entries a page holds, four to a slot.
    const count = 520;
    for (let batch = 0; batch < count; batch += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, k) => {
        const i = batch + k;
        const minutes = 9 * 60 + Math.floor(i / 4) * 15 % (9 * 60);
        const time = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
        // Over the lunch break too: confirmed as outside the doctor's hours.
        return api(page, 'POST', '/api/v1/appointments', {
          doctor_id: me.staff.id, start_at: `${day}T${time}:00+09:00`, patient_name: `長い日 ${i}`,
          menu_id: menu.id, visit_type: 'revisit', mode: 'in_person', allow_outside_hours: true,
        });
      }));
    }
    await page.goto(`${running.server.url}/reception?date=${day}`);
    await page.locator('.reception-table').waitFor();
    await assert.doesNotReject(page.locator('.reception-table tbody tr').nth(count - 1).waitFor({ timeout: 10000 }));
    assert.equal(await page.locator('.reception-table tbody tr').count(), count);

    await page.goto(`${running.server.url}/schedule?date=${day}&all_times=true`);
    await page.locator('.slots').waitFor();
    await assert.doesNotReject(page.locator('.entry').nth(count - 1).waitFor({ timeout: 10000 }));
    assert.equal(await page.locator('.entry').count(), count);
    await screenshot(page, '19-long-day');
    assert.deepEqual(errors, []);
  });
});
