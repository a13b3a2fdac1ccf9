// Stagecast channel SDK: viewers join a channel (token, WHEP playback, heartbeats, visibility handling) and
// broadcasters publish once per channel (WHIP) while following live viewer counts over the WebSocket.
// Plain ES module; builds on the WHIP/WHEP sessions of ./whip-whep.js.
import { WhipClient, WhepClient } from './whip-whep.js';
import { callApi, defaultBaseUrl, HttpError } from './api-client.js';

const TOKEN_MARGIN_MS = 5000;

/**
 * Watches a channel. States reported to onState: 'joining', 'watching', 'hidden-disconnected', 'left', 'error'.
 */
export class StreamViewer {
  constructor({
    baseUrl = defaultBaseUrl(),
    apiKey,
    userId,
    channelId,
    video,
    heartbeatIntervalMs = 30000,
    hiddenDisconnectMs = 30000,
    onState,
    storage = typeof sessionStorage !== 'undefined' ? sessionStorage : null,
  } = {}) {
    if (!userId) throw new Error('userId is required');
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
    this.userId = userId;
    this.channelId = channelId || '';
    this.video = video || null;
    this.heartbeatIntervalMs = heartbeatIntervalMs;
    this.hiddenDisconnectMs = hiddenDisconnectMs;
    this.onState = onState || (() => {});
    this.storage = storage;
    this.state = 'idle';
    this.session = null; // {token, participantId, stageArn, stageId, channelId, whepUrl, expiresAt}
    this.whep = null;
    this.stream = null;
    this.heartbeatTimer = null;
    this.hiddenTimer = null;
    this.queue = Promise.resolve();
    this.visibilityHandler = null;
  }

  get storageKey() {
    return `stagecast:viewer:${this.userId}:${this.channelId}`;
  }

  /** The RTCPeerConnection of the current WHEP session, or null. */
  get peerConnection() {
    return this.whep ? this.whep.pc : null;
  }

  /** Joins the channel and starts playback; resolves once the WHEP answer is applied. */
  join() {
    this.watchVisibility();
    return this.serialize(() => this.doJoin());
  }

  /** Stops playback and leaves the channel (the stored token is kept for a later rejoin). */
  leave() {
    this.unwatchVisibility();
    return this.serialize(() => this.disconnect('left'));
  }

