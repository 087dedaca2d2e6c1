// The local camera and microphone: a preview, and help in plain Japanese when they cannot
// be used.

import { fill, h } from './dom.js';

/**
 * One page's camera. `start` may be called again (after a refusal, or as the page's state
 * changes) and `stop` at any time: a stream that arrives after a newer `start` or a `stop` is
 * stopped at once, so the camera is never left on behind the person's back.
 */
export class Camera {
  constructor() {
    this.stream = null;
    this.generation = 0;
    /** Started and not stopped since (it may still be asking, or have been refused). */
    this.active = false;
  }

  /**
   * Show the camera in `video`. On failure, fill `help` with what to do and a retry button;
   * `onChange(ok)` hears each outcome.
   */
  async start(video, help, onChange = () => {}) {
    this.stop();
    this.active = true;
    const mine = this.generation;
    let stream;
    try {
      stream = await open();
    } catch (error) {
      if (mine !== this.generation) return;
      help.hidden = false;
      fill(help, cameraHelp(error.reason), h('button', { type: 'button', class: 'primary', onclick: () => this.start(video, help, onChange) }, 'もう一度試す'));
      onChange(false);
      return;
    }
    if (mine !== this.generation) {
      stopTracks(stream);
      return;
    }
    this.stream = stream;
    video.muted = true; // never play one's own microphone back
    video.srcObject = stream;
    await video.play().catch(() => {});
    help.hidden = !this.audioOnly;
    if (this.audioOnly) fill(help, h('p', {}, 'カメラが見つからないため、音声だけで参加します。相手の映像と声は届きます。'));
    onChange(true);
  }

  /** Turn the microphone (`audio`) or the camera (`video`) off or back on, without
   * leaving the call: the other side gets silence or a still picture. */
  setEnabled(kind, on) {
    const tracks = kind === 'audio' ? this.stream?.getAudioTracks() : this.stream?.getVideoTracks();
    for (const track of tracks ?? []) track.enabled = on;
  }

  /** Started with a microphone but no camera (a device without one). */
  get audioOnly() {
    return this.stream !== null && this.stream.getVideoTracks().length === 0;
  }

  stop() {
    this.active = false;
    this.generation += 1;
    stopTracks(this.stream);
    this.stream = null;
  }
}

function stopTracks(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

class CameraError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}

async function open() {
  if (!window.isSecureContext) throw new CameraError('insecure');
  // In-app browsers (of messaging and mail apps) often have no camera API at all.
  if (!navigator.mediaDevices?.getUserMedia) throw new CameraError('unsupported');
  try {
    return await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    const reason = failure(error);
    if (reason !== 'missing') throw new CameraError(reason);
  }
  // No camera (a desktop without one): the microphone alone still makes a call.
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    throw new CameraError(failure(error));
  }
}

function failure(error) {
  return {
    NotAllowedError: 'denied', SecurityError: 'denied', NotFoundError: 'missing',
    OverconstrainedError: 'missing', NotReadableError: 'busy',
  }[error.name] ?? 'other';
}

/**
 * The device a page runs on, for steps that name its own buttons: `ios` (iPhone, iPad), `android`
 * or `pc`. iPadOS asks for pages as a Mac would; only its touch screen tells them apart.
 */
function deviceKind() {
  const agent = navigator.userAgent;
  if (/iPhone|iPad|iPod/.test(agent) || (/Macintosh/.test(agent) && navigator.maxTouchPoints > 1)) return 'ios';
  if (/Android/.test(agent)) return 'android';
  return 'pc';
}

// How to allow the camera and microphone again after saying no, in each device's own words:
// iPhone and iPad in Safari, Android in Chrome, a computer's browser.
const ALLOW_STEPS = {
  ios: {
    steps: [
      '画面の下（または上）のアドレス欄にある「ぁあ」を押します。',
      '「Webサイトの設定」を押します。',
      '「カメラ」と「マイク」を「許可」にします。',
      '下の「もう一度試す」を押します。',
    ],
    otherwise: '「ぁあ」が見つからないときは、ホーム画面の「設定」→「Safari」→「カメラ」と「マイク」を「許可」にしてから、「もう一度試す」を押します。',
  },
  android: {
    steps: [
      '画面の上のアドレスバーの左にある鍵のマーク（またはつまみのマーク）を押します。',
      '「権限」を押します。',
      '「カメラ」と「マイク」を「許可」にします。',
      '下の「もう一度試す」を押します。',
    ],
  },
  pc: {
    steps: [
      'アドレスバーにあるカメラのマーク（または左端の鍵のマーク）を押します。',
      '「カメラ」と「マイク」を「許可」にします。',
      '下の「もう一度試す」を押します。',
    ],
  },
};

/** What to tell a person whose camera or microphone could not start. */
function cameraHelp(reason) {
  if (reason === 'denied') {
    const { steps, otherwise } = ALLOW_STEPS[deviceKind()];
    return [
      h('p', {}, 'カメラとマイクの使用が許可されていません。次の手順で「許可」にしてください。'),
      h('ol', { class: 'allow-steps' }, steps.map((step) => h('li', {}, step))),
      otherwise ? h('p', {}, otherwise) : null,
    ];
  }
  const other = 'カメラとマイクを開始できませんでした。ページを開き直してお試しください。';
  return h('p', {}, {
    missing: 'カメラまたはマイクが見つかりません。カメラとマイクのある端末でこのURLを開いてください。',
    busy: 'カメラまたはマイクを他のアプリが使用中です。他のアプリを閉じてから「もう一度試す」を押してください。',
    unsupported: 'このブラウザではカメラを使えません。URLをコピーして、iPhone・iPadはSafari、AndroidはChromeで開いてください（アプリ内のブラウザでは使えないことがあります）。',
    insecure: 'このページでは安全な接続（https）でないとカメラを使えません。URLをご確認ください。',
  }[reason] ?? other);
}

/** The capability token of a `/call/{token}` or `/p/{token}` page. */
export const tokenFromPath = () => location.pathname.split('/').pop();
