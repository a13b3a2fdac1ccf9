// Stagecast camera preview SDK: probe an RTSP camera through the server, watch it over WebRTC, and manage the
// server's camera registry. Plain ES module, no dependencies beyond the other SDK modules.
//
//   const preview = new CameraPreview({ apiKey, askCredentials, onState });
//   await preview.start({ cameraId: 'c1' }, videoElement);   // or { ip, port, path, transport, username, password }
//   ...
//   await preview.stop();
//
// Cameras that answer AUTH_REQUIRED are never asked again without credentials: the SDK asks the application
// (askCredentials) and retries only with what it got, so a blind retry can never lock a camera.
import { callApi, defaultBaseUrl, HttpError } from './api-client.js';

export { HttpError };

/** An error raised in the browser (not answered by the server); `code` is stable like the server's codes. */
export class PreviewError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'PreviewError';
    this.code = code;
    this.status = 0;
  }
}

const ADDRESS_FIELDS = ['ip', 'port', 'path', 'transport'];
const ICE_GATHERING_LIMIT_MS = 2000;
const MIN_KEEPALIVE_MS = 250;
const FALLBACK_TTL_MS = 10000;

/**
 * The request fields naming a camera: {cameraId} for a registered camera (given as {cameraId} or as a registry
 * entry {id, ...}), otherwise its address. Credentials: those given by the user, else the camera's own, else none
 * (a registered camera then uses the ones stored with it).
 */
function cameraFields(camera, credentials) {
  if (!camera || typeof camera !== 'object') throw new TypeError('camera must be an object');
  const body = {};
  const id = camera.cameraId ?? camera.id;
  if (id !== undefined && id !== null && id !== '') {
    body.cameraId = id;
  } else {
    for (const k of ADDRESS_FIELDS) {
      if (camera[k] !== undefined && camera[k] !== null && camera[k] !== '') body[k] = camera[k];
    }
  }
  const creds = credentials || (camera.username ? { username: camera.username, password: camera.password ?? '' } : null);
  if (creds) {
    body.username = creds.username;
    body.password = creds.password;
  }
  return body;
}

const isAuthError = (e) => e instanceof HttpError && (e.code === 'AUTH_REQUIRED' || e.code === 'AUTH_FAILED');

