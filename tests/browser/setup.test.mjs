// A clinic set up from nothing (SPEC §8): `enkaku clinic create` prints the first
// administrator's set-up URL; on that page they see whose link it is, choose a password, and
// log in with it. A used link says so in words a person can act on.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectErrors, screenshot, serverAndBrowser, unlabelledControls } from './harness.mjs';

const running = serverAndBrowser();
const PASSWORD = '桜の咲く頃に会いましょう';
const NEW_PASSWORD = '新緑の季節にまた会いましょう';

describe('the first administrator of a new clinic', () => {
  let page;
  let errors;
  let setupUrl;

  before(async () => {
    const printed = running.server.cli('clinic', 'create', '--name', 'さくら内科', '--admin-email', 'sakurai@sakura.example.jp',
      '--admin-name', '桜井 一郎', '--public-url', running.server.url);
    setupUrl = printed.split('\n').find((line) => line.startsWith(`${running.server.url}/setup/`));
    assert.ok(setupUrl, printed);
    const context = await running.browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    errors = collectErrors(page);
  });

  test('sees whose link it is, chooses a password, and logs in with it', async () => {
    await page.goto(setupUrl);
    await assert.doesNotReject(page.getByRole('heading', { name: /パスワードの設定/ }).waitFor());
    const who = await page.locator('.setup-who').innerText();
    for (const shown of ['さくら内科', '桜井 一郎', 'sakurai@sakura.example.jp']) assert.ok(who.includes(shown), who);
    assert.equal(await page.evaluate(() => document.activeElement.type), 'password', 'the cursor is in the new password');
    assert.deepEqual(await unlabelledControls(page), []);

    // Too short, then two that differ: said next to the field, nothing sent.
    await page.getByLabel(/^新しいパスワード(?!（確認）)/).fill('short');
    await page.getByRole('button', { name: 'パスワードを設定する' }).click();
    await assert.doesNotReject(page.getByText('パスワードは10文字以上で入力してください。', { exact: true }).waitFor());
    await page.getByLabel(/^新しいパスワード(?!（確認）)/).fill(PASSWORD);
    await page.getByLabel('新しいパスワード（確認）').fill(`${PASSWORD}!`);
    await page.getByRole('button', { name: 'パスワードを設定する' }).click();
    await assert.doesNotReject(page.getByText('確認のパスワードが一致しません。').waitFor());
    await page.getByLabel('新しいパスワード（確認）').fill(PASSWORD);
    await screenshot(page, '52-setup-password');
    await page.getByRole('button', { name: 'パスワードを設定する' }).click();
    await assert.doesNotReject(page.getByText('パスワードを設定しました。新しいパスワードでログインしてください。').waitFor());
    await screenshot(page, '53-setup-done');

    await page.getByRole('link', { name: 'ログイン画面へ' }).click();
    await page.getByLabel('メールアドレス').fill('sakurai@sakura.example.jp');
    await page.getByLabel('パスワード').fill(PASSWORD);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.waitForURL(/\/schedule/);
    await assert.doesNotReject(page.locator('#clinic-name', { hasText: 'さくら内科' }).waitFor());
    await assert.doesNotReject(page.locator('#staff-name', { hasText: '桜井 一郎' }).waitFor());
  });

  test('changes the password with the current one, and logs in with the new one', async () => {
    await page.getByRole('link', { name: 'パスワード変更' }).click();
    await page.waitForURL(/\/password$/);
    const current = page.getByLabel(/^現在のパスワード/);
    const next = page.getByLabel(/^新しいパスワード(?!（確認）)/);
    await current.fill('not the password at all');
    await next.fill(NEW_PASSWORD);
    await page.getByLabel('新しいパスワード（確認）').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'パスワードを変更する' }).click();
    await assert.doesNotReject(page.getByText('現在のパスワードが正しくありません。').waitFor());
    assert.equal(await current.getAttribute('aria-invalid'), 'true');
    await current.fill(PASSWORD);
    await screenshot(page, '55-password-change');
    await page.getByRole('button', { name: 'パスワードを変更する' }).click();
    await assert.doesNotReject(page.getByText('パスワードを変更しました。ほかの端末でのログインは終了しました。').waitFor());

    // This session stays; after logging out, only the new password works.
    await page.getByRole('link', { name: 'スケジュールに戻る' }).click();
    await page.getByRole('button', { name: 'ログアウト' }).click();
    await page.waitForURL(/\/login/);
    await page.getByLabel('メールアドレス').fill('sakurai@sakura.example.jp');
    await page.getByLabel('パスワード').fill(PASSWORD);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await assert.doesNotReject(page.getByText('メールアドレスまたはパスワードが正しくありません。').waitFor());
    await page.getByLabel('パスワード').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.waitForURL(/\/schedule/);
  });

  test('a used link says so, and how to get a new one', async () => {
    const other = await page.context().browser().newContext();
    const again = await other.newPage();
    await again.goto(setupUrl);
    await assert.doesNotReject(again.getByText('このURLは使用済みか、有効期限が切れています。管理者に新しいURLの発行を依頼してください。').waitFor());
    assert.equal(await again.getByLabel(/^新しいパスワード(?!（確認）)/).count(), 0);
    await screenshot(again, '54-setup-link-used');
    await other.close();
  });

  after(() => assert.deepEqual(errors, []));
});
