// The /cameras page and the CameraPreview SDK in headless Chromium against real RTSP cameras (GStreamer's RTSP
// server): register through the form, preview, credentials asked once (never a blind retry), wrong password,
// unreachable camera, hangup on close and on navigation, stop() idempotence, keepalive before the TTL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startServer, launchBrowser, waitFor, startRtspCamera, apiCall, API_KEY } from './harness.mjs';

let server;
let browser;
let openCam; // no authentication, H.264 + PCMA, 640x360
let digestCam; // digest authentication admin/secret

before(async () => {
  openCam = await startRtspCamera(['--port', '0', '--path', '/cam', '--audio', 'pcma', '--width', '640', '--height', '360']);
  digestCam = await startRtspCamera(['--port', '0', '--path', '/secure', '--auth', 'digest', '--user', 'admin',
    '--password', 'secret']);
  server = await startServer(['--workers', '2']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  const code = await server?.stop();
  await openCam?.stop();
  await digestCam?.stop();
  assert.equal(code, 0, 'server exits cleanly');
});

const api = (method, path, body) => apiCall(server.baseUrl, method, path, body);
const previewStats = async () => (await api('GET', '/api/cameras/preview/stats')).body.data;

/** A loopback port nothing listens on (bound, then released). */
function closedPort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function register(camera) {
  const r = await api('POST', '/api/cameras', camera);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.data;
}

/** Opens /cameras with the API key and waits until the list has loaded. */
async function openCamerasPage(baseUrl = server.baseUrl) {
  const page = await browser.context.newPage();
  await page.goto(`${baseUrl}/cameras?apiKey=${encodeURIComponent(API_KEY)}`);
  await page.locator('#listStatus').filter({ hasNotText: 'Loading' }).filter({ hasNotText: 'Enter the API key' })
    .waitFor();
  return page;
}

/** Records the preview API requests the page makes: {path, body}. */
function recordRequests(page) {
  const seen = [];
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (path.startsWith('/api/cameras/preview/')) {
      let body = null;
      try {
        body = JSON.parse(req.postData() || 'null');
      } catch (_) { /* not JSON */ }
      seen.push({ path, body });
    }
  });
  return seen;
}

const item = (page, name) => page.locator('#cameraList li', { has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });

async function framesDecoded(page) {
  return page.evaluate(async () => {
    const pc = window.preview && window.preview.peerConnection;
    if (!pc) return 0;
    let frames = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0;
    });
    return frames;
  });
}

async function logRows(query) {
  const r = await api('GET', `/api/logs?limit=200${query ? `&${query}` : ''}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
}

test('the start page links to the camera page', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.baseUrl}/`);
  await page.getByRole('link', { name: 'register and preview' }).click();
  await page.waitForURL(/\/cameras$/);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Cameras');
  await page.close();
});

test('"test without saving" probes the form camera, shows its snapshot and saves nothing', async () => {
  const page = await openCamerasPage();
  const before = (await api('GET', '/api/cameras')).body.data.length;
  await page.getByLabel('IP address').fill('127.0.0.1');
  await page.getByLabel('RTSP port').fill(String(openCam.port));
  await page.getByLabel('Stream path').fill('/cam');
  await page.getByRole('button', { name: 'Test without saving' }).click();
  await page.locator('#testResult').waitFor({ state: 'visible' });
  const snapshot = await page.locator('#snapshot').evaluate(async (img) => {
    await img.decode();
    return { src: img.src.slice(0, 23), width: img.naturalWidth, height: img.naturalHeight };
  });
  assert.equal(snapshot.src, 'data:image/jpeg;base64,');
  assert.deepEqual([snapshot.width, snapshot.height], [640, 360]);
  const streams = await page.locator('#testStreams li').allTextContents();
  assert.ok(streams.some((s) => s.startsWith('video h264') && s.includes('640×360')), streams.join(' | '));
  assert.ok(streams.some((s) => s.startsWith('audio pcm_alaw')), streams.join(' | '));
  assert.match(await page.locator('#addStatus').textContent(), /not saved/);
  assert.equal((await api('GET', '/api/cameras')).body.data.length, before, 'nothing was registered');
  await page.close();
});

