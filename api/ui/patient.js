// The patient page (R11, R13, R19) at the patient URL: no login. It shows the clinic's name
// and the link's state, and while the link is open asks for the camera and microphone, shows
// the patient their own preview and a waiting message. Nothing staff entered is ever here.

import { get } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { wallClock } from './lib/format.js';
import { Camera, tokenFromPath } from './lib/camera.js';
import { MediaLink } from './lib/media.js';

const token = tokenFromPath();
const main = document.getElementById('main');
const clinicName = document.getElementById('clinic-name');
const camera = new Camera();
/** How often the page looks again, so it notices the window opening, a cancel or the end. */
const RECHECK_MS = 15000;
/** After a failed look (the network, a busy server), wait longer, up to this. */
const MAX_BACKOFF_MS = 120000;

// R13's words, exactly, for a link opened before its window.
const NOT_YET_OPEN = 'このビデオ通話は開始前です。開始1時間前より待機することができます。';

const MESSAGES = {
  not_yet_open: NOT_YET_OPEN,
  expired: 'このビデオ通話URLの有効期限が切れています。診察をご希望の場合は、医療機関にお問い合わせください。',
  cancelled: 'このビデオ通話はキャンセルされました。ご不明な点は医療機関にお問い合わせください。',
  ended: 'ビデオ通話は終了しました。ありがとうございました。',
  revoked: 'このURLは無効になりました。医療機関から届いた新しいURLをご利用ください。',
};

let shown = null;
let failures = 0;
/** The call's media through the relay, while the link is open. */
let media = null;

// The call's state in words a patient understands.
const MEDIA_STATES = {
  connecting: '接続中です…',
  connected: '医師が通話を開始するまでお待ちください。',
  started: '通話中です。',
  reconnecting: '接続が途切れました。再接続しています…',
  ended: 'ビデオ通話は終了しました。ありがとうございました。',
  refused: 'ビデオ通話に接続できません。ページを再読み込みしてください。',
};

/** Look at the link once; resolves when the page shows its state. */
async function look() {
  let link;
  try {
    link = await get(`/api/v1/patient-links/${encodeURIComponent(token)}`, { allowAnonymous: true });
  } catch (problem) {
    if (problem.status === 404) {
      showMessage('invalid', 'このURLは無効です。届いたSMSまたはメールのURLをもう一度ご確認ください。');
      return false;
    }
    // Busy or unreachable for a moment: keep what the patient sees (their waiting preview)
    // and look again later; only a page with nothing on it yet says so.
    failures += 1;
    if (!shown) showMessage(null, problem.status === 429 ? 'アクセスが集中しています。しばらくお待ちください。' : '接続できません。通信環境をご確認ください。自動で再接続します。');
    return true;
  }
  failures = 0;
  fill(clinicName, link.clinic_name);
  document.title = `オンライン診療 — ${link.clinic_name}`;
  if (link.status !== shown) {
    if (link.status === 'open') showWaiting(link);
    else showMessage(link.status, MESSAGES[link.status], link);
  }
  return true;
}

function validity(link) {
  return h('p', { class: 'validity' }, `有効期間: ${wallClock(link.valid_from)}〜${wallClock(link.valid_until)}`);
}

function showMessage(state, text, link = null) {
  shown = state;
  document.body.dataset.state = state ?? 'unknown';
  media?.stop();
  media = null;
  camera.stop();
  fill(main, h('section', { class: `state state-${state ?? 'unknown'}` },
    h('p', { class: 'state-message' }, text),
    link ? validity(link) : null));
}

function showWaiting(link) {
  shown = 'open';
  document.body.dataset.state = 'open';
  const video = h('video', { class: 'preview', autoplay: true, muted: true, playsinline: true, 'aria-label': 'あなたのカメラの映像' });
  const help = h('div', { class: 'camera-help', role: 'alert', hidden: true });
  const waiting = h('p', { class: 'state-message' }, 'カメラとマイクの使用を許可してください。');
  const box = h('div', { class: 'preview-box' }, video);
  const doctor = h('video', { class: 'doctor', autoplay: true, playsinline: true, hidden: true, 'aria-label': '医師の映像' });
  fill(main, h('section', { class: 'state state-open' },
    waiting,
    doctor,
    box,
    help,
    h('p', { class: 'hint' }, '医師が通話を開始するまで、この画面を開いたままお待ちください。呼び出しの通知はありません。'),
    validity(link)));
  camera.start(video, help, (ok) => {
    box.hidden = !ok;
    fill(waiting, ok ? '医師が通話を開始するまでお待ちください。' : 'カメラとマイクを使用できません。');
    if (ok) joinCall(camera.stream, waiting, doctor);
  });
}

/** Join the call's media: the doctor appears once the call has started. */
function joinCall(stream, waiting, doctor) {
  media?.stop();
  media = new MediaLink(`/api/v1/media/patient/${encodeURIComponent(token)}`, stream, {
    onRemote: (incoming) => {
      if (doctor.srcObject !== incoming) doctor.srcObject = incoming;
      doctor.play().catch(() => {});
    },
    onState: (state) => {
      document.body.dataset.media = state;
      if (state !== 'connected' || !document.body.dataset.started) fill(waiting, MEDIA_STATES[state] ?? '');
      if (state === 'started') {
        document.body.dataset.started = 'yes';
        doctor.hidden = false;
      }
      if (state === 'ended') look();
    },
  });
  media.start();
}

// One look at a time, the next one after the last answered.
async function keepLooking() {
  if (!(await look())) return;
  const wait = Math.min(RECHECK_MS * 2 ** failures, MAX_BACKOFF_MS);
  setTimeout(keepLooking, wait);
}

keepLooking();
