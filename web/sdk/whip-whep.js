// Stagecast browser SDK: WHIP publishing (RFC 9725) and WHEP playback.
// Plain ES module, no dependencies. Works against any WHIP/WHEP server.

/** Parses RFC 8288 Link headers with rel="ice-server" (RFC 9725 §4.6) into RTCIceServer objects. */
export function parseIceServerLinks(headerValue) {
  if (!headerValue) return [];
  const servers = [];
  for (const part of headerValue.split(/,(?=\s*<)/)) {
    const m = part.match(/<([^>]+)>(.*)/);
    if (!m) continue;
    const params = {};
    for (const p of m[2].split(';')) {
      const kv = p.trim().match(/^([a-zA-Z-]+)\s*=\s*"?([^"]*)"?$/);
      if (kv) params[kv[1].toLowerCase()] = kv[2];
    }
    if (params.rel !== 'ice-server') continue;
    const server = { urls: m[1] };
    if (params.username) server.username = params.username;
    if (params.credential) server.credential = params.credential;
    servers.push(server);
  }
  return servers;
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function errorFrom(response) {
  let code = 'HTTP_' + response.status;
  let message = response.statusText;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) { /* not JSON */ }
  return new HttpError(response.status, code, message);
}

function preferCodec(transceiver, mimeType) {
  if (!mimeType || !RTCRtpSender.getCapabilities) return;
  const kind = transceiver.receiver.track.kind;
  const caps = RTCRtpSender.getCapabilities(kind);
  if (!caps) return;
  const wanted = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mimeType.toLowerCase());
  if (!wanted.length) throw new Error(`this browser cannot send ${mimeType}`);
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== mimeType.toLowerCase());
  transceiver.setCodecPreferences([...wanted, ...rest]);
}

/** One WHIP or WHEP session: POST the offer, apply the answer, trickle candidates, DELETE at the end. */
class Session {
  constructor(endpoint, { token, iceServers } = {}) {
    this.endpoint = endpoint;
    this.token = token;
    this.iceServers = iceServers || [];
    this.pc = null;
    this.resource = null;
    this.etag = null;
    this.pendingCandidates = [];
  }

  headers(contentType) {
    const h = { 'Content-Type': contentType };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async negotiate() {
    const pc = this.pc;
    pc.addEventListener('icecandidate', (e) => this.trickle(e.candidate));
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: this.headers('application/sdp'),
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) throw await errorFrom(response);
    this.resource = new URL(response.headers.get('Location'), this.endpoint).toString();
    this.etag = response.headers.get('ETag');
    const servers = parseIceServerLinks(response.headers.get('Link'));
    if (servers.length) pc.setConfiguration({ ...pc.getConfiguration(), iceServers: servers });
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    const queued = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of queued) this.trickle(c);
  }

  // RFC 9725 §4.3.1: candidates as an SDP fragment in a PATCH.
  async trickle(candidate) {
    if (!this.resource) {
      if (candidate) this.pendingCandidates.push(candidate);
      return;
    }
    if (!candidate || !candidate.candidate) return;
    const mid = candidate.sdpMid ?? '0';
    const [ufrag, pwd] = this.localIce();
    const frag = `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\nm=audio 9 RTP/AVP 0\r\na=mid:${mid}\r\na=${candidate.candidate}\r\n`;
    const h = this.headers('application/trickle-ice-sdpfrag');
    if (this.etag) h['If-Match'] = this.etag;
    try {
      await fetch(this.resource, { method: 'PATCH', headers: h, body: frag });
    } catch (_) { /* trickling is best effort */ }
  }

  localIce() {
    const sdp = this.pc.localDescription ? this.pc.localDescription.sdp : '';
    const ufrag = (sdp.match(/a=ice-ufrag:(.*)/) || [])[1] || '';
    const pwd = (sdp.match(/a=ice-pwd:(.*)/) || [])[1] || '';
    return [ufrag.trim(), pwd.trim()];
  }

  /** Ends the session on the server and locally. */
  async stop() {
    const resource = this.resource;
    this.resource = null;
    if (this.pc) this.pc.close();
    this.pc = null;
    if (resource) {
      const response = await fetch(resource, { method: 'DELETE', headers: this.token ? { Authorization: `Bearer ${this.token}` } : {} });
      if (!response.ok && response.status !== 404) throw await errorFrom(response);
    }
  }
}

/** Publishes a MediaStream with WHIP. */
export class WhipClient extends Session {
  /**
   * @param {MediaStream} stream camera/microphone
   * @param {{videoCodec?: string}} options videoCodec e.g. 'video/VP8' or 'video/H264'
   */
  async publish(stream, { videoCodec } = {}) {
    this.pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    for (const track of stream.getTracks()) {
      const t = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video') preferCodec(t, videoCodec);
    }
    await this.negotiate();
    return this.pc;
  }
}

/** Plays a stage with WHEP. */
export class WhepClient extends Session {
  /** @returns {Promise<MediaStream>} resolves once the answer is applied; tracks start when media flows */
  async play({ audio = true, video = true } = {}) {
    this.pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    const stream = new MediaStream();
    this.pc.addEventListener('track', (e) => stream.addTrack(e.track));
    if (audio) this.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (video) this.pc.addTransceiver('video', { direction: 'recvonly' });
    await this.negotiate();
    return stream;
  }
}

export { HttpError };