test('a camera added through the form is listed, previews with decoded frames, and closing the dialog hangs up', async () => {
  const page = await openCamerasPage();
  await page.getByLabel('Name', { exact: true }).fill('Lobby');
  await page.getByLabel('IP address').fill('127.0.0.1');
  await page.getByLabel('RTSP port').fill(String(openCam.port));
  await page.getByLabel('Stream path').fill('/cam');
  await page.getByLabel('Transport').selectOption('tcp');
  await page.getByRole('button', { name: 'Add camera' }).click();
  await item(page, 'Lobby').waitFor();
  const registered = (await api('GET', '/api/cameras')).body.data.find((c) => c.name === 'Lobby');
  assert.ok(registered, 'the server has the camera');
  assert.equal(registered.ip, '127.0.0.1');
  assert.equal(registered.port, openCam.port);
  assert.equal(registered.path, '/cam');
  assert.equal(registered.hasCredentials, false);
  assert.equal(await item(page, 'Lobby').getAttribute('data-camera-id'), String(registered.id));

  // Notice the loading overlay however briefly it shows.
  await page.evaluate(() => {
    const overlay = document.getElementById('loadingOverlay');
    window.loadingShown = false;
    new MutationObserver(() => { if (!overlay.hidden) window.loadingShown = true; })
      .observe(overlay, { attributes: true, attributeFilter: ['hidden'] });
  });
  await item(page, 'Lobby').getByRole('button', { name: 'Preview Lobby' }).click();
  await page.locator('#previewDialog').waitFor({ state: 'visible' });
  await page.locator('#previewState', { hasText: /^playing$/ }).waitFor({ timeout: 20000 });
  assert.equal(await page.evaluate(() => window.loadingShown), true, 'a loading overlay was shown while connecting');
  assert.equal(await page.locator('#loadingOverlay').isHidden(), true);
  assert.equal(await page.locator('#errorOverlay').isHidden(), true);
  await waitFor('decoded frames', async () => (await framesDecoded(page)) > 0);
  const size = await page.locator('#previewVideo').evaluate((v) => [v.videoWidth, v.videoHeight]);
  assert.deepEqual(size, [640, 360]);
  const sessionId = await page.evaluate(() => window.preview.sessionId);
  assert.ok(sessionId);
  assert.equal((await previewStats()).sessions, 1);

  await page.getByRole('button', { name: 'Close preview' }).click();
  await waitFor('the preview session to end', async () => (await previewStats()).sessions === 0);
  // The action log is written behind a queue: wait for the row. Ended by the client's hangup.
  await waitFor('the hangup in the action log', async () =>
    (await logRows('action=hangup')).some((r) => r.sessionId === sessionId && r.result === 'OK'));
  assert.equal(await page.locator('#previewDialog').isHidden(), true);
  await page.close();
});

