// The call screen (R18) at the clinic URL: 「ビデオ通話」 top-left, the doctor's camera
// bottom-left, the patient in the centre (media arrives with the relay), and the buttons
// that start (`CallStarted`) and end (`CallEnded`) the call. Staff of the clinic only; other
// staff than doctors see the appointment and are told that only doctors start and end calls
// (the server refuses them the call's media and its start and end).

import { call, get, ifMatch } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { dateTime, ERASED } from './lib/format.js';
import { describe, mediaRefusal } from './lib/messages.js';
import { Camera, tokenFromPath } from './lib/camera.js';
import { MediaLink } from './lib/media.js';
import { playRemote, remoteVideo } from './lib/playback.js';
import { confirmDialog } from './lib/ui.js';

const token = tokenFromPath();
const info = document.getElementById('call-info');
const message = document.getElementById('call-message');
const startButton = document.getElementById('start-call');
const endButton = document.getElementById('end-call');
const micButton = document.getElementById('toggle-mic');
const cameraButton = document.getElementById('toggle-camera');
const selfVideo = document.getElementById('self-video');
const help = document.getElementById('camera-help');
const remote = document.getElementById('remote');
const camera = new Camera();
/** The patient's media through the relay, once the camera has answered. */
let media = null;
/** The patient in the centre, made when their media first arrives. */
let patientVideo = null;
/** Another screen of the clinic took this call over: this one stays off until reloaded. */
let handedOver = false;

// What the centre says while there is no picture of the patient.
const MEDIA_STATES = {
  connecting: '接続中です…',
  reconnecting: '接続が途切れました。再接続しています…',
  replaced: '別の画面でこのビデオ通話を開いたため、この画面での通話は終了しました。',
};

/** Join with `stream`, or only receive when the camera was refused; a camera allowed on a
 * later try joins again with it, so the patient sees the doctor after all. */
function startMedia(stream) {
  if (media && media.stream === stream) return;
  media?.stop();
  const waiting = remote.querySelector('.remote-waiting');
  media = new MediaLink(`/api/v1/media/clinic/${encodeURIComponent(token)}`, stream, {
    onRemote: (incoming) => {
      if (!patientVideo) {
        patientVideo = remoteVideo({ id: 'remote-video', 'aria-label': '患者の映像' });
        patientVideo.video.addEventListener('resize', () => {
          if (patientVideo.video.videoWidth > 0) remote.dataset.picture = 'yes';
        });
        remote.append(patientVideo.video, patientVideo.unmute);
      }
      playRemote(patientVideo, incoming);
    },
    onState: (state, code) => {
      remote.dataset.media = state;
      if (MEDIA_STATES[state]) fill(waiting, MEDIA_STATES[state]);
      if (state === 'refused') fill(waiting, mediaRefusal(code));
      if (state === 'ended') load();
      if (state === 'replaced') handOver();
    },
  });
  media.start();
}

/** Let go of the camera and the call's media; the centre is left empty. */
function stopMedia() {
  camera.stop();
  media?.stop();
  media = null;
  patientVideo?.video.remove();
  patientVideo?.unmute.remove();
  patientVideo = null;
  micButton.hidden = true;
  cameraButton.hidden = true;
  delete remote.dataset.picture;
  fill(remote.querySelector('.remote-waiting'), '');
}

/** Another screen has the call now: this one lets go and says how to take it back. */
function handOver() {
  handedOver = true;
  stopMedia();
  if (appointment) show();
}

let appointment = null;
let tz;
/** Only doctors start, take part in and end calls. */
let doctor = false;

async function load() {
  try {
    const me = await get('/api/v1/me');
    tz = me.clinic.time_zone;
    doctor = me.staff.role === 'doctor';
    appointment = await get(`/api/v1/call-links/${encodeURIComponent(token)}`);
    show();
  } catch (problem) {
    if (problem.status === 404) fill(message, 'このURLは無効です。予約の「医療機関用URL」からもう一度開いてください。');
    else fill(message, describe(problem));
  }
}

/** Waiting for the window to open, to show the call as startable then. */
let opening = null;

/** Where the call's window stands now: `before` it opens, `open`, or `after` it closed. */
function windowPosition(video) {
  const now = Date.now();
  if (now < Date.parse(video.valid_from)) return 'before';
  return now < Date.parse(video.valid_until) ? 'open' : 'after';
}

