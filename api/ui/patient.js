// The patient page (R11, R13, R19) at the patient URL: no login. It shows the clinic's name
// and the link's state, and while the link is open says why it needs the camera and
// microphone before the browser asks for them, shows the patient their own preview, a
// pre-call check (microphone level, connection test) and the call's state in one sentence,
// then the doctor. Nothing staff entered is ever here.

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

// The call's states, each one sentence a patient understands. `ask` explains the camera before
// the browser asks for it; `asking` is while the browser's own question is on the screen.
const CALL_STATES = {
  ask: '医師と顔を見てお話しするために、カメラとマイクを使います。',
  asking: '画面に出る確認で「許可」を押してください。',
  connecting: 'つないでいますので、少しお待ちください。',
  waiting: 'この画面を開いたまま、医師が通話を開始するまでお待ちください。',
  in_call: '医師と通話中です。',
  offline: 'インターネットの接続が切れたので、つながるまでこのままお待ちください。',
  reconnecting: '接続が切れたので、つながるまでこのままお待ちください。',
  back: '接続が戻りました。',
  ended: MESSAGES.ended,
  replaced: '別の画面でこのビデオ通話を開いたため、この画面での通話は終了しました。',
};
/** How long 「接続が戻りました。」 stays before the call's state shows again. */
const BACK_MS = 5000;

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
    // R13's sentence is the clinic's own; this one says the same in plain words, with the time.
    state === 'not_yet_open' ? h('p', { class: 'opens-at' }, `${consultationTime(link.valid_from)}から、この画面でお待ちいただけます。`) : null,
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
 * Whether the browser gives the camera and microphone without asking (allowed on an earlier
 * visit): then a reload goes straight back into the call with them.
 */
async function alreadyAllowed() {
  try {
    const answers = await Promise.all(['camera', 'microphone'].map((name) => navigator.permissions.query({ name })));
    return answers.every((answer) => answer.state === 'granted');
  } catch {
    return false; // a browser that cannot tell asks, as for a first visit
  }
}

/**
 * The call on the patient page: one sentence for the call's state, the own preview, the
 * pre-call check and the doctor. Nothing asks for the camera until the patient has read why
 * and pressed 「カメラとマイクを使う」; meanwhile the page joins to receive only, so the clinic
 * sees the patient arrive and the connection is tested. A patient who refuses the camera (or
 * has none) still sees and hears the doctor.
 */
class PatientCall {
  constructor() {
    this.media = null;
    /** The camera: null (not known yet), `ask`, `asking`, `allowed` or `refused`. */
    this.camera = null;
    this.started = false;
    /** The relay has been reached on this join: a later drop is a reconnection. */
    this.reached = false;
    this.connected = false;
    /** The media link dropped after it was reached, and is not back yet. */
    this.dropped = false;
    /** Offline or dropped when last shown: the next good state first says it is back. */
    this.troubled = false;
    this.back = false;
    this.backTimer = null;
    /** A state the call does not leave (ended, replaced, refused): `[state, sentence, action]`. */
    this.final = null;
    this.testTimer = null;
    this.listening = new AbortController();
    const render = () => this.render();
    window.addEventListener('online', render, { signal: this.listening.signal });
    window.addEventListener('offline', render, { signal: this.listening.signal });
    this.status = h('p', { class: 'call-state', role: 'status' });
    this.useCamera = h('button', { type: 'button', class: 'primary use-camera', onclick: () => this.startCamera() }, 'カメラとマイクを使う');
    this.action = h('div', { class: 'call-action' });
    this.preview = h('video', { class: 'preview', autoplay: true, muted: true, playsinline: true, 'aria-label': 'あなたのカメラの映像' });
    this.previewBox = h('div', { class: 'preview-box', hidden: true }, this.preview);
    this.doctor = remoteVideo({ class: 'doctor', 'aria-label': '医師の映像' });
    this.doctorBox = h('div', { class: 'doctor-box', hidden: true }, this.doctor.video, this.doctor.unmute);
    this.receiveOnly = h('p', { class: 'notice receive-only', hidden: true },
      'カメラとマイクを使わずに参加しています。医師の映像と声は届きますが、あなたの映像と声は医師に届きません。');
    this.help = h('div', { class: 'camera-help', role: 'alert', hidden: true });
    const meter = h('meter', { id: 'mic-level', min: 0, max: 1, value: 0 });
    this.tapHint = h('p', { class: 'hint', hidden: true }, '画面をタップすると、マイクの確認が始まります。');
    this.micLevel = new MicLevel(meter, this.tapHint);
    this.micRow = h('div', { class: 'check-row', hidden: true },
      h('label', { for: 'mic-level' }, 'マイクの音量'), meter,
      h('p', { class: 'hint' }, '声を出すと、緑の帯が動きます。'), this.tapHint);
    this.connection = h('p', { class: 'connection-test' });
    this.connectionHelp = h('div', { class: 'connection-help', hidden: true },
      h('p', {}, '自動で接続を続けています。つながらない場合は、次をお試しください。'),
      h('ul', {},
        h('li', {}, 'Wi-Fiとモバイルデータ通信（4G・5G）を切り替える'),
        h('li', {}, '別のブラウザで開く（iPhone・iPadはSafari、AndroidはChrome）'),
        h('li', {}, 'それでもつながらない場合は、医療機関にお電話ください')));
    this.check = h('section', { class: 'pre-call-check', 'aria-labelledby': 'check-title' },
      h('h2', { id: 'check-title' }, '通話前の確認'),
      this.micRow, this.connection, this.connectionHelp);
    this.element = [this.status, this.action,
      h('div', { class: 'stage' }, this.doctorBox, this.previewBox),
      this.help, this.receiveOnly, this.check];
  }