test('a digest camera without stored credentials: asked once, never re-probed without them, plays, saves them', async () => {
  const camera = await register({ name: 'Vault', ip: '127.0.0.1', port: digestCam.port, path: '/secure' });
  const label = `127.0.0.1:${digestCam.port}/secure`;
  const page = await openCamerasPage();
  const requests = recordRequests(page);
  await item(page, 'Vault').getByRole('button', { name: 'Preview Vault' }).click();
  const form = page.locator('#credentialsForm');
  await form.waitFor({ state: 'visible', timeout: 20000 });
  assert.match(await page.locator('#credentialsHint').textContent(), /needs a username and password/);
  assert.equal(await page.locator('#previewState').textContent(), 'credentials');

  await form.getByLabel('Username').fill('admin');
  await form.getByLabel('Password').fill('secret');
  await form.getByLabel('Save these credentials to the camera').check();
  await form.getByRole('button', { name: 'Connect' }).click();
  await page.locator('#previewState', { hasText: /^playing$/ }).waitFor({ timeout: 20000 });
  await waitFor('decoded frames', async () => (await framesDecoded(page)) > 0);

  // Exactly one request went out without credentials (the first probe); every later one carried the given ones.
  const cameraCalls = requests.filter((r) => r.path.endsWith('/probe') || r.path.endsWith('/offer'));
  assert.ok(cameraCalls.length >= 3, JSON.stringify(cameraCalls.map((r) => r.path)));
  assert.equal(cameraCalls[0].path, '/api/cameras/preview/probe');
  assert.equal(cameraCalls[0].body.cameraId, camera.id);
  assert.equal(cameraCalls[0].body.password, undefined);
  for (const r of cameraCalls.slice(1)) {
    assert.equal(r.body.cameraId, camera.id);
    assert.deepEqual([r.body.username, r.body.password], ['admin', 'secret'], `${r.path} carried the credentials`);
  }
  // The server's action log agrees: one AUTH_REQUIRED probe of this camera, nothing else refused.
  const probesOf = async () => (await logRows('action=probe')).filter((r) => r.camera === label);
  await waitFor('both probes in the action log', async () => (await probesOf()).length >= 2);
  const probes = await probesOf();
  assert.deepEqual(probes.map((r) => r.result).sort(), ['AUTH_REQUIRED', 'OK'], JSON.stringify(probes));

  // Saved with PATCH: the registry now says so, and the next preview needs no question.
  await page.locator('#previewNote', { hasText: 'credentials saved' }).waitFor();
  assert.equal((await api('GET', `/api/cameras/${camera.id}`)).body.data.hasCredentials, true);
  await page.getByRole('button', { name: 'Close preview' }).click();
  await waitFor('the preview session to end', async () => (await previewStats()).sessions === 0);

  requests.length = 0;
  await item(page, 'Vault').getByRole('button', { name: 'Preview Vault' }).click();
  await page.locator('#previewState', { hasText: /^playing$/ }).waitFor({ timeout: 20000 });
  assert.ok(requests.every((r) => r.body === null || r.body.password === undefined), 'stored credentials used');
  await page.getByRole('button', { name: 'Close preview' }).click();
  await waitFor('the preview session to end', async () => (await previewStats()).sessions === 0);
  await page.close();
});

test('a wrong password is asked again a bounded number of times, then AUTH_FAILED shows in the error overlay', async () => {
  await register({ name: 'Gate', ip: '127.0.0.1', port: digestCam.port, path: '/secure' });
  const page = await openCamerasPage();
  const requests = recordRequests(page);
  await item(page, 'Gate').getByRole('button', { name: 'Preview Gate' }).click();
  const form = page.locator('#credentialsForm');
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    await form.waitFor({ state: 'visible', timeout: 20000 });
    if (attempt > 1) assert.match(await page.locator('#credentialsHint').textContent(), /refused/);
    await form.getByLabel('Username').fill('admin');
    await form.getByLabel('Password').fill(`wrong-${attempt}`);
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/cameras/preview/probe'));
    await form.getByRole('button', { name: 'Connect' }).click();
    assert.equal((await answered).status(), 403);
  }
  const overlay = page.locator('#errorOverlay');
  await overlay.waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await page.locator('#errorCode').textContent(), 'AUTH_FAILED');
  assert.match(await page.locator('#errorMessage').textContent(), /refused the username or password/);
  const probes = requests.filter((r) => r.path.endsWith('/probe'));
  assert.deepEqual(probes.map((r) => r.body.password), [undefined, 'wrong-1', 'wrong-2', 'wrong-3']);
  assert.equal(requests.filter((r) => r.path.endsWith('/offer')).length, 0, 'no offer after a failed probe');
  assert.equal((await previewStats()).sessions, 0);
  await page.close();
});

