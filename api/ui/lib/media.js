// The call's media through enkaku's relay: one peer connection and one signalling socket
// per page. The server greets with the ICE servers to use; the page offers at once and
// trickles its candidates, the relay answers and trickles its own. When the network changes
// the page restarts ICE on the same connection and socket; only if that brings nothing back
// (or the socket drops) does it connect afresh. Another page of the same role taking over
// stops this one for good.

/** Wait before connecting afresh after a drop. */
const RETRY_MS = 2000;
/** How long a connection may stay `disconnected` before ICE restarts: a blip heals alone. */
const DISCONNECTED_MS = 3000;
/** How long an ICE restart has to bring the connection back before the page connects afresh. */
const RESTART_MS = 10000;

/**
 * `path` is the signalling address (`/api/v1/media/…`), `stream` the page's own camera and
 * microphone (or null: then it only receives). `onRemote(stream)` hears the other side's
 * media; `onState(state, code)` hears `connecting`, `connected`, `started`, `reconnecting`,
 * `ended`, `refused` (with the error code) and `replaced` (another tab or device of the same
 * role took over: this page has stopped and does not come back by itself).
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
    this.disconnectedTimer = null;
    this.restartTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.close();
  }

  close() {
    clearTimeout(this.disconnectedTimer);
    clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.socket?.close();
    this.pc?.close();
    this.socket = null;
    this.pc = null;
  }

  connect() {
    if (this.stopped) return;
    this.onState('connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}${this.path}`);
    this.socket = socket;
    // One message after another: a candidate must not overtake the answer it belongs to.
    let handled = Promise.resolve();
    socket.onmessage = (event) => {
      handled = handled
        .then(() => this.handle(socket, JSON.parse(event.data)))
        .catch(() => {}); // an unusable candidate costs one path, not the call
    };
    // Refused before the upgrade (the link closed meanwhile) or dropped: try again; a page
    // whose link has closed learns so from its own checks and stops.
    socket.onclose = () => {
      if (socket === this.socket) this.retry();
    };
  }

  async handle(socket, message) {
    if (socket !== this.socket) return;
    switch (message.type) {
      case 'hello':
        await this.offer(message.ice_servers);
        break;
      case 'answer':
        await this.pc?.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        break;
      case 'candidate':
        // `null` is the relay's last: the browser takes `undefined` as the end of candidates.
        await this.pc?.addIceCandidate(message.candidate ?? undefined);
        break;
      case 'started':
        this.onState('started');
        break;
      case 'ended':
      case 'replaced':
        this.onState(message.type);
        this.stop();
        break;
      case 'refused':
        this.onState('refused', message.code);
        this.stop();
        break;
    }
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  async offer(iceServers) {
    const pc = new RTCPeerConnection({ iceServers });
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
    pc.onicecandidate = (event) => {
      if (pc === this.pc) this.send({ type: 'candidate', candidate: event.candidate?.toJSON() ?? null });
    };
    pc.onconnectionstatechange = () => this.watch(pc);
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: 'offer', sdp: pc.localDescription.sdp });
  }

  watch(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this.disconnectedTimer);
    const state = pc.connectionState;
    if (state === 'connected') {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
      this.onState('connected');
    } else if (state === 'disconnected') {
      this.disconnectedTimer = setTimeout(() => this.restart(pc), DISCONNECTED_MS);
    } else if (state === 'failed') {
      this.restart(pc);
    }
  }

  /** The network changed under the connection: new candidates on both sides, same call. */
  async restart(pc) {
    if (pc !== this.pc || this.restartTimer) return; // one restart at a time
    this.onState('reconnecting');
    this.restartTimer = setTimeout(() => {
      if (pc === this.pc) this.retry();
    }, RESTART_MS);
    pc.restartIce();
    try {
      await pc.setLocalDescription(await pc.createOffer());
    } catch {
      if (pc === this.pc) this.retry();
      return;
    }
    if (pc === this.pc) this.send({ type: 'offer', sdp: pc.localDescription.sdp });
  }

  retry() {
    if (this.stopped) return;
    this.onState('reconnecting');
    this.close();
    setTimeout(() => this.connect(), RETRY_MS);
  }
}
