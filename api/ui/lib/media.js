// The call's media through enkaku's relay: one peer connection and one signalling socket
// per page. The page sends its offer with every candidate, the relay answers, and the socket
// then brings the call's news. A dropped socket or connection comes back by itself.

/** How long to gather candidates before the offer goes anyway. */
const GATHERING_MS = 3000;
/** Wait before connecting again after a drop. */
const RETRY_MS = 2000;

/**
 * `path` is the signalling address (`/api/v1/media/…`), `stream` the page's own camera and
 * microphone (or null: then it only receives). `onRemote(stream)` hears the other side's
 * media; `onState(state)` hears `connecting`, `connected`, `started`, `reconnecting`,
 * `ended` and `refused`.
 */
export class MediaLink {
  constructor(path, stream, { onRemote, onState }) {
    this.path = path;
    this.stream = stream;
    this.onRemote = onRemote;
    this.onState = onState;
    this.stopped = false;
    this.pc = null;
    this.socket = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.socket?.close();
    this.pc?.close();
    this.socket = null;
    this.pc = null;
  }

  async connect() {
    if (this.stopped) return;
    this.onState('connecting');
    const pc = new RTCPeerConnection();
    this.pc = pc;
    for (const track of this.stream?.getTracks() ?? []) pc.addTrack(track, this.stream);
    // Receive what the page does not send (no camera, or nothing at all).
    for (const kind of ['audio', 'video']) {
      if (!pc.getTransceivers().some((t) => t.sender.track?.kind === kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    const remote = new MediaStream();
    pc.ontrack = (event) => {
      remote.addTrack(event.track);
      this.onRemote(remote);
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'connected') this.onState('connected');
      if (pc.connectionState === 'failed') this.retry();
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (pc !== this.pc) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}${this.path}`);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }));
    socket.onmessage = async (event) => {
      const message = JSON.parse(event.data);
      if (message.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
      else if (message.type === 'started') this.onState('started');
      else if (message.type === 'ended') {
        this.onState('ended');
        this.stop();
      } else if (message.type === 'refused') {
        this.onState('refused', message.code);
        this.stop();
      }
    };
    // Refused before the upgrade (the link closed meanwhile) or dropped: try again; a page
    // whose link has closed learns so from its own checks and stops.
    socket.onclose = () => {
      if (socket === this.socket) this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    this.onState('reconnecting');
    this.socket?.close();
    this.pc?.close();
    this.socket = null;
    this.pc = null;
    setTimeout(() => this.connect(), RETRY_MS);
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === 'complete') resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, GATHERING_MS);
  });
}
