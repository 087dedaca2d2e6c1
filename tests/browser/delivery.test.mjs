// Sending through a provider, as staff see it (issue 12): a stand-in of Twilio's Messages API
// (Node's HTTP server, answering in Twilio's shape) takes one number and refuses another as
// invalid. The panel shows 「送信済み」, then 「配信失敗（電話番号が正しくありません）」 with
// 「URL再送」 beside it, and 送信ボックス lists both with their state and no kept text.

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { api, collectErrors, login, screenshot, serverAndBrowser, weekdayAhead } from './harness.mjs';

const INVALID = '+819099990000';
const taken = [];
const twilio = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => { body += chunk; });
  request.on('end', () => {
    const form = new URLSearchParams(body);
    response.setHeader('content-type', 'application/json');
    if (form.get('To') === INVALID) {
      response.statusCode = 400;
      response.end(JSON.stringify({ code: 21211, message: `The 'To' number ${INVALID} is not a valid phone number.`, status: 400 }));
      return;
    }
    const sid = `SM${String(taken.length + 1).padStart(32, '0')}`;
    taken.push({ to: form.get('To'), body: form.get('Body') });
    response.statusCode = 201;
    response.end(JSON.stringify({ sid, status: 'queued' }));
  });
});

after(() => new Promise((resolve) => twilio.close(resolve)));

// The stand-in listens first: the server is told where.
const running = serverAndBrowser(async () => {
  await new Promise((resolve) => twilio.listen(0, '127.0.0.1', resolve));
  return {
    ENKAKU_TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    ENKAKU_TWILIO_AUTH_TOKEN: 'stand-in-token',
    ENKAKU_TWILIO_FROM: '+815012345678',
    ENKAKU_TWILIO_BASE_URL: `http://127.0.0.1:${twilio.address().port}`,
  };
});
const date = weekdayAhead();

describe('a link sent through Twilio', () => {
  let page;
  let errors;
  let id;

  before(async () => {
    const context = await running.browser.newContext({ viewport: { width: 1280, height: 1100 } });
    page = await context.newPage();
    errors = collectErrors(page);
    await login(page, running.server.url);
    const me = await api(page, 'GET', '/api/v1/me');
    const created = await api(page, 'POST', '/api/v1/video-calls', {
      doctor_id: me.staff.id, start_at: `${date}T14:00:00+09:00`, title: '送信テスト',
    });
    id = created.id;
  });

  test('shows 「送信済み」 in the panel once Twilio took it', async () => {
    await api(page, 'POST', `/api/v1/appointments/${id}/send-url`, { channel: 'sms', destination: '090-1234-5678' });
    await page.goto(`${running.server.url}/schedule?date=${date}`);
    await page.locator('.entry', { hasText: '送信テスト' }).click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByText('送信済み', { exact: true }).waitFor());
    assert.equal(taken.length, 1);
    assert.equal(taken[0].to, '+819012345678');
  });

  test('a refused number shows 「配信失敗」 with the reason, and 「URL再送」 is right there', async () => {
    await api(page, 'POST', `/api/v1/appointments/${id}/resend-url`, { channel: 'sms', destination: '090-9999-0000' });
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.getByText('配信失敗（電話番号が正しくありません）', { exact: true }).waitFor());
    await assert.doesNotReject(panel.getByRole('button', { name: 'URL再送' }).waitFor());
    await screenshot(page, '30-delivery-failed');
    assert.equal(taken.length, 1, 'the refused message was not taken');
  });

  test('送信ボックス lists both with their state, and says SMS is really sent', async () => {
    await page.getByRole('link', { name: '送信ボックス' }).click();
    await assert.doesNotReject(page.getByText('SMSは送信しています').waitFor());
    const messages = page.locator('.message');
    await messages.first().waitFor();
    assert.equal(await messages.count(), 2);
    assert.match(await messages.nth(0).innerText(), /配信失敗（電話番号が正しくありません）/);
    assert.match(await messages.nth(1).innerText(), /送信済み/);
    assert.equal(await page.locator('.message .body').count(), 0, 'sent messages are not kept');
    await screenshot(page, '31-outbox-sent');
    assert.deepEqual(errors, []);
  });
});
