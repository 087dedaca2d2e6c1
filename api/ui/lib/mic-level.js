// A microphone level meter for the pre-call check: the person sees their voice move it, so
// they know the microphone works before the doctor starts.

/** How often the meter is redrawn. */
const TICK_MS = 100;
/** How much of the last level stays on each tick, so a short sound is seen. */
const DECAY = 0.8;
/** Speech is quiet next to full scale: this brings a normal voice to mid-meter. */
const GAIN = 4;

export class MicLevel {
  /**
   * `meter` is a `<meter min=0 max=1>`; `hint` tells a person whose browser keeps audio
   * off until they tap (iOS Safari) to tap.
   */
  constructor(meter, hint) {
    this.meter = meter;
    this.hint = hint;
    this.context = null;
    this.timer = null;
  }

  /** Follow the microphone of `stream`; a stream without one leaves the meter at zero. */
  start(stream) {
    this.stop();
    const AudioContext = window.AudioContext ?? window.webkitAudioContext;
    if (!AudioContext || !stream?.getAudioTracks().length) return;
    const context = new AudioContext();
    this.context = context;
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let level = 0;
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      const loudness = Math.min(1, Math.sqrt(sum / samples.length) * GAIN);
      level = Math.max(loudness, level * DECAY);
      this.meter.value = level;
    }, TICK_MS);
    const showHint = () => {
      this.hint.hidden = context.state !== 'suspended';
    };
    context.addEventListener('statechange', showHint);
    showHint();
    if (context.state === 'suspended') {
      document.addEventListener('pointerdown', () => context.resume().catch(() => {}), { once: true });
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.context?.close().catch(() => {});
    this.context = null;
    this.meter.value = 0;
    this.hint.hidden = true;
  }
}
