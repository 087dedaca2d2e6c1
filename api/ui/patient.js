// The patient page (R11, R13, R19) at the patient URL: no login. It shows the clinic's name
// and the link's state, and while the link is open asks for the camera and microphone, shows
// the patient their own preview, a pre-call check (microphone level, connection test) and the
// call's state, then the doctor. Nothing staff entered is ever here.

import { get } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { consultationTime, wallClock } from './lib/format.js';
import { Camera, tokenFromPath } from './lib/camera.js';
import { MediaLink } from './lib/media.js';
import { mediaRefusal } from './lib/messages.js';
import { MicLevel } from './lib/mic-level.js';
import { playRemote, remoteVideo } from './lib/playback.js';

const token = tokenFromPath();
const main = document.getElementById('main');
const clinicName = document.getElementById('clinic-name');
const camera = new Camera();
/** How often the page looks again, so it notices the window opening, a cancel or the end. */
const RECHECK_MS = 15000;
/** After a failed look (the network, a busy server), wait longer, up to this. */
const MAX_BACKOFF_MS = 120000;
/** How long the connection test waits for the relay before it offers help. */
const CONNECTION_TEST_MS = 20000;

// R13's words, exactly, for a link opened before its window.
const NOT_YET_OPEN = 'このビデオ通話は開始前です。開始1時間前より待機することができます。';

const MESSAGES = {
  not_yet_open: NOT_YET_OPEN,
  expired: 'このビデオ通話URLの有効期限が切れています。診察をご希望の場合は、医療機関にお問い合わせください。',
  cancelled: 'このビデオ通話はキャンセルされました。',
  ended: 'ビデオ通話は終了しました。ありがとうございました。',
  revoked: 'このURLは無効になりました。医療機関から届いた新しいURLをご利用ください。',
};

let shown = null;
let failures = 0;
/** The open call on the page (its media, meter and checks), while the link is open. */
let call = null;

