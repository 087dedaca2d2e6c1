// The patient page for an older patient on a phone (issue 13): it says why it needs the camera
// and microphone before the browser asks, shows only their own device's steps when they said
// no, says when the internet drops and comes back, and tells each state in one sentence.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, collectErrors, launchBrowser, login, screenshot, serverAndBrowser, unlabelledControls, weekdayAhead,
} from './harness.mjs';

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36';
const ASK = '医師と顔を見てお話しするために、カメラとマイクを使います。';
const WAITING = 'この画面を開いたまま、医師が通話を開始するまでお待ちください。';
// Words only each device's steps use.
const IPHONE_STEPS = '「ぁあ」';
const ANDROID_STEPS = '鍵のマーク（またはつまみのマーク）';
const PC_STEPS = 'カメラのマーク';

const running = serverAndBrowser();

/** A video call created by Yamada through the API (`when`: its start), and its patient URL. */
async function patientUrl(title, when = { start_now: true }) {
  const context = await running.browser.newContext();
  const page = await context.newPage();
  await login(page, running.server.url);
  const me = await api(page, 'GET', '/api/v1/me');
  const created = await api(page, 'POST', '/api/v1/video-calls', { doctor_id: me.staff.id, title, ...when });
  await context.close();
  return created.video.patient_url;
}

/**
 * The patient's phone (of `browser`, with `userAgent` when given) on `url`. It counts the
 * page's requests for the camera (`window.cameraRequests`) and keeps every call state it shows
 * (`window.statesShown`, `[state, text]`).
 */
