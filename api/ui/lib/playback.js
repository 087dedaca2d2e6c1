// Playing the other side of the call. Browsers may refuse to start sound before the person
// has touched the page (iOS Safari always does; others after a reload): then the picture
// plays without sound and a button turns the sound on with the person's tap.

import { h } from './dom.js';

/**
 * A `<video>` for the other side's media, with its 「音声をオンにする」 button (hidden until
 * needed). `playsinline` keeps iOS from taking the video full screen.
 */
export function remoteVideo(attributes) {
  const video = h('video', { ...attributes, autoplay: true, playsinline: true });
  const unmute = h('button', { type: 'button', class: 'primary unmute', hidden: true }, '音声をオンにする');
  unmute.addEventListener('click', () => {
    video.muted = false;
    unmute.hidden = true;
    video.play().catch(() => muteForNow(video, unmute));
  });
  return { video, unmute };
}

/** Show `stream` in `video`, with sound when the browser allows it. */
export function playRemote({ video, unmute }, stream) {
  if (video.srcObject !== stream) video.srcObject = stream;
  video.play().catch((error) => {
    if (error.name === 'NotAllowedError' && !video.muted) muteForNow(video, unmute);
  });
}

function muteForNow(video, unmute) {
  video.muted = true;
  unmute.hidden = false;
  video.play().catch(() => {});
}
