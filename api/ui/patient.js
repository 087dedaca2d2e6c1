// The patient page (R11, R13, R19) at the patient URL: no login. It shows the clinic's name
// and the link's state, and while the link is open asks for the camera and microphone, shows
// the patient their own preview and a waiting message. Nothing staff entered is ever here.

import { call } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { wallClock } from './lib/format.js';
import { cameraHelp, startCamera, stopCamera } from './lib/camera.js';

const token = location.pathname.split('/').pop();
const main = document.getElementById('main');
const clinicName = document.getElementById('clinic-name');
/** How often the page looks again, so it notices the window opening, a cancel or the end. */
const RECHECK_MS = 15000;

// R13's words, exactly, for a link opened before its window.
const NOT_YET_OPEN = 'このビデオ通話は開始前です。開始1時間前より待機することができます。';

const MESSAGES = {
  not_yet_open: NOT_YET_OPEN,
  expired: 'このビデオ通話URLの有効期限が切れています。診察をご希望の場合は、医療機関にお問い合わせください。',
  cancelled: 'このビデオ通話はキャンセルされました。ご不明な点は医療機関にお問い合わせください。',
  ended: 'ビデオ通話は終了しました。ありがとうございました。',
};

let stream = null;
let shown = null;

async function look() {
  let link;
  try {
    link = (await call('GET', `/api/v1/patient-links/${encodeURIComponent(token)}`, { allowAnonymous: true })).body;
  } catch (problem) {
    if (problem.status === 404) showMessage('invalid', 'このURLは無効です。届いたSMSまたはメールのURLをもう一度ご確認ください。');
    else if (problem.status === 429) showMessage('busy', 'アクセスが集中しています。しばらくしてから再度お試しください。');
    else if (!shown) showMessage('offline', '接続できません。通信環境をご確認のうえ、ページを開き直してください。');
    return;
  }
  fill(clinicName, link.clinic_name);
  document.title = `オンライン診療 — ${link.clinic_name}`;
  if (link.status === shown) return;
  if (link.status === 'open') showWaiting(link);
  else showMessage(link.status, MESSAGES[link.status], link);
}

function validity(link) {
  return h('p', { class: 'validity' }, `有効期間: ${wallClock(link.valid_from)}〜${wallClock(link.valid_until)}`);
}

function showMessage(state, text, link = null) {
  shown = state;
  document.body.dataset.state = state;
  stopCamera(stream);
  stream = null;
  fill(main, h('section', { class: `state state-${state}` },
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
  fill(main, h('section', { class: 'state state-open' },
    waiting,
    box,
    help,
    h('p', { class: 'hint' }, '医師が通話を開始するまで、この画面を開いたままお待ちください。呼び出しの通知はありません。'),
    validity(link)));
  const begin = async () => {
    try {
      stream = await startCamera(video);
      help.hidden = true;
      box.hidden = false;
      fill(waiting, '医師が通話を開始するまでお待ちください。');
    } catch (error) {
      help.hidden = false;
      box.hidden = true;
      fill(waiting, 'カメラとマイクを使用できません。');
      fill(help, cameraHelp(error.reason), h('button', { type: 'button', class: 'primary', onclick: begin }, 'もう一度試す'));
    }
  };
  begin();
}

await look();
setInterval(look, RECHECK_MS);
