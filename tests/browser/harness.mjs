// What the browser tests share: the real enkaku binary on a fresh data directory, Debian's
// Chromium driven by Playwright (never a downloaded browser), and screenshots of every screen.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const SCREENSHOTS = join(here, 'screenshots');
const CHROMIUM = process.env.ENKAKU_CHROMIUM ?? '/usr/bin/chromium';

function binary() {
  if (process.env.ENKAKU_BIN) return process.env.ENKAKU_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(here, '..', '..', 'target');
  return join(target, 'debug', 'enkaku');
}

/**
 * `enkaku serve` with the demo clinics on a free port; resolves once it prints its URL. The
 * embedded default, plus `extraEnv` (a provider to send through, say).
 */
export async function startServer(extraEnv = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'enkaku-browser-'));
  // The embedded default, whatever the caller's environment points at.
  const env = { ...process.env, ENKAKU_LOG: 'warn,rtc_ice::agent=error,rtc_dtls::config=error', ...extraEnv };
  delete env.ENKAKU_DATABASE_URL;
  delete env.ENKAKU_KAFKA_BROKERS;
  const child = spawn(binary(), ['serve', '--data-dir', dataDir, '--addr', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`enkaku did not start: ${out}`)), 60000);
    child.on('exit', (code) => reject(new Error(`enkaku exited with ${code}: ${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /enkaku is running at (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    url,
    /** Run an `enkaku` subcommand on this server's store; resolves to what it printed. */
    cli(...args) {
      const run = spawnSync(binary(), ['--data-dir', dataDir, ...args], { env, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      return run.stdout;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The desktop window staff pages open in. */
export const DESKTOP = { viewport: { width: 1280, height: 1100 } };

/**
 * The server and the browser a test file shares: started before its tests, stopped after
 * them. Read `running.server` and `running.browser` inside the tests; `running.staffPage(email)`
 * logs a staff member in. `env()` gives (or promises) the server's extra environment when it
 * starts.
 */
export function serverAndBrowser(env = () => ({})) {
  const running = {
    server: null,
    browser: null,
    /** A logged-in staff page (its own browser context, so its own session), and its errors. */
    async staffPage(email) {
      const context = await running.browser.newContext(DESKTOP);
      const page = await context.newPage();
      const errors = collectErrors(page);
      await login(page, running.server.url, email);
      return { page, errors, context };
    },
  };
  before(async () => {
    running.server = await startServer(await env());
    running.browser = await launchBrowser();
  });
  after(async () => {
    await running.browser?.close();
    await running.server?.stop();
  });
  return running;
}

/** Chromium with a fake camera; `grantCamera: false` answers every permission prompt "no". */
export async function launchBrowser({ grantCamera = true } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // A fake camera and microphone, granted without a prompt (or denied: headless
      // Chromium dismisses a prompt it may not show).
      '--use-fake-device-for-media-stream',
      ...(grantCamera ? ['--use-fake-ui-for-media-stream'] : []),
      // The relay's candidates are on 127.0.0.1, which Chromium leaves out unless told, and
      // which it would hide behind mDNS names; calls play their sound without a click.
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** Fail the test on any error the page logs or throws: a broken script is a broken screen. */
export function collectErrors(page) {
  const errors = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // Chromium logs every 4xx the API answers as "Failed to load resource"; those are the
    // tests' own invalid inputs, checked where they happen.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      errors.push(`console: ${message.text()}`);
    }
  });
  return errors;
}

/**
 * Controls a screen reader could not name: inputs, selects and text areas without a label,
 * `aria-label` or `aria-labelledby`, and buttons and links without any text.
 */
export function unlabelledControls(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((c) => c.type !== 'hidden' && c.getClientRects().length > 0)
    .filter((c) => {
      if (c.getAttribute('aria-label') || c.getAttribute('aria-labelledby')) return false;
      if (c.matches('button, a')) return c.textContent.trim() === '';
      return c.labels.length === 0;
    })
    .map((c) => c.outerHTML.slice(0, 120)));
}

/** Save what the person sees under `screenshots/` (git-ignored), for a human to look at. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Call the API as the page's logged-in staff member (its cookie and CSRF token). */
export async function api(page, method, path, data) {
  const csrf = (await page.context().cookies()).find((c) => c.name === 'enkaku_csrf')?.value ?? '';
  const base = new URL(page.url()).origin;
  const response = await page.request.fetch(`${base}${path}`, { method, data, headers: { 'X-CSRF-Token': csrf } });
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${await response.text()}`);
  return response.json();
}

export async function login(page, base, email = 'yamada@demo.enkaku.test') {
  await page.goto(`${base}/login`);
  await page.getByLabel('メールアドレス').fill(email);
  await page.getByLabel('パスワード').fill('demo-password');
  await page.getByRole('button', { name: 'ログイン' }).click();
  await page.waitForURL(/\/schedule/);
}

/** A weekday at least a week ahead (in Tokyo), `YYYY-MM-DD`: its links are not open yet. */
export function weekdayAhead(days = 8) {
  const tokyo = new Date(Date.now() + 9 * 3600 * 1000);
  const day = new Date(Date.UTC(tokyo.getUTCFullYear(), tokyo.getUTCMonth(), tokyo.getUTCDate() + days));
  while (day.getUTCDay() === 0 || day.getUTCDay() === 6) day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

/**
 * Keep every RTCPeerConnection the pages of `context` make in `window.peerConnections`, so a
 * test can read what arrives with `getStats()`. Call before the context opens its pages.
 */
export async function watchPeerConnections(context) {
  await context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.peerConnections = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.peerConnections.push(this);
      }
    };
  });
}

