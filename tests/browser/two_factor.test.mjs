// Two-factor sign-in (TOTP, RFC 6238) as a staff member meets it: from the header's
// 「2段階認証」 they register an authenticator app (the test plays the app: it reads the key
// shown for typing in and computes the codes with HMAC-SHA1), keep the recovery codes shown
// once, and from then on sign in with the password and the app's code.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { DESKTOP, collectErrors, login, screenshot, serverAndBrowser, unlabelledControls } from './harness.mjs';

const running = serverAndBrowser();
const EMAIL = 'sato@demo.enkaku.test';

/** RFC 4648 base32, as the key is shown (groups of four, no padding). */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = [];
  let value = 0;
  let bits = 0;
  for (const ch of text.replace(/\s/g, '').toUpperCase()) {
    const index = alphabet.indexOf(ch);
    assert.ok(index >= 0, `not base32: ${ch}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** The code an authenticator app shows `offset` 30-second steps from now (RFC 6238, SHA-1). */
function totp(key, offset = 0) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offset));
  const mac = createHmac('sha1', base32Decode(key)).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

describe('two-factor sign-in', () => {
  let page;
  let errors;
  let key;

  before(async () => {
    const context = await running.browser.newContext(DESKTOP);
    page = await context.newPage();
    errors = collectErrors(page);
    await login(page, running.server.url, EMAIL);
  });

  test('a staff member registers an authenticator app and keeps the recovery codes', async () => {
    await page.getByRole('link', { name: '2段階認証' }).click();
    await page.waitForURL(/\/two-factor$/);
    await assert.doesNotReject(page.getByText('2段階認証は設定されていません。', { exact: false }).waitFor());
    await page.getByRole('button', { name: '設定をはじめる' }).click();

    const qr = page.getByRole('img', { name: '2段階認証の登録用QRコード' });
    await qr.waitFor();
    assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code is drawn');
    assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml;base64,/, 'nothing is fetched for it');
    key = (await page.locator('.manual-key').innerText()).replace(/\s/g, '');
    assert.equal(key.length, 32, key);
    assert.deepEqual(await unlabelledControls(page), []);
    await screenshot(page, '60-two-factor-enrol');

    // A wrong code is said next to the field; the app's code turns it on.
    const code = page.getByLabel(/^確認コード（6桁）/);
    await code.fill(totp(key) === '000000' ? '111111' : '000000');
    await page.getByRole('button', { name: '有効にする' }).click();
    await assert.doesNotReject(page.getByText('確認コードが正しくないか、すでに使われています。', { exact: false }).waitFor());
    assert.equal(await code.getAttribute('aria-invalid'), 'true');
    await code.fill(totp(key));
    await page.getByRole('button', { name: '有効にする' }).click();

    await assert.doesNotReject(page.getByText('2段階認証を有効にしました。', { exact: false }).waitFor());
    await assert.doesNotReject(page.getByText('この回復コードは今だけ表示されます。', { exact: false }).waitFor());
    const codes = await page.locator('.recovery-codes li').allInnerTexts();
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[0-9a-z]{4}(-[0-9a-z]{4}){3}$/);
    await screenshot(page, '61-two-factor-recovery-codes');
  });

  test('after signing out, signs in with the password and then the code, and sees the schedule', async () => {
    await page.getByRole('link', { name: 'スケジュールへ進む' }).click();
    await page.waitForURL(/\/schedule/);
    await page.getByRole('button', { name: 'ログアウト' }).click();
    await page.waitForURL(/\/login/);

    await page.getByLabel('メールアドレス').fill(EMAIL);
    await page.getByLabel('パスワード').fill('demo-password');
    await page.getByRole('button', { name: 'ログイン' }).click();
    const code = page.getByLabel('確認コード');
    await code.waitFor();
    await assert.doesNotReject(page.getByText('2段階認証の確認コードを入力してください。', { exact: false }).waitFor());
    assert.equal(await page.evaluate(() => document.activeElement.id), 'code', 'the cursor is in the code field');
    await screenshot(page, '62-two-factor-login');

    // A code no later than the one that turned it on is refused; the next one signs in.
    await code.fill(totp(key, -1));
    await page.getByRole('button', { name: 'ログイン' }).click();
    await assert.doesNotReject(page.getByText('確認コードが正しくないか、すでに使われています。', { exact: false }).waitFor());
    await code.fill(totp(key, 1));
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.waitForURL(/\/schedule/);
    await assert.doesNotReject(page.locator('#staff-name', { hasText: '佐藤 花子' }).waitFor());
    // Today's grid, or the words that today has no opening hours (a weekend in Tokyo).
    await assert.doesNotReject(page.locator('.slots, .empty').first().waitFor());
  });

  test('the page says two-factor sign-in is on, and offers a new phone or turning it off', async () => {
    await page.getByRole('link', { name: '2段階認証' }).click();
    await assert.doesNotReject(page.getByText('2段階認証は有効です。', { exact: false }).waitFor());
    assert.equal(await page.getByRole('button', { name: '新しいスマートフォンで設定する' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: '2段階認証を解除する' }).count(), 1);
    // Only administrators see the clinic's switch.
    assert.equal(await page.getByText('すべてのスタッフに2段階認証を必須にする').count(), 0);
    assert.deepEqual(await unlabelledControls(page), []);
  });

  test('an administrator sees the switch for the whole clinic', async () => {
    const context = await running.browser.newContext(DESKTOP);
    const admin = await context.newPage();
    const adminErrors = collectErrors(admin);
    await login(admin, running.server.url, 'yamada@demo.enkaku.test');
    await admin.goto(`${running.server.url}/two-factor`);
    const required = admin.getByLabel('すべてのスタッフに2段階認証を必須にする');
    await required.waitFor();
    assert.equal(await required.isChecked(), false);
    assert.deepEqual(await unlabelledControls(admin), []);
    await screenshot(admin, '63-two-factor-admin');
    assert.deepEqual(adminErrors, []);
    await context.close();
  });

  after(() => assert.deepEqual(errors, []));
});