test('an unreachable camera (closed port) shows UNREACHABLE', async () => {
  await register({ name: 'Nowhere', ip: '127.0.0.1', port: await closedPort(), path: '/cam' });
  const page = await openCamerasPage();
  await item(page, 'Nowhere').getByRole('button', { name: 'Preview Nowhere' }).click();
  await page.locator('#errorOverlay').waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await page.locator('#errorCode').textContent(), 'UNREACHABLE');
  assert.match(await page.locator('#errorMessage').textContent(), /cannot be reached/);
  assert.equal(await page.locator('#loadingOverlay').isHidden(), true);
  assert.equal(await page.locator('#previewState').textContent(), 'error');
  await page.close();
});

test('navigating away from a playing preview ends its session (hangup sent on pagehide)', async () => {
  await register({ name: 'Hall', ip: '127.0.0.1', port: openCam.port, path: '/cam' });
  const page = await openCamerasPage();
  await item(page, 'Hall').getByRole('button', { name: 'Preview Hall' }).click();
  await page.locator('#previewState', { hasText: /^playing$/ }).waitFor({ timeout: 20000 });
  const sessionId = await page.evaluate(() => window.preview.sessionId);
  assert.equal((await previewStats()).sessions, 1);
  // Note every hangup the page sends in origin storage, which outlives the page, to read it after navigating.
  await page.evaluate(() => {
    localStorage.removeItem('hangups');
    const original = window.fetch;
    window.fetch = (input, init = {}) => {
      if (String(input).endsWith('/api/cameras/preview/webrtc/hangup')) {
        const sent = JSON.parse(localStorage.getItem('hangups') || '[]');
        sent.push({ body: JSON.parse(init.body), keepalive: init.keepalive === true });
        localStorage.setItem('hangups', JSON.stringify(sent));
      }
      return original(input, init);
    };
  });
  await page.goto(`${server.baseUrl}/`);
  await waitFor('the preview session to end', async () => (await previewStats()).sessions === 0);
  const sent = await page.evaluate(() => JSON.parse(localStorage.getItem('hangups') || '[]'));
  assert.deepEqual(sent, [{ body: { sessionId }, keepalive: true }], 'one hangup, sent so that it survives the page');
  // Whichever arrived first (the hangup or the browser closing the connection), the server recorded the end.
  const ends = async () => (await logRows('')).filter((r) => r.sessionId === sessionId && r.action !== 'offer');
  await waitFor('the end of the session in the action log', async () => (await ends()).length > 0);
  assert.equal((await ends()).length, 1, JSON.stringify(await ends()));
  await page.close();
});

test('CameraRegistry removes a camera, and the page lists what the server has', async () => {
  const camera = await register({ name: 'Attic', ip: '127.0.0.1', port: openCam.port, path: '/cam' });
  const page = await openCamerasPage();
  page.on('dialog', (d) => d.accept());
  await item(page, 'Attic').getByRole('button', { name: 'Remove Attic' }).click();
  await item(page, 'Attic').waitFor({ state: 'detached' });
  assert.equal((await api('GET', `/api/cameras/${camera.id}`)).status, 404);
  const listed = await page.locator('#cameraList li').evaluateAll((lis) => lis.map((li) => li.dataset.cameraId));
  const onServer = (await api('GET', '/api/cameras')).body.data.map((c) => String(c.id));
  assert.deepEqual(listed.sort(), onServer.sort());
  await page.close();
});

/** In a page of `baseUrl`: a CameraPreview of the open camera by address, with its states recorded. */
async function sdkPage(baseUrl) {
  const page = await browser.context.newPage();
  await page.goto(`${baseUrl}/cameras`);
  await page.evaluate(async ({ apiKey, port }) => {
    const { CameraPreview } = await import('/sdk/camera-preview.js');
    window.states = [];
    window.sdkPreview = new CameraPreview({ apiKey, onState: (s, d) => window.states.push(d && d.code ? `${s}:${d.code}` : s) });
    window.sdkCamera = { ip: '127.0.0.1', port, path: '/cam' };
    window.sdkVideo = document.createElement('video');
    window.sdkVideo.muted = true;
    document.body.append(window.sdkVideo);
  }, { apiKey: API_KEY, port: openCam.port });
  return page;
}