  async open() {
    this.render();
    const allowed = await alreadyAllowed();
    if (call !== this) return;
    if (allowed) {
      this.startCamera();
    } else {
      this.camera = 'ask';
      this.render();
      this.join(null);
    }
  }

  /** Ask the browser for the camera and microphone, and join with whatever it answers. */
  startCamera() {
    this.camera = 'asking';
    this.render();
    camera.start(this.preview, this.help, (ok) => {
      this.camera = ok ? 'allowed' : 'refused';
      this.previewBox.hidden = !ok || camera.audioOnly;
      this.receiveOnly.hidden = ok;
      this.micRow.hidden = !ok;
      this.micLevel.start(ok ? camera.stream : null);
      this.join(ok ? camera.stream : null);
      this.render();
    });
  }

  /** Join the call's media with `stream`, or to receive only (null). */
  join(stream) {
    if (this.media && this.media.stream === stream) return;
    this.media?.stop();
    if (!window.RTCPeerConnection) {
      this.finish('refused', 'このブラウザではビデオ通話を使えません。URLをコピーして、iPhone・iPadはSafari、AndroidはChromeで開いてください。');
      return;
    }
    // A join of its own choosing (now with the camera) is no drop.
    this.reached = false;
    this.connected = false;
    this.dropped = false;
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
      case 'reconnecting':
        this.connected = false;
        this.dropped = this.reached;
        this.testConnection();
        break;
      case 'connected':
        this.reached = true;
        this.connected = true;
        this.dropped = false;
        this.passConnectionTest();
        break;
      case 'started':
        this.started = true;
        document.body.dataset.started = 'yes';
        this.doctorBox.hidden = false;
        break;
      case 'ended':
        // The link says how it ended (ended or cancelled); until it does, the call is over.
        look().then(() => {
          if (call !== this) return;
          this.leave();
          this.finish('ended');
        });
        return;
      case 'replaced':
        // Another tab or device of the patient has the call now: this one lets go of the
        // camera and can take the call back.
        this.leave();
        this.finish('replaced', CALL_STATES.replaced,
          h('button', { type: 'button', class: 'primary', onclick: () => location.reload() }, 'この画面で通話を続ける'));
        return;
      case 'refused':
        this.leave();
        this.finish('refused', mediaRefusal(code));
        return;
      default:
        return;
    }
    this.render();
  }

  /** The call is over for this page: it says so, and nothing changes it afterwards. */
  finish(state, sentence = CALL_STATES[state], action = null) {
    this.final = [state, sentence, action];
    this.render();
  }

  /** The one sentence for where the call is now. */
  current() {
    if (!navigator.onLine) return 'offline';
    if (this.dropped) return 'reconnecting';
    if (this.back) return 'back';
    if (this.started && this.connected) return 'in_call';
    if (this.camera === 'ask' || this.camera === 'asking') return this.camera;
    return this.connected ? 'waiting' : 'connecting';
  }

  render() {
    if (this.final) {
      const [state, sentence, action] = this.final;
      this.status.dataset.state = state;
      fill(this.status, sentence);
      this.offer(action);
      return;
    }
    // After a drop or offline, say once that the connection is back before going on.
    const troubled = !navigator.onLine || this.dropped;
    if (this.troubled && !troubled) {
      this.back = true;
      clearTimeout(this.backTimer);
      this.backTimer = setTimeout(() => {
        this.back = false;
        this.render();
      }, BACK_MS);
    }
    this.troubled = troubled;
    const state = this.current();
    if (this.status.dataset.state !== state) {
      this.status.dataset.state = state;
      fill(this.status, CALL_STATES[state]);
    }
    this.offer(this.camera === 'ask' ? this.useCamera : null);
  }

  /** Show `button` (or nothing) below the sentence; a button already there keeps its focus. */
  offer(button) {
    if (this.action.firstChild !== button) fill(this.action, button);
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
    clearTimeout(this.backTimer);
    this.listening.abort();
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