const backToSchedule = () => h('a', { class: 'button', href: '/schedule' }, 'スケジュールに戻る');

function show() {
  const a = appointment;
  const name = a.erased ? ERASED : a.kind === 'video_url' ? (a.title || '（タイトルなし）') : a.patient_name;
  document.body.dataset.status = a.status;
  fill(info,
    h('p', { class: 'call-name' }, name),
    h('p', {}, `開始 ${dateTime(a.start_at, tz)}`),
    h('p', {}, `有効期間 ${dateTime(a.video.valid_from, tz)}〜${dateTime(a.video.valid_until, tz)}`));
  const position = windowPosition(a.video);
  const over = {
    cancelled: 'このビデオ通話はキャンセルされました。',
    ended: 'このビデオ通話は終了しました。',
  }[a.status] ?? (a.status === 'booked' && position === 'after' ? 'このビデオ通話URLの有効期間は終了しました。' : null);
  clearTimeout(opening);
  // Startable only while booked and inside the window; before it, the button waits there.
  startButton.hidden = !doctor || a.status !== 'booked' || position === 'after';
  startButton.disabled = a.status !== 'booked' || position !== 'open';
  endButton.hidden = !doctor || a.status !== 'in_call';
  if (over) {
    fill(message, over, ' ', backToSchedule());
    stopMedia();
  } else if (!doctor) {
    fill(message, 'ビデオ通話の開始と終了は医師のみが行えます。', ' ', backToSchedule());
    stopMedia();
  } else if (position === 'before' && a.status === 'booked') {
    fill(message, `このビデオ通話は ${dateTime(a.video.valid_from, tz)} から開始できます。その時刻になると「ビデオ通話を開始する」を押せるようになります。`);
    opening = setTimeout(show, Math.min(Date.parse(a.video.valid_from) - Date.now() + 500, 2 ** 31 - 1));
  } else if (handedOver) {
    fill(message, MEDIA_STATES.replaced,
      h('button', { type: 'button', class: 'primary', onclick: () => location.reload() }, 'この画面で通話を続ける'));
  } else {
    fill(message, a.status === 'in_call'
      ? '通話中です。'
      : '患者の顔が映ったら「ビデオ通話を開始する」を押してください。患者への呼び出し通知はありません。映らない場合はお電話でURLを開くようご案内ください。');
    if (!camera.active) {
      camera.start(selfVideo, help, (ok) => {
        // A fresh stream starts with everything on.
        for (const [button, label] of [[micButton, 'マイクをオフにする'], [cameraButton, 'カメラをオフにする']]) {
          button.setAttribute('aria-pressed', 'false');
          fill(button, label);
        }
        micButton.hidden = !ok;
        cameraButton.hidden = !ok || camera.audioOnly;
        startMedia(ok ? camera.stream : null);
      });
    }
  }
}

/** A toggle that turns one kind of track off and on, and says which it will do next. */
function toggle(button, kind, [offLabel, onLabel]) {
  button.addEventListener('click', () => {
    const off = button.getAttribute('aria-pressed') !== 'true';
    camera.setEnabled(kind, !off);
    button.setAttribute('aria-pressed', String(off));
    fill(button, off ? onLabel : offLabel);
  });
}

toggle(micButton, 'audio', ['マイクをオフにする', 'マイクをオンにする']);
toggle(cameraButton, 'video', ['カメラをオフにする', 'カメラをオンにする']);

async function act(action) {
  try {
    appointment = await call('POST', `/api/v1/appointments/${appointment.id}/${action}`, { headers: ifMatch(appointment) });
    show();
  } catch (problem) {
    if (problem.status === 412) return load();
    show();
    fill(message, describe(problem));
  }
}

startButton.addEventListener('click', async () => {
  startButton.disabled = true;
  await act('start-call');
  if (!endButton.hidden) endButton.focus();
});

endButton.addEventListener('click', async () => {
  const yes = await confirmDialog({ title: '通話の終了', message: 'ビデオ通話を終了しますか?', confirm: '終了する', danger: true });
  if (yes) await act('end-call');
});

await load();

// Someone else may start, end or cancel this call: follow its changes.
const live = new EventSource('/api/v1/live');
live.addEventListener('change', (event) => {
  if (appointment && JSON.parse(event.data).appointment_ids.includes(appointment.id)) load();
});