/** Resolves once ICE gathering completes, or after `limitMs` (the server is ICE-lite: host candidates suffice). */
function iceGatheringComplete(pc, limitMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, limitMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Previews one camera at a time in a <video> element.
 *
 * States reported to onState(state, detail): 'probing', 'credentials' (detail: the AUTH_REQUIRED/AUTH_FAILED
 * error that made it ask), 'connecting', 'playing', 'error' (detail: an error with `code` and `message`),
 * 'stopped'.
 */
export class CameraPreview {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] server origin (default: the page's)
   * @param {string} options.apiKey sent as x-api-key
   * @param {(camera: object, error: Error) => Promise<{username: string, password: string} | null>} [options.askCredentials]
   *   asked when the camera wants credentials (error.code AUTH_REQUIRED) or refused the last ones (AUTH_FAILED);
   *   null cancels
   * @param {(state: string, detail?: any) => void} [options.onState]
   * @param {number} [options.maxAuthAttempts] how many times credentials are asked for, per probe or offer (3)
   * @param {boolean} [options.probe] probe the camera before the offer (true)
   * @param {number} [options.connectTimeoutMs] from the offer to the first video frame (20000)
   * @param {boolean} [options.stopOnPageHide] hang up when the page goes away (true)
   * @param {boolean} [options.stopWhenDetached] stop when the video element leaves the document (true)
   * @param {RTCConfiguration} [options.rtcConfiguration]
   */
  constructor({
    baseUrl = defaultBaseUrl(),
    apiKey,
    askCredentials = null,
    onState,
    maxAuthAttempts = 3,
    probe = true,
    connectTimeoutMs = 20000,
    stopOnPageHide = true,
    stopWhenDetached = true,
    rtcConfiguration = {},
  } = {}) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
    this.askCredentials = askCredentials;
    this.onState = onState || (() => {});
    this.maxAuthAttempts = maxAuthAttempts;
    this.probeFirst = probe;
    this.connectTimeoutMs = connectTimeoutMs;
    this.stopOnPageHide = stopOnPageHide;
    this.stopWhenDetached = stopWhenDetached;
    this.rtcConfiguration = rtcConfiguration;
    this.state = 'idle';
    /** The credentials the user gave that the camera accepted during the last probe or start, or null. */
    this.credentials = null;
    this.run = null; // the preview in progress: {camera, video, pc, stream, sessionId, ...}
    this.stopping = null;
  }

  /** The current preview's session id on the server, or null. */
  get sessionId() {
    return this.run ? this.run.sessionId : null;
  }

  /** The current preview's RTCPeerConnection, or null. */
  get peerConnection() {
    return this.run ? this.run.pc : null;
  }

  /** Seconds of the server's session TTL (learned from keepalive), or null before the first keepalive. */
  get ttlSeconds() {
    return this.run && this.run.ttlMs ? this.run.ttlMs / 1000 : null;
  }

  setState(state, detail) {
    this.state = state;
    try {
      this.onState(state, detail);
    } catch (_) { /* listener errors are not ours */ }
  }

  api(path, body, options) {
    return callApi(this.baseUrl, this.apiKey, 'POST', path, body, options);
  }

  /**
   * Probes the camera: resolves with {camera, streams, snapshot?, elapsedMs}. Asks for credentials as needed.
   * @param {object} camera {cameraId} or {ip, port?, path?, transport?, username?, password?}
   * @param {{snapshot?: boolean}} [options]
   */
  async probe(camera, { snapshot = true } = {}) {
    const attempt = { credentials: null };
    const { data } = await this.withCredentials(camera, attempt, (creds) =>
      this.api('/api/cameras/preview/probe', { ...cameraFields(camera, creds), snapshot }));
    this.credentials = attempt.credentials;
    return data;
  }

  /**
   * Runs `call(credentials)`; when the camera wants credentials or refused them, asks askCredentials and runs
   * again with exactly what it returned. Never calls again without credentials: a cancelled question (null, or
   * no username) ends with the camera's error. `attempt` holds the credentials in use; it is the preview run
   * (reporting states, ending when stopped) or a bare {credentials} for a lone probe.
   */
  async withCredentials(camera, attempt, call) {
    const tracked = Boolean(attempt.abort);
    let asked = 0;
    for (;;) {
      try {
        return await call(attempt.credentials);
      } catch (e) {
        if (attempt.stopped || !isAuthError(e) || !this.askCredentials || asked >= this.maxAuthAttempts) throw e;
        asked += 1;
        const phase = this.state;
        if (tracked) this.setState('credentials', e);
        const given = await this.untilStopped(attempt, Promise.resolve(this.askCredentials(camera, e)));
        if (!given || typeof given.username !== 'string' || given.username === '') throw e;
        attempt.credentials = { username: given.username, password: String(given.password ?? '') };
        if (tracked) this.setState(phase);
      }
    }
  }

  /** Resolves like `promise`, or rejects with STOPPED as soon as the preview `run` is stopped. */
  untilStopped(run, promise) {
    if (!run || !run.abort) return promise;
    if (run.stopped) {
      promise.catch(() => {});
      return Promise.reject(new PreviewError('STOPPED', 'the preview was stopped'));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new PreviewError('STOPPED', 'the preview was stopped'));
      run.abort.signal.addEventListener('abort', onAbort, { once: true });
      promise.then(resolve, reject).finally(() => run.abort.signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * Starts previewing `camera` in `video`; resolves with the session id once the first frame is shown. Rejects
   * with the error (also reported as state 'error'), or with code STOPPED when stop() was called meanwhile.
   * A preview already running is stopped first.
   */
  async start(camera, video) {
    if (!video) throw new TypeError('a video element is required');
    cameraFields(camera); // validates the argument before anything starts
    if (this.run) await this.stop();
    const run = {
      camera,
      video,
      credentials: null,
      pc: null,
      stream: null,
      sessionId: null,
      hungUp: false,
      stopped: false,
      abort: new AbortController(),
      keepaliveTimer: null,
      ttlMs: 0,
      expiresAt: 0,
      listeners: [],
    };
    this.run = run;
    this.stopping = null;
    this.credentials = null;
    this.watchPage(run);
    try {
      if (this.probeFirst) {
        this.setState('probing');
        await this.withCredentials(camera, run, (creds) =>
          this.untilStopped(run, this.api('/api/cameras/preview/probe', { ...cameraFields(camera, creds), snapshot: false })));
      }
      this.setState('connecting');
      const pc = new RTCPeerConnection(this.rtcConfiguration);
      run.pc = pc;
      run.stream = new MediaStream();
      pc.addEventListener('track', (e) => run.stream.addTrack(e.track));
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      // Non-trickle: the offer goes out with its candidates.
      await this.untilStopped(run, iceGatheringComplete(pc, ICE_GATHERING_LIMIT_MS));
      const offer = await this.withCredentials(camera, run, async (creds) => {
        const answer = await this.api('/api/cameras/preview/webrtc/offer', {
          ...cameraFields(camera, creds),
          sdp: pc.localDescription.sdp,
          type: 'offer',
        });
        // Known even if stop() came meanwhile, so that the session is hung up rather than left to its TTL.
        run.sessionId = answer.data.sessionId;
        return answer;
      });
      if (run.stopped) throw new PreviewError('STOPPED', 'the preview was stopped');
      await pc.setRemoteDescription({ type: 'answer', sdp: offer.data.sdp });
      if (run.credentials) this.credentials = run.credentials;
      this.keepAlive(run);
      this.watchConnection(run);
      video.playsInline = true;
      video.srcObject = run.stream;
      const playing = video.play();
      if (playing && playing.catch) playing.catch(() => { /* autoplay may wait for a gesture; frames still arrive */ });
      await this.untilStopped(run, this.firstFrame(run));
      if (run.stopped) throw new PreviewError('STOPPED', 'the preview was stopped');
      this.setState('playing');
      return run.sessionId;
    } catch (e) {
      if (run.stopped) {
        // stop() already reported 'stopped' and released everything known then; release what came later.
        await this.cleanup(run);
        throw e instanceof PreviewError && e.code === 'STOPPED' ? e : new PreviewError('STOPPED', 'the preview was stopped');
      }
      await this.fail(run, e);
      throw e;
    }
  }

  /** Resolves when the video element presents its first frame; rejects if the connection fails or times out. */
  firstFrame(run) {
    const { video, pc } = run;
    if (run.stopped || !pc) return Promise.reject(new PreviewError('STOPPED', 'the preview was stopped'));
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        pc.removeEventListener('connectionstatechange', onConnection);
        video.removeEventListener('loadeddata', onData);
        run.abort.signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onConnection = () => {
        if (pc.connectionState === 'failed') {
          finish(new PreviewError('CONNECTION_FAILED', 'the WebRTC connection to the server failed'));
        }
      };
      const onAbort = () => finish(new PreviewError('STOPPED', 'the preview was stopped'));
      const onData = () => {
        if (typeof video.requestVideoFrameCallback !== 'function') finish();
      };
      const timer = setTimeout(
        () => finish(new PreviewError('CONNECT_TIMEOUT', `no video within ${Math.round(this.connectTimeoutMs / 1000)} s`)),
        this.connectTimeoutMs);
      pc.addEventListener('connectionstatechange', onConnection);
      run.abort.signal.addEventListener('abort', onAbort);
      if (typeof video.requestVideoFrameCallback === 'function') {
        video.requestVideoFrameCallback(() => finish());
      } else {
        video.addEventListener('loadeddata', onData);
        if (video.readyState >= 2) finish();
      }
    });
  }

  // After the first frame: a connection that fails later ends the preview with an error.
  watchConnection(run) {
    const onChange = () => {
      if (run.pc && run.pc.connectionState === 'failed') {
        this.fail(run, new PreviewError('CONNECTION_FAILED', 'the WebRTC connection to the server failed'));
      }
    };
    run.pc.addEventListener('connectionstatechange', onChange);
  }

  // Extends the session before its TTL runs out: the first keepalive right away tells the TTL, then every half TTL.
  keepAlive(run) {
    const tick = async () => {
      run.keepaliveTimer = null;
      if (run.stopped) return;
      let next;
      try {
        const { data } = await this.api('/api/cameras/preview/webrtc/keepalive', { sessionId: run.sessionId });
        run.ttlMs = Math.max(0, Number(data.expiresIn) || 0) * 1000 || FALLBACK_TTL_MS;
        run.expiresAt = Date.now() + run.ttlMs;
        next = Math.max(MIN_KEEPALIVE_MS, run.ttlMs / 2);
      } catch (e) {
        if (run.stopped) return;
        if (e instanceof HttpError && (e.code === 'SESSION_NOT_FOUND' || e.status === 401)) {
          const err = e.code === 'SESSION_NOT_FOUND' ? new PreviewError('SESSION_ENDED', 'the server ended the preview') : e;
          this.fail(run, err);
          return;
        }
        // A transient failure: try again soon, while the session still lives.
        const left = (run.expiresAt || Date.now() + FALLBACK_TTL_MS) - Date.now();
        next = Math.min(2000, Math.max(MIN_KEEPALIVE_MS, left / 4));
      }
      if (!run.stopped) run.keepaliveTimer = setTimeout(tick, next);
    };
    tick();
  }

  // Hang up when the page goes away, and when the video element is removed from the document.
  watchPage(run) {
    if (this.stopOnPageHide && typeof window !== 'undefined') {
      const onPageHide = () => {
        if (this.run === run) this.stop();
      };
      window.addEventListener('pagehide', onPageHide);
      run.listeners.push(() => window.removeEventListener('pagehide', onPageHide));
    }
    if (this.stopWhenDetached && typeof MutationObserver !== 'undefined' && run.video.isConnected) {
      const observer = new MutationObserver(() => {
        if (!run.video.isConnected && this.run === run) this.stop();
      });
      observer.observe(run.video.ownerDocument, { childList: true, subtree: true });
      run.listeners.push(() => observer.disconnect());
    }
  }

  // Releases what `run` holds; safe to call again (each resource is released once). The hangup goes out first
  // and the peer connection closes once it is answered, so the server ends the session as hung up rather than
  // as a peer that went away.
  async cleanup(run) {
    if (run.keepaliveTimer !== null) clearTimeout(run.keepaliveTimer);
    run.keepaliveTimer = null;
    for (const remove of run.listeners.splice(0)) remove();
    if (run.video && run.stream && run.video.srcObject === run.stream) run.video.srcObject = null;
    const pc = run.pc;
    run.pc = null;
    try {
      if (run.sessionId && !run.hungUp) {
        run.hungUp = true;
        // keepalive: the hangup is delivered even when it was sent from pagehide.
        await this.api('/api/cameras/preview/webrtc/hangup', { sessionId: run.sessionId }, { keepalive: true });
      }
    } catch (_) {
      /* SESSION_NOT_FOUND: the server ended it already; a network failure: the TTL will end it */
    } finally {
      if (pc) pc.close();
    }
  }

  async fail(run, error) {
    if (run.stopped) return;
    run.stopped = true;
    run.abort.abort();
    if (this.run === run) this.run = null;
    await this.cleanup(run);
    this.setState('error', error);
  }

  /**
   * Ends the preview: hangs up the session, closes the peer connection, stops the timers. Idempotent: calls
   * while a stop is in progress share it, calls after it (or before any start) do nothing.
   */
  stop() {
    const run = this.run;
    if (!run) return this.stopping || Promise.resolve();
    this.run = null;
    run.stopped = true;
    run.abort.abort();
    this.setState('stopped');
    this.stopping = this.cleanup(run);
    return this.stopping;
  }
}

/** The server's camera registry (/api/cameras). Credentials go in, never come back (hasCredentials tells). */
export class CameraRegistry {
  constructor({ baseUrl = defaultBaseUrl(), apiKey } = {}) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
  }

  call(method, path, body) {
    return callApi(this.baseUrl, this.apiKey, method, path, body);
  }

  /** @returns {Promise<object[]>} [{id, name, ip, port, path, transport, hasCredentials, createdAt, whepUrl}] */
  async list() {
    return (await this.call('GET', '/api/cameras')).data;
  }

  async get(id) {
    return (await this.call('GET', `/api/cameras/${encodeURIComponent(id)}`)).data;
  }

  /** @param {{name, ip, port?, path?, username?, password?, transport?}} camera */
  async add(camera) {
    return (await this.call('POST', '/api/cameras', camera)).data;
  }

  /** @param {object} changes e.g. {username, password}; resolves with the updated camera */
  async update(id, changes) {
    return (await this.call('PATCH', `/api/cameras/${encodeURIComponent(id)}`, changes)).data;
  }

  async remove(id) {
    await this.call('DELETE', `/api/cameras/${encodeURIComponent(id)}`);
  }
}
