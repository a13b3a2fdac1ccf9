// Camera preview in headless Chromium against a real RTSP camera (GStreamer's RTSP server, started here):
// probe → offer → first decoded frame → hangup; two previews of one camera share one pull; a page that closes its
// peer connection ends its preview as a hangup.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, waitFor, API_KEY } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let server;
let browser;
let camera;
let cameraPort;

/** Starts the fixture camera; resolves with its port once it prints READY. */
function startCamera(args) {
  const python = process.env.STAGECAST_FIXTURE_PYTHON || '/usr/bin/python3';
  const child = spawn(python, [join(here, '../fixtures/rtsp_camera.py'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`camera did not start:\n${err}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = out.match(/READY rtsp:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`camera exited with ${code}:\n${err}`));
    });
  });
}

before(async () => {
  ({ child: camera, port: cameraPort } = await startCamera(['--port', '0', '--path', '/cam', '--audio', 'pcma', '--width', '640',
    '--height', '360', '--gop-seconds', '2']));
  server = await startServer(['--workers', '2']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  const code = await server?.stop();
  camera?.kill('SIGTERM');
  assert.equal(code, 0, 'server exits cleanly');
});

/** In the page: probe, offer, play; returns timings and the session id. */
async function preview(page, baseUrl) {
  return page.evaluate(async ({ baseUrl, apiKey, port }) => {
    const call = async (path, body) => {
      const r = await fetch(baseUrl + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'x-api-key': apiKey },
        body: JSON.stringify(body),
      });
      return { status: r.status, body: await r.json() };
    };
    const cam = { ip: '127.0.0.1', port, path: '/cam' };
    const probe = await call('/api/cameras/preview/probe', { ...cam, snapshot: true });
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    document.body.appendChild(video);
    pc.ontrack = (e) => {
      if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 2000);
    });
    const t0 = performance.now();
    const offer = await call('/api/cameras/preview/webrtc/offer', { ...cam, sdp: pc.localDescription.sdp, type: 'offer' });
    if (offer.status !== 200) return { probe, offer };
    await pc.setRemoteDescription({ type: 'answer', sdp: offer.body.data.sdp });
    const firstFrameMs = await new Promise((resolve) => {
      video.requestVideoFrameCallback(() => resolve(performance.now() - t0));
    });
    window.previewPc = pc;
    return { probe, offer: { status: offer.status, sessionId: offer.body.data.sessionId }, firstFrameMs,
      width: video.videoWidth, height: video.videoHeight };
  }, { baseUrl, apiKey: API_KEY, port: cameraPort });
}

async function api(path, body, method = 'POST') {
  const r = await fetch(server.baseUrl + path, {
    method,
    headers: { 'Content-Type': 'application/json', 'x-api-key': API_KEY },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json() };
}

test('probe, offer, first frame, hangup; two previews share one pull', async () => {
  const ctx = browser.context;
  const p1 = await ctx.newPage();
  const p2 = await ctx.newPage();
  await p1.goto(`${server.baseUrl}/`);
  await p2.goto(`${server.baseUrl}/`);
  const a = await preview(p1, server.baseUrl);
  assert.equal(a.probe.status, 200, JSON.stringify(a.probe.body));
  assert.ok(a.probe.body.data.streams.some((s) => s.kind === 'video' && s.codec === 'h264'));
  assert.ok(a.probe.body.data.snapshot.startsWith('data:image/jpeg;base64,'));
  assert.equal(a.offer.status, 200, JSON.stringify(a.offer));
  assert.equal(a.width, 640);
  assert.equal(a.height, 360);
  const b = await preview(p2, server.baseUrl);
  assert.equal(b.offer.status, 200, JSON.stringify(b.offer));
  console.log(`first frame: ${a.firstFrameMs.toFixed(0)} ms (first preview), ${b.firstFrameMs.toFixed(0)} ms (second, shared pull)`);
  const stats = await api('/api/cameras/preview/stats', null, 'GET');
  assert.deepEqual(stats.body.data, { pulls: 1, sessions: 2, warm: 0 }, 'one pull for two previews');

  assert.equal((await api('/api/cameras/preview/webrtc/hangup', { sessionId: a.offer.sessionId })).status, 200);
  const again = await api('/api/cameras/preview/webrtc/hangup', { sessionId: a.offer.sessionId });
  assert.equal(again.status, 404);
  assert.equal(again.body.error.code, 'SESSION_NOT_FOUND');
  assert.equal((await api('/api/cameras/preview/webrtc/hangup', { sessionId: b.offer.sessionId })).status, 200);
  // With nobody watching, the pull stops after its linger time.
  await waitFor('camera pull stopped', async () => (await api('/api/cameras/preview/stats', null, 'GET')).body.data.pulls === 0, 15000);
  const logs = await api('/api/logs?limit=20', null, 'GET');
  const actions = logs.body.data.map((r) => `${r.action}:${r.result}`);
  for (const want of ['probe:OK', 'offer:OK', 'hangup:OK']) assert.ok(actions.includes(want), `${want} in ${actions}`);
  await p1.close();
  await p2.close();
});

test('a page that closes its peer connection ends its preview as a hangup, not a failure', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.baseUrl}/`);
  const a = await preview(page, server.baseUrl);
  assert.equal(a.offer.status, 200, JSON.stringify(a.offer));
  const sessionId = a.offer.sessionId;
  // RTCPeerConnection.close() sends DTLS close_notify: the server ends the session without a hangup call.
  await page.evaluate(() => window.previewPc.close());
  const ended = async () => {
    const logs = await api('/api/logs?limit=50', null, 'GET');
    return logs.body.data.find((r) => r.sessionId === sessionId && r.action !== 'offer');
  };
  const record = await waitFor('the preview ended', ended, 10000);
  assert.equal(`${record.action}:${record.result}`, 'hangup:PEER_CLOSED', JSON.stringify(record));
  assert.ok(record.durationMs > 0, JSON.stringify(record));
  const again = await api('/api/cameras/preview/webrtc/hangup', { sessionId });
  assert.equal(again.status, 404, 'the session is gone');
  assert.equal(again.body.error.code, 'SESSION_NOT_FOUND');
  await page.close();
});

test('the camera restarts mid-preview: the pull reconnects and the video resumes', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.baseUrl}/`);
  const a = await preview(page, server.baseUrl);
  assert.equal(a.offer.status, 200, JSON.stringify(a.offer));
  const decoded = () => page.evaluate(async () => {
    const stats = await window.previewPc.getStats();
    let frames = 0;
    stats.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded; });
    return frames;
  });
  await waitFor('frames decoded', async () => (await decoded()) > 10);
  // Kill the camera, then bring it back on the same port.
  const exited = new Promise((resolve) => camera.once('exit', resolve));
  camera.kill('SIGKILL');
  await exited;
  const before = await decoded();
  ({ child: camera } = await startCamera(['--port', String(cameraPort), '--path', '/cam', '--audio', 'pcma',
    '--width', '640', '--height', '360', '--gop-seconds', '2']));
  await waitFor('video resumes after the camera restarted', async () => (await decoded()) > before + 30, 30000);
  const state = await page.evaluate(() => window.previewPc.connectionState);
  assert.equal(state, 'connected', 'the viewer session survived the camera restart');
  assert.equal((await api('/api/cameras/preview/webrtc/hangup', { sessionId: a.offer.sessionId })).status, 200);
  await page.close();
});

test('an AAC camera is heard as Opus (transcoded once on the server)', async () => {
  const { child: aac, port } = await startCamera(['--port', '0', '--path', '/aac', '--audio', 'aac']);
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.baseUrl}/`);
    const result = await page.evaluate(async ({ baseUrl, apiKey, port }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      // Audio is decoded as it is played out: give the track a sink.
      const sink = document.createElement('audio');
      sink.autoplay = true;
      sink.muted = true;
      document.body.appendChild(sink);
      pc.ontrack = (e) => {
        if (e.track.kind === 'audio') sink.srcObject = new MediaStream([e.track]);
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        setTimeout(resolve, 2000);
      });
      const r = await fetch(baseUrl + '/api/cameras/preview/webrtc/offer', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'x-api-key': apiKey },
        body: JSON.stringify({ ip: '127.0.0.1', port, path: '/aac', sdp: pc.localDescription.sdp, type: 'offer' }),
      });
      const body = await r.json();
      if (r.status !== 200) return { status: r.status, body };
      await pc.setRemoteDescription({ type: 'answer', sdp: body.data.sdp });
      const deadline = Date.now() + 15000;
      let audio = null;
      let codecs = new Map();
      while (Date.now() < deadline) {
        const stats = await pc.getStats();
        codecs = new Map();
        stats.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s.mimeType); });
        stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') audio = s; });
        if (audio && audio.packetsReceived > 50 && audio.totalSamplesReceived > 0) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      return { status: 200, sessionId: body.data.sessionId, packets: audio?.packetsReceived ?? 0,
        samples: audio?.totalSamplesReceived ?? 0, codec: audio ? codecs.get(audio.codecId) : null };
    }, { baseUrl: server.baseUrl, apiKey: API_KEY, port });
    assert.equal(result.status, 200, JSON.stringify(result));
    assert.equal(result.codec, 'audio/opus');
    assert.ok(result.packets > 50, `audio packets ${result.packets}`);
    assert.ok(result.samples > 0, 'audio decoded');
    assert.equal((await api('/api/cameras/preview/webrtc/hangup', { sessionId: result.sessionId })).status, 200);
    await page.close();
  } finally {
    aac.kill('SIGTERM');
  }
});