  // Runs operations one at a time so visibility changes, heartbeat failures and API calls never interleave.
  serialize(fn) {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  setState(state, detail) {
    this.state = state;
    try {
      this.onState(state, detail);
    } catch (_) { /* listener errors are not ours */ }
  }

  async doJoin() {
    if (this.state === 'watching') return;
    this.setState('joining');
    try {
      await this.ensureSession();
      try {
        await this.connectMedia();
      } catch (e) {
        // An expired or revoked token: start over with a fresh one, once.
        if (!(e instanceof HttpError) || (e.status !== 401 && e.status !== 403)) throw e;
        this.forgetSession();
        await this.ensureSession();
        await this.connectMedia();
      }
      this.startHeartbeat();
      this.setState('watching');
    } catch (e) {
      await this.stopMedia();
      this.setState('error', e);
      throw e;
    }
  }

  // Reuses a stored, unexpired token through /api/viewer/rejoin, otherwise asks for a new viewer token.
  async ensureSession() {
    const stored = this.session || this.loadSession();
    if (stored && Date.parse(stored.expiresAt) - Date.now() > TOKEN_MARGIN_MS) {
      try {
        await callApi(this.baseUrl, this.apiKey, 'POST', '/api/viewer/rejoin', {
          userId: this.userId,
          stageArn: stored.stageArn,
          participantId: stored.participantId,
        });
        this.session = stored;
        return;
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        // STAGE_NOT_FOUND, STAGE_FULL, VIEWER_IN_OTHER_STAGE or anything else the server refuses: fall through
        // to a new token.
      }
    }
    this.forgetSession();
    const body = { userId: this.userId };
    if (this.channelId) body.channelId = this.channelId;
    const { data } = await callApi(this.baseUrl, this.apiKey, 'POST', '/api/token/viewer', body);
    this.session = {
      token: data.token,
      participantId: data.participantId,
      stageArn: data.stageArn,
      stageId: data.stageId,
      channelId: data.channelId,
      whepUrl: data.whepUrl,
      expiresAt: data.expiresAt,
    };
    this.saveSession();
  }

  loadSession() {
    if (!this.storage) return null;
    try {
      const s = JSON.parse(this.storage.getItem(this.storageKey) || 'null');
      return s && s.token && s.stageArn && s.participantId && s.whepUrl ? s : null;
    } catch (_) {
      return null;
    }
  }

  saveSession() {
    if (this.storage && this.session) this.storage.setItem(this.storageKey, JSON.stringify(this.session));
  }

  forgetSession() {
    this.session = null;
    if (this.storage) this.storage.removeItem(this.storageKey);
  }

  async connectMedia() {
    const whep = new WhepClient(new URL(this.session.whepUrl, this.baseUrl).toString(), { token: this.session.token });
    this.whep = whep;
    try {
      this.stream = await whep.play();
    } catch (e) {
      this.whep = null;
      if (whep.pc) whep.pc.close();
      throw e;
    }
    if (this.video) {
      this.video.srcObject = this.stream;
      const playing = this.video.play();
      if (playing && playing.catch) playing.catch(() => { /* autoplay may wait for a gesture */ });
    }
  }

  async stopMedia() {
    const whep = this.whep;
    this.whep = null;
    this.stream = null;
    if (this.video) this.video.srcObject = null;
    if (whep) {
      try {
        await whep.stop();
      } catch (_) { /* the server may have ended it already */ }
    }
  }

  // Ends playback and the viewer's membership; `state` is 'left' or 'hidden-disconnected'.
  async disconnect(state) {
    this.stopHeartbeat();
    const wasConnected = this.whep !== null || this.state === 'watching';
    await this.stopMedia();
    if (wasConnected && this.session) {
      try {
        await callApi(this.baseUrl, this.apiKey, 'POST', '/api/viewer/leave', {
          userId: this.userId,
          stageArn: this.session.stageArn,
        });
      } catch (_) { /* already gone */ }
    }
    this.setState(state);
  }

  startHeartbeat() {
    this.stopHeartbeat();
    const tick = async () => {
      if (this.state !== 'watching' || !this.session) return;
      try {
        await callApi(this.baseUrl, this.apiKey, 'POST', '/api/viewer/heartbeat', {
          userId: this.userId,
          stageArn: this.session.stageArn,
        });
      } catch (e) {
        if (e instanceof HttpError && e.code === 'VIEWER_NOT_FOUND') {
          // The server dropped us (and our WHEP session): reconnect through rejoin.
          this.serialize(async () => {
            if (this.state !== 'watching') return;
            this.stopHeartbeat();
            await this.stopMedia();
            this.state = 'rejoining';
            await this.doJoin();
          }).catch(() => {});
          return;
        }
        // Transient failure: keep trying on schedule.
      }
      if (this.heartbeatTimer !== null) this.heartbeatTimer = setTimeout(tick, this.heartbeatIntervalMs);
    };
    this.heartbeatTimer = setTimeout(tick, this.heartbeatIntervalMs);
  }

  stopHeartbeat() {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  watchVisibility() {
    if (this.visibilityHandler || typeof document === 'undefined') return;
    this.visibilityHandler = () => {
      if (document.visibilityState === 'hidden') {
        if (this.hiddenTimer === null) {
          this.hiddenTimer = setTimeout(() => {
            this.hiddenTimer = null;
            this.serialize(async () => {
              if (this.state === 'watching' || this.state === 'joining') await this.disconnect('hidden-disconnected');
            }).catch(() => {});
          }, this.hiddenDisconnectMs);
        }
      } else {
        if (this.hiddenTimer !== null) clearTimeout(this.hiddenTimer);
        this.hiddenTimer = null;
        this.serialize(async () => {
          if (this.state === 'hidden-disconnected') await this.doJoin();
        }).catch(() => {});
      }
    };
    document.addEventListener('visibilitychange', this.visibilityHandler);
  }

  unwatchVisibility() {
    if (this.visibilityHandler) document.removeEventListener('visibilitychange', this.visibilityHandler);
    this.visibilityHandler = null;
    if (this.hiddenTimer !== null) clearTimeout(this.hiddenTimer);
    this.hiddenTimer = null;
  }
}

/**
 * Publishes one stream to a channel; the server relays it into every stage of the channel. onStages receives
 * {channelId, stages: [{stageArn, stageId, viewerCount}], total} whenever the channel's stages or counts change.
 */
export class Broadcaster {
  constructor({ baseUrl = defaultBaseUrl(), apiKey, channelId, onStages, videoCodec, reconnectMs = 1000 } = {}) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
    this.channelId = channelId || '';
    this.onStages = onStages || (() => {});
    this.videoCodec = videoCodec;
    this.reconnectMs = reconnectMs;
    this.whip = null;
    this.pc = null;
    this.stream = null;
    this.ownStream = false;
    this.ws = null;
    this.wsTimer = null;
    this.lastSeq = null;
    this.stages = [];
    this.total = 0;
    this.live = false;
  }

  /** Publishes `stream` (or the camera and microphone); resolves with the RTCPeerConnection. */
  async start(stream) {
    if (this.whip) throw new Error('already publishing');
    this.ownStream = !stream;
    this.stream = stream || (await navigator.mediaDevices.getUserMedia({ video: true, audio: true }));
    try {
      const query = this.channelId ? `?channelId=${encodeURIComponent(this.channelId)}` : '';
      const { data } = await callApi(this.baseUrl, this.apiKey, 'GET', `/api/broadcaster/stages${query}`);
      this.channelId = data.channelId;
      this.applyStages(data.stages);
      this.whip = new WhipClient(new URL(data.whipUrl, this.baseUrl).toString(), { token: data.channelToken });
      this.pc = await this.whip.publish(this.stream, { videoCodec: this.videoCodec });
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.live = true;
    this.openSocket();
    return this.pc;
  }

  /** Ends the WHIP session and stops following the channel. */
  async stop() {
    this.live = false;
    this.closeSocket();
    const whip = this.whip;
    this.whip = null;
    this.pc = null;
    if (this.ownStream && this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    if (whip) await whip.stop();
  }

  applyStages(stages) {
    this.stages = (stages || []).map((s) => ({ stageArn: s.stageArn, stageId: s.stageId, viewerCount: s.viewerCount || 0 }));
    this.total = this.stages.reduce((n, s) => n + s.viewerCount, 0);
    this.emit();
  }

  emit() {
    try {
      this.onStages({ channelId: this.channelId, stages: this.stages.map((s) => ({ ...s })), total: this.total });
    } catch (_) { /* listener errors are not ours */ }
  }

  async refresh() {
    const { data } = await callApi(this.baseUrl, this.apiKey, 'GET', `/api/channels/${encodeURIComponent(this.channelId)}`);
    if (this.live) this.applyStages(data.stages);
  }

  openSocket() {
    const url = new URL('/ws', this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('type', 'broadcaster');
    url.searchParams.set('apiKey', this.apiKey);
    if (this.lastSeq !== null) url.searchParams.set('since', String(this.lastSeq));
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onmessage = (ev) => this.onNotice(ev.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.live) this.wsTimer = setTimeout(() => { this.wsTimer = null; if (this.live) this.openSocket(); }, this.reconnectMs);
    };
  }

  closeSocket() {
    if (this.wsTimer !== null) clearTimeout(this.wsTimer);
    this.wsTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
  }

  onNotice(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (_) {
      return;
    }
    if (typeof msg.seq === 'number') this.lastSeq = msg.seq;
    if (msg.type === 'hello') {
      // Counts may have changed while the socket was down.
      this.refresh().catch(() => {});
      return;
    }
    if (msg.channelId !== this.channelId) return;
    if (msg.type === 'stage_created' || msg.type === 'stage_deleted') {
      this.refresh().catch(() => {});
    } else if (msg.type === 'viewer_count') {
      const counts = new Map((msg.stages || []).map((s) => [s.stageArn, s.viewerCount]));
      let unknown = false;
      for (const arn of counts.keys()) if (!this.stages.some((s) => s.stageArn === arn)) unknown = true;
      for (const s of this.stages) if (counts.has(s.stageArn)) s.viewerCount = counts.get(s.stageArn);
      this.total = typeof msg.total === 'number' ? msg.total : this.stages.reduce((n, s) => n + s.viewerCount, 0);
      this.emit();
      if (unknown) this.refresh().catch(() => {});
    }
  }
}
