// A call between two browsers that offer H.264 only, as a browser without VP8 does: the relay
// gives both legs H.264 and both decode each other's video. Chromium is made to leave VP8 out
// by the test itself (setCodecPreferences before every offer); the pages are the product's own.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, collectErrors, login, screenshot, serverAndBrowser } from './harness.mjs';

const running = serverAndBrowser();

/**
 * Runs in the page before its scripts: every peer connection offers H.264 only for video, and
 * is kept where the test can read its statistics.
 */
function offerH264Only() {
  const connections = [];
  window.testPeerConnections = connections;
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      connections.push(this);
    }
  };
  const h264 = RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264');
  const preferH264 = (pc) => {
    for (const transceiver of pc.getTransceivers()) {
      const kind = transceiver.receiver.track?.kind;
      if (kind === 'video' && !transceiver.stopped) transceiver.setCodecPreferences(h264);
    }
  };
  const createOffer = Native.prototype.createOffer;
  Native.prototype.createOffer = function (...args) {
    preferH264(this);
    return createOffer.apply(this, args);
  };
  const setLocalDescription = Native.prototype.setLocalDescription;
  Native.prototype.setLocalDescription = function (...args) {
    if (args.length === 0) preferH264(this); // an implicit offer
    return setLocalDescription.apply(this, args);
  };
}

/** What the page's connection decodes and sends as video: frames decoded and both codecs. */
function videoStats() {
  return (async () => {
    const pc = window.testPeerConnections.at(-1);
    if (!pc) return null;
    const stats = [...(await pc.getStats()).values()];
    const codec = (id) => stats.find((s) => s.id === id)?.mimeType ?? null;
    const inbound = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    const outbound = stats.find((s) => s.type === 'outbound-rtp' && s.kind === 'video');
    return {
      framesDecoded: inbound?.framesDecoded ?? 0,
      received: codec(inbound?.codecId),
      sent: codec(outbound?.codecId),
    };
  })();
}

async function decodesH264(page) {
  let stats;
  for (let i = 0; i < 100; i += 1) {
    stats = await page.evaluate(videoStats);
    if (stats && stats.framesDecoded > 10 && stats.received) break;
    await page.waitForTimeout(200);
  }
  assert.ok(stats?.framesDecoded > 10, `frames decoded: ${JSON.stringify(stats)}`);
  assert.deepEqual([stats.received, stats.sent], ['video/H264', 'video/H264']);
}

describe('a call in H.264', () => {
  test('two browsers that offer no VP8 see each other through the relay', async () => {
    const context = await running.browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(offerH264Only);
    const page = await context.newPage();
    await login(page, running.server.url);
    const me = await api(page, 'GET', '/api/v1/me');
    const created = await api(page, 'POST', '/api/v1/video-calls', { doctor_id: me.staff.id, start_now: true });

    const phone = await running.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.addInitScript(offerH264Only);
    const patient = await phone.newPage();
    const patientErrors = collectErrors(patient);
    await patient.goto(created.video.patient_url);
    const call = await context.newPage();
    const callErrors = collectErrors(call);
    await call.goto(created.video.clinic_url);
    await call.getByRole('button', { name: 'ビデオ通話を開始する' }).click();
    await assert.doesNotReject(call.getByRole('button', { name: '通話を終了する' }).waitFor());

    await decodesH264(call);
    await decodesH264(patient);
    await screenshot(call, '18-call-h264');
    assert.deepEqual([...patientErrors, ...callErrors], []);
    await phone.close();
    await context.close();
  });
});