// The call's states, each a short label and what it means for the patient.
const CALL_STATES = {
  connecting: ['接続中', '接続しています。しばらくお待ちください。'],
  waiting: ['医師の開始を待っています', 'この画面を開いたまま、医師が通話を開始するまでお待ちください。'],
  in_call: ['通話中', '通話中です。'],
  reconnecting: ['再接続中', '接続が途切れました。自動でつなぎ直しています。このままお待ちください。'],
  ended: ['終了', MESSAGES.ended],
  replaced: ['終了', '別の画面でこのビデオ通話を開いたため、この画面での通話は終了しました。'],
  refused: ['接続できません', ''],
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

/** States in which the appointment's time and the link's window still mean something. */
const TIMED = new Set(['not_yet_open', 'open', 'expired']);

/** When the consultation is, first; then when the link works; then whom to call. */
function when(link) {
  return h('div', { class: 'when' },
    h('p', { class: 'consultation-time' }, `診察日時: ${consultationTime(link.start_at)}`),
    h('p', { class: 'validity' }, `URLを使える期間: ${wallClock(link.valid_from)}〜${wallClock(link.valid_until)}`));
}

function contact(link) {
  return link.clinic_phone
    ? h('p', { class: 'contact' }, `ご不明な点は${link.clinic_name}（電話 `, h('a', { href: `tel:${link.clinic_phone}` }, link.clinic_phone), '）までお問い合わせください。')
    : h('p', { class: 'contact' }, `ご不明な点は${link.clinic_name}にお問い合わせください。`);
}

function showMessage(state, text, link = null) {
  shown = state;
  document.body.dataset.state = state ?? 'unknown';
  call?.leave();
  call = null;
  fill(main, h('section', { class: `state state-${state ?? 'unknown'}` },
    link && TIMED.has(state) ? when(link) : null,
    h('p', { class: 'state-message' }, text),
    link ? contact(link) : null));
}

function showWaiting(link) {
  shown = 'open';
  document.body.dataset.state = 'open';
  call = new PatientCall();
  fill(main, h('section', { class: 'state state-open' },
    when(link),
    call.element,
    contact(link)));
  call.open();
}

/**
 * The call on the patient page: the own preview, the pre-call check, the call's state and
 * the doctor. It joins the call's media whatever the camera answers: a patient who refuses
 * the camera (or has none) still sees and hears the doctor.
 */
class PatientCall {
  constructor() {
    this.media = null;
    this.started = false;
    /** The relay has been reached once: a later drop is a reconnection. */
    this.reached = false;
    this.connected = false;
    this.testTimer = null;
    this.label = h('p', { class: 'call-state', role: 'status' });
    this.message = h('p', { class: 'state-message' }, 'カメラとマイクの使用を許可してください。');
    this.preview = h('video', { class: 'preview', autoplay: true, muted: true, playsinline: true, 'aria-label': 'あなたのカメラの映像' });
    this.previewBox = h('div', { class: 'preview-box' }, this.preview);
    this.doctor = remoteVideo({ class: 'doctor', 'aria-label': '医師の映像' });
    this.doctorBox = h('div', { class: 'doctor-box', hidden: true }, this.doctor.video, this.doctor.unmute);
    this.receiveOnly = h('p', { class: 'notice receive-only', hidden: true },
      'カメラとマイクを使わずに参加しています。医師の映像と声は届きますが、あなたの映像と声は医師に届きません。');
    this.help = h('div', { class: 'camera-help', role: 'alert', hidden: true });
    const meter = h('meter', { id: 'mic-level', min: 0, max: 1, value: 0 });
    this.tapHint = h('p', { class: 'hint', hidden: true }, '画面をタップすると、マイクの確認が始まります。');
    this.micLevel = new MicLevel(meter, this.tapHint);
    this.micRow = h('div', { class: 'check-row' },
      h('label', { for: 'mic-level' }, 'マイクの音量'), meter,
      h('p', { class: 'hint' }, '声を出すと、緑の帯が動きます。'), this.tapHint);
    this.connection = h('p', { class: 'connection-test' });
    this.connectionHelp = h('div', { class: 'connection-help', hidden: true },
      h('p', {}, '自動で接続を続けています。つながらない場合は、次をお試しください。'),
      h('ul', {},
        h('li', {}, 'Wi-Fiとモバイルデータ通信(4G・5G)を切り替える'),
        h('li', {}, '別のブラウザで開く(iPhone・iPadはSafari、AndroidはChrome)'),
        h('li', {}, 'それでもつながらない場合は、医療機関にお電話ください')));
    this.check = h('section', { class: 'pre-call-check', 'aria-labelledby': 'check-title' },
      h('h2', { id: 'check-title' }, '通話前の確認'),
      this.micRow, this.connection, this.connectionHelp);
    this.element = [this.label, this.message,
      h('div', { class: 'stage' }, this.doctorBox, this.previewBox),
      this.receiveOnly, this.help, this.check];
  }

  open() {
    camera.start(this.preview, this.help, (ok) => {
      this.previewBox.hidden = !ok || camera.audioOnly;
      this.receiveOnly.hidden = ok;
      this.micRow.hidden = !ok;
      this.micLevel.start(ok ? camera.stream : null);
      this.join(ok ? camera.stream : null);
    });
  }

  /** Join the call's media with `stream`, or to receive only (null). */
  join(stream) {
    this.media?.stop();
    if (!window.RTCPeerConnection) {
      this.show('refused', 'このブラウザではビデオ通話を使えません。URLをコピーして、iPhone・iPadはSafari、AndroidはChromeで開いてください。');
      return;
    }
    this.media = new MediaLink(`/api/v1/media/patient/${encodeURIComponent(token)}`, stream, {
      onRemote: (incoming) => playRemote(this.doctor, incoming),
      onState: (state, code) => this.follow(state, code),
    });
    this.media.start();
  }

  /** What the media link reports, as the call's state on the page. */
  follow(state, code) {
    switch (state) {
      case 'connecting':
        this.connected = false;
        this.show(this.reached ? 'reconnecting' : 'connecting');
        this.testConnection();
        break;
      case 'connected':
        this.reached = true;
        this.connected = true;
        this.passConnectionTest();
        this.show(this.started ? 'in_call' : 'waiting');
        break;
      case 'started':
        this.started = true;
        document.body.dataset.started = 'yes';
        this.doctorBox.hidden = false;
        if (this.connected) this.show('in_call');
        break;
      case 'reconnecting':
        this.connected = false;
        this.show('reconnecting');
        break;
      case 'ended':
        // The link says how it ended (ended or cancelled); until it does, the call is over.
        look().then(() => {
          if (call !== this) return;
          this.leave();
          this.show('ended');
        });
        break;
      case 'replaced':
        // Another tab or device of the patient has the call now: this one lets go of the
        // camera and can take the call back.
        this.leave();
        this.show('replaced');
        this.message.append(h('button', { type: 'button', class: 'primary', onclick: () => location.reload() }, 'この画面で通話を続ける'));
        break;
      case 'refused':
        this.leave();
        this.show('refused', mediaRefusal(code));
        break;
      default:
        break;
    }
  }

  show(state, text = CALL_STATES[state][1]) {
    document.body.dataset.media = state;
    fill(this.label, CALL_STATES[state][0]);
    fill(this.message, text);
  }

  /** The connection test passes once the relay is reached; help if it is not in time. */
  testConnection() {
    if (this.testTimer !== null) return;
    fill(this.connection, '接続テスト: 確認中…');
    this.testTimer = setTimeout(() => {
      fill(this.connection, '接続テスト: つながりません');
      this.connectionHelp.hidden = false;
    }, CONNECTION_TEST_MS);
  }

  passConnectionTest() {
    clearTimeout(this.testTimer);
    this.testTimer = null;
    fill(this.connection, '接続テスト: 良好');
    this.connectionHelp.hidden = true;
  }

  /** Let go of the camera, the microphone and the call's media. */
  leave() {
    clearTimeout(this.testTimer);
    this.media?.stop();
    this.micLevel.stop();
    camera.stop();
  }
}

// One look at a time, the next one after the last answered.
async function keepLooking() {
  if (!(await look())) return;
  const wait = Math.min(RECHECK_MS * 2 ** failures, MAX_BACKOFF_MS);
  setTimeout(keepLooking, wait);
}

keepLooking();