/** What the page's newest open peer connection has received: video frames decoded, audio packets. */
export function receivedMedia(page) {
  return page.evaluate(async () => {
    const open = (window.peerConnections ?? []).filter((pc) => pc.connectionState !== 'closed');
    const received = { frames: 0, audioPackets: 0 };
    const stats = await open.at(-1)?.getStats();
    stats?.forEach((report) => {
      if (report.type !== 'inbound-rtp') return;
      if (report.kind === 'video') received.frames += report.framesDecoded ?? 0;
      if (report.kind === 'audio') received.audioPackets += report.packetsReceived ?? 0;
    });
    return received;
  });
}

/**
 * Wait until `page` decodes the other side's video (ten more frames than now) and receives
 * its sound (ten more packets), or only one of them when `video` or `audio` is false; fails
 * after `timeout` ms.
 */
export async function mediaArrives(page, { video = true, audio = true, timeout = 30000, what = 'media' } = {}) {
  let first = await receivedMedia(page);
  const deadline = Date.now() + timeout;
  for (;;) {
    const now = await receivedMedia(page);
    // A new peer connection (a rejoin) counts from zero again.
    if (now.frames < first.frames || now.audioPackets < first.audioPackets) first = now;
    if ((!video || now.frames >= first.frames + 10) && (!audio || now.audioPackets >= first.audioPackets + 10)) return now;
    if (Date.now() > deadline) assert.fail(`${what} did not arrive: ${JSON.stringify({ first, now })}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Make the pages of `context` refuse sound before the person has touched them, as iOS Safari does. */
export async function refuseSoundBeforeATap(context) {
  await context.addInitScript(() => {
    // Chromium's own user activation also comes from granting the camera: a tap it is not.
    let tapped = false;
    window.addEventListener('pointerdown', (event) => {
      tapped ||= event.isTrusted;
    }, true);
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function playOnlyMutedBeforeATap() {
      if (!this.muted && !tapped) {
        return Promise.reject(new DOMException('sound needs a tap', 'NotAllowedError'));
      }
      return play.call(this);
    };
  });
}

/** Give the pages of `context` a microphone but no camera. */
export async function withoutCamera(context) {
  await context.addInitScript(() => {
    const devices = navigator.mediaDevices;
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints) => (constraints?.video
      ? Promise.reject(new DOMException('no camera', 'NotFoundError'))
      : getUserMedia(constraints));
  });
}

/**
 * Open `path` as a WebSocket from `page`. Resolves to `{ opened, status }`: whether it opened,
 * and the HTTP status of a refused handshake as Chromium reports it on the console.
 */
export async function openWebSocket(page, path) {
  const reported = page.waitForEvent('console', {
    predicate: (message) => message.text().includes('WebSocket connection'),
    timeout: 10000,
  }).then((message) => message.text(), () => '');
  const opened = await page.evaluate((address) => new Promise((resolve) => {
    const socket = new WebSocket(`ws://${location.host}${address}`);
    socket.onopen = () => {
      socket.close();
      resolve(true);
    };
    socket.onclose = () => resolve(false);
  }), path);
  const status = opened ? null : Number(/response code: (\d{3})/.exec(await reported)?.[1]);
  return { opened, status };
}