async function patientPhone(url, { browser = running.browser, userAgent } = {}) {
  const context = await browser.newContext({ ...PHONE, ...(userAgent ? { userAgent } : {}) });
  await context.addInitScript(() => {
    window.cameraRequests = 0;
    const devices = navigator.mediaDevices;
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints) => {
      window.cameraRequests += 1;
      return getUserMedia(constraints);
    };
    window.statesShown = [];
    new MutationObserver(() => {
      const status = document.querySelector('.call-state');
      const last = window.statesShown.at(-1);
      if (status && (last?.[0] !== status.dataset.state || last?.[1] !== status.textContent)) {
        window.statesShown.push([status.dataset.state, status.textContent]);
      }
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(url);
  return { page, errors, context };
}

const status = (page, state) => page.locator(`.call-state[role="status"][data-state="${state}"]`);

/** Every state the page showed was one sentence, and nothing repeated it beside. */
async function assertOneSentenceEach(page) {
  const shown = await page.evaluate(() => window.statesShown);
  assert.ok(shown.length > 0);
  for (const [state, text] of shown) assert.match(text, /^[^。]+。$/, `the state ${state} in one sentence`);
  assert.equal(await page.locator('.state-open .state-message').count(), 0, 'no second line about the state');
}

// A browser on a first visit: it has not been told yes or no, and headless, it answers its
// own question no (the harness's usual browser answers yes before anything is asked).
let firstVisit;
before(async () => {
  firstVisit = await launchBrowser({ grantCamera: false });
});
after(() => firstVisit?.close());

describe('the patient page asks before the camera', () => {
  test('it explains why, and the camera starts only when the patient presses 「カメラとマイクを使う」', async () => {
    const patient = await patientPhone(await patientUrl('カメラの説明'), { browser: firstVisit });
    const { page } = patient;
    await assert.doesNotReject(status(page, 'ask').filter({ hasText: ASK }).waitFor());
    const use = page.getByRole('button', { name: 'カメラとマイクを使う' });
    await assert.doesNotReject(use.waitFor());
    // The page is joined to receive only meanwhile: its connection test has passed.
    await assert.doesNotReject(page.getByText('接続テスト: 良好').waitFor());
    assert.equal(await page.evaluate(() => window.cameraRequests), 0, 'nothing asked for the camera before the press');
    assert.equal(await page.locator('video.preview').isVisible(), false, 'no preview before the press');
    assert.equal(await page.locator('video.preview').evaluate((v) => v.srcObject), null);
    assert.deepEqual(await unlabelledControls(page), []);
    await screenshot(page, '41-patient-ask-camera');

    // The patient presses, and answers the browser's question 「許可」.
    await patient.context.grantPermissions(['camera', 'microphone']);
    await use.click();
    await page.waitForFunction(() => document.querySelector('video.preview')?.videoWidth > 0);
    assert.ok(await page.evaluate(() => window.cameraRequests) >= 1);
    await assert.doesNotReject(status(page, 'waiting').filter({ hasText: WAITING }).waitFor());
    assert.equal(await use.count(), 0, 'the button is gone once the camera is on');
    await assert.doesNotReject(page.getByLabel('マイクの音量').waitFor());
    await assertOneSentenceEach(page);
    assert.deepEqual(patient.errors, []);
    await patient.context.close();
  });

  test('a patient who allowed the camera before (a reload) goes straight back in, unasked', async () => {
    const patient = await patientPhone(await patientUrl('許可済み'));
    const { page } = patient;
    await page.waitForFunction(() => document.querySelector('video.preview')?.videoWidth > 0);
    await assert.doesNotReject(status(page, 'waiting').filter({ hasText: WAITING }).waitFor());
    const shown = await page.evaluate(() => window.statesShown.map(([state]) => state));
    assert.ok(!shown.includes('ask'), `no question: ${shown}`);
    assert.equal(await page.getByRole('button', { name: 'カメラとマイクを使う' }).count(), 0);
    await assertOneSentenceEach(page);
    assert.deepEqual(patient.errors, []);
    await patient.context.close();
  });
});

describe('a patient who says no to the camera', () => {
  for (const device of [
    { name: 'an iPhone', userAgent: IPHONE, own: IPHONE_STEPS, others: [ANDROID_STEPS, PC_STEPS], shot: '42-patient-camera-refused-iphone' },
    { name: 'an Android phone', userAgent: ANDROID, own: ANDROID_STEPS, others: [IPHONE_STEPS, PC_STEPS] },
  ]) {
    test(`on ${device.name} sees only that device's steps, and 「もう一度試す」`, async () => {
      const patient = await patientPhone(await patientUrl('カメラを許可しない'), { browser: firstVisit, userAgent: device.userAgent });
      const { page } = patient;
      await page.getByRole('button', { name: 'カメラとマイクを使う' }).click();
      const help = page.locator('.camera-help');
      await assert.doesNotReject(help.getByText('カメラとマイクの使用が許可されていません。', { exact: false }).waitFor());
      assert.equal(await help.getAttribute('role'), 'alert');
      assert.ok(await help.locator('ol li').count() >= 3, 'numbered steps');
      const text = await help.innerText();
      assert.ok(text.includes(device.own), `the ${device.name} steps are shown: ${text}`);
      for (const other of device.others) assert.ok(!text.includes(other), `another device's steps (${other}) are shown: ${text}`);
      const again = page.getByRole('button', { name: 'もう一度試す' });
      assert.equal(await again.count(), 1);
      // The doctor can still be seen and heard: the page waits for them.
      await assert.doesNotReject(status(page, 'waiting').waitFor());
      await assert.doesNotReject(page.getByText('医師の映像と声は届きますが', { exact: false }).waitFor());
      assert.deepEqual(await unlabelledControls(page), []);
      if (device.shot) await screenshot(page, device.shot);

      // Trying again asks again, and without the permission says the same.
      const asked = await page.evaluate(() => window.cameraRequests);
      await again.click();
      await page.waitForFunction((n) => window.cameraRequests > n, asked);
      await assert.doesNotReject(help.getByText(device.own, { exact: false }).first().waitFor());
      await assertOneSentenceEach(page);
      assert.deepEqual(patient.errors, []);
      await patient.context.close();
    });
  }
});

describe('the internet drops and comes back', () => {
  test('the page says so, announced, and says it is back', async () => {
    const patient = await patientPhone(await patientUrl('ネットが切れる'));
    const { page, context } = patient;
    await status(page, 'waiting').waitFor();

    await context.setOffline(true);
    await assert.doesNotReject(status(page, 'offline')
      .filter({ hasText: 'インターネットの接続が切れたので、つながるまでこのままお待ちください。' }).waitFor());
    await screenshot(page, '43-patient-offline');

    await context.setOffline(false);
    await assert.doesNotReject(status(page, 'back').filter({ hasText: '接続が戻りました。' }).waitFor());
    // Said once, then the page goes back to what the call is doing.
    await assert.doesNotReject(status(page, 'waiting').filter({ hasText: WAITING }).waitFor());
    assert.equal(await page.getByText('接続が戻りました。').count(), 0);
    await assertOneSentenceEach(page);
    assert.deepEqual(patient.errors, []);
    await context.close();
  });
});

describe('before the window', () => {
  test("the clinic's own sentence stays, and plain words say from when the patient can wait", async () => {
    const url = await patientUrl('開始前', { start_at: `${weekdayAhead()}T10:00:00+09:00` });
    const patient = await patientPhone(url);
    const { page } = patient;
    await assert.doesNotReject(page.getByText('このビデオ通話は開始前です。開始1時間前より待機することができます。', { exact: true }).waitFor());
    await assert.doesNotReject(page.getByText(/^\d{1,2}月\d{1,2}日\(.\) 09:00から、この画面でお待ちいただけます。$/).waitFor());
    assert.equal(await page.evaluate(() => window.cameraRequests), 0, 'no camera before the window');
    assert.deepEqual(patient.errors, []);
    await patient.context.close();
  });
});