test('a preview ends when its TTL runs out unless the client extends it', async () => {
  const short = await startServer(['--workers', '1'], { config: { previewTtlSeconds: 3 } });
  const call = async (path, body, method = 'POST') => {
    const r = await fetch(short.baseUrl + path, {
      method,
      headers: { 'Content-Type': 'application/json', 'x-api-key': API_KEY },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, body: await r.json() };
  };
  const page = await browser.context.newPage();
  try {
    await page.goto(`${short.baseUrl}/`);
    const a = await preview(page, short.baseUrl);
    assert.equal(a.offer.status, 200, JSON.stringify(a.offer));
    // Keep it alive for twice its TTL.
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      const k = await call('/api/cameras/preview/webrtc/keepalive', { sessionId: a.offer.sessionId });
      assert.equal(k.status, 200, JSON.stringify(k.body));
      assert.equal(k.body.data.expiresIn, 3);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal((await call('/api/cameras/preview/stats', null, 'GET')).body.data.sessions, 1, 'extended preview lives');
    // No more keepalives: the watchdog ends it and logs why.
    await waitFor('preview ended by its TTL', async () =>
      (await call('/api/cameras/preview/stats', null, 'GET')).body.data.sessions === 0, 10000);
    const logs = await call('/api/logs?action=timeout', null, 'GET');
    assert.ok(logs.body.data.some((r) => r.result === 'TTL_EXPIRED' && r.sessionId === a.offer.sessionId));
    const gone = await call('/api/cameras/preview/webrtc/keepalive', { sessionId: a.offer.sessionId });
    assert.equal(gone.status, 404);
  } finally {
    await page.close();
    assert.equal(await short.stop(), 0);
  }
});