test('CameraPreview.stop() is idempotent: one hangup, one "stopped", even when called concurrently', async () => {
  const page = await sdkPage(server.baseUrl);
  const hangups = [];
  page.on('request', (req) => {
    if (req.url().endsWith('/api/cameras/preview/webrtc/hangup')) hangups.push(JSON.parse(req.postData()).sessionId);
  });
  // Before any start: nothing to end.
  await page.evaluate(() => window.sdkPreview.stop());
  assert.equal(hangups.length, 0);
  const r = await page.evaluate(async () => {
    const p = window.sdkPreview;
    const sessionId = await p.start(window.sdkCamera, window.sdkVideo);
    const pc = p.peerConnection;
    await Promise.all([p.stop(), p.stop()]);
    await p.stop();
    return { sessionId, pcState: pc.connectionState, states: window.states, after: p.sessionId, src: window.sdkVideo.srcObject };
  });
  assert.deepEqual(r.states, ['probing', 'connecting', 'playing', 'stopped']);
  assert.equal(r.pcState, 'closed');
  assert.equal(r.after, null);
  assert.equal(r.src, null);
  assert.deepEqual(hangups, [r.sessionId], 'exactly one hangup');
  assert.equal((await previewStats()).sessions, 0);
  await page.close();
});

test('stop() while the offer is in flight hangs up the session the answer brings', async () => {
  const page = await sdkPage(server.baseUrl);
  let offeredSession = null;
  // Hold the answer until stop() has run in the page.
  await page.route('**/api/cameras/preview/webrtc/offer', async (route) => {
    const response = await route.fetch();
    offeredSession = (await response.json()).data.sessionId;
    await page.evaluate(() => window.sdkPreview.stop());
    await route.fulfill({ response });
  });
  const r = await page.evaluate(() =>
    window.sdkPreview.start(window.sdkCamera, window.sdkVideo).then(() => 'started', (e) => e.code));
  assert.equal(r, 'STOPPED');
  assert.ok(offeredSession, 'the server created a session');
  await waitFor('the late session hung up', async () =>
    (await logRows('action=hangup')).some((row) => row.sessionId === offeredSession && row.result === 'OK'));
  assert.equal((await previewStats()).sessions, 0);
  assert.deepEqual(await page.evaluate(() => window.states), ['probing', 'connecting', 'stopped']);
  await page.close();
});

test('CameraPreview sends keepalives that keep the session past its TTL', async () => {
  const short = await startServer(['--workers', '1'], { config: { previewTtlSeconds: 2 } });
  try {
    const page = await sdkPage(short.baseUrl);
    const keepalives = [];
    page.on('request', (req) => {
      if (req.url().endsWith('/webrtc/keepalive')) keepalives.push(Date.now());
    });
    await page.evaluate(() => window.sdkPreview.start(window.sdkCamera, window.sdkVideo));
    // One keepalive per half TTL: the fifth comes after the first TTL ran out, and no gap lets the session lapse.
    await waitFor('five keepalives', async () => keepalives.length >= 5, 15000);
    assert.ok(keepalives[4] - keepalives[0] > 2000, `keepalives span ${keepalives[4] - keepalives[0]} ms, beyond one TTL`);
    for (let i = 1; i < keepalives.length; i += 1) {
      assert.ok(keepalives[i] - keepalives[i - 1] < 2000, `keepalive gap ${keepalives[i] - keepalives[i - 1]} ms`);
    }
    assert.equal(await page.evaluate(() => window.sdkPreview.ttlSeconds), 2);
    const stats = (await apiCall(short.baseUrl, 'GET', '/api/cameras/preview/stats')).body.data;
    assert.equal(stats.sessions, 1, 'still alive');
    assert.equal(await page.evaluate(() => window.sdkPreview.state), 'playing');
    await page.evaluate(() => window.sdkPreview.stop());
    assert.equal((await apiCall(short.baseUrl, 'GET', '/api/cameras/preview/stats')).body.data.sessions, 0);
    await page.close();
  } finally {
    assert.equal(await short.stop(), 0);
  }
});
