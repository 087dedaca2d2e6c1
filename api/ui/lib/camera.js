// The local camera and microphone: a preview, and help in plain Japanese when they cannot
// be used.

import { h } from './dom.js';

/** Start the camera and microphone into `video`; resolves the stream or rejects with a reason. */
export async function startCamera(video) {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    throw new CameraError('insecure');
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    video.srcObject = stream;
    video.muted = true; // never play one's own microphone back
    await video.play().catch(() => {});
    return stream;
  } catch (error) {
    const reason = {
      NotAllowedError: 'denied', SecurityError: 'denied', NotFoundError: 'missing',
      OverconstrainedError: 'missing', NotReadableError: 'busy',
    }[error.name] ?? 'other';
    throw new CameraError(reason);
  }
}

export function stopCamera(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

export class CameraError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}

/** What to tell a person whose camera or microphone could not start. */
export function cameraHelp(reason) {
  const steps = {
    denied: [
      h('p', {}, 'カメラとマイクの使用が許可されていません。次の手順で許可してから、「もう一度試す」を押してください。'),
      h('ul', {},
        h('li', {}, 'iPhone・iPad(Safari): 画面下部または上部の「ぁあ」→「Webサイトの設定」→ カメラ・マイクを「許可」'),
        h('li', {}, 'Android(Chrome): アドレスバーの鍵のマーク →「権限」→ カメラ・マイクを「許可」'),
        h('li', {}, 'パソコン(Chrome・Edge・Safari): アドレスバー左のマーク → カメラ・マイクを「許可」')),
    ],
    missing: [h('p', {}, 'カメラまたはマイクが見つかりません。カメラとマイクのある端末でこのURLを開いてください。')],
    busy: [h('p', {}, 'カメラまたはマイクを他のアプリが使用中です。他のアプリを閉じてから「もう一度試す」を押してください。')],
    insecure: [h('p', {}, 'このページでは安全な接続(https)でないとカメラを使えません。URLをご確認ください。')],
    other: [h('p', {}, 'カメラとマイクを開始できませんでした。ページを開き直してお試しください。')],
  };
  return steps[reason] ?? steps.other;
}
