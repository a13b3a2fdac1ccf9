// Channel flow in headless Chromium with the pages the server ships: /broadcaster publishes the fake camera once
// (WHIP), /watch pages join the channel with viewer tokens (WHEP), keep heartbeating, drop out while hidden, and
// are removed by the server when their heartbeats stop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitFor, metric, API_KEY } from './harness.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
});

const openPages = new Set();

/** Starts a server for one test; the returned stop() closes the test's pages and checks the exit code. */
async function serverWith(config) {
  const server = await startServer(['--workers', '2'], { config });
  return {
    ...server,
    stop: async () => {
      for (const p of openPages) await p.close().catch(() => {});
      openPages.clear();
      assert.equal(await server.stop(), 0, `server exit code (log:\n${server.log()})`);
    },
  };
}

async function newPage(url) {
  const page = await browser.context.newPage();
  openPages.add(page);
  page.on('close', () => openPages.delete(page));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[page] ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => console.log(`[page] ${e.message}`));
  await page.goto(url);
  return page;
}

async function openBroadcaster(server, channel) {
  const page = await newPage(`${server.baseUrl}/broadcaster?apiKey=${API_KEY}&channel=${channel}`);
  await page.click('#start');
  await waitFor('broadcaster connected', () =>
    page.evaluate(() => !!window.broadcaster && !!window.broadcaster.pc && window.broadcaster.pc.connectionState === 'connected'));
  return page;
}

async function openViewer(server, userId, channel, extra = '') {
  return newPage(`${server.baseUrl}/watch?apiKey=${API_KEY}&userId=${userId}&channel=${channel}${extra}`);
}

/** framesDecoded of the viewer's current WHEP session (0 when there is none). */
async function framesDecoded(page) {
  return page.evaluate(async () => {
    const pc = window.viewer && window.viewer.peerConnection;
    if (!pc) return 0;
    let frames = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0;
    });
    return frames;
  });
}

async function waitForFrames(page, what, timeoutMs = 20000) {
  await waitFor(`${what}: state watching`, async () => (await page.textContent('#state')) === 'watching', timeoutMs);
  await waitFor(`${what}: decoded frames`, async () => (await framesDecoded(page)) > 0, timeoutMs);
  // The <video> element presents them too.
  await page.evaluate(() => new Promise((resolve) => document.getElementById('video').requestVideoFrameCallback(() => resolve())));
}

async function channelTotal(server, channel) {
  const r = await fetch(`${server.baseUrl}/api/channels/${channel}`, { headers: { 'x-api-key': API_KEY } });
  const body = await r.json();
  return body.data.total;
}

/** Makes the page report itself hidden or visible and fires visibilitychange, as a tab switch would. */
async function setHidden(page, hidden) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

test('broadcaster publishes once, two watch pages play it, live count reaches 2', async () => {
  const server = await serverWith({ channels: ['main'] });
  try {
    const pub = await openBroadcaster(server, 'main');
    const viewers = [await openViewer(server, 'alice', 'main'), await openViewer(server, 'bob', 'main')];
    for (const [i, v] of viewers.entries()) await waitForFrames(v, `viewer ${i}`);

    await waitFor('broadcaster page shows 2 viewers', async () => (await pub.textContent('#total')) === '2');
    const items = await pub.$$eval('#stages li', (lis) => lis.map((li) => li.textContent));
    assert.ok(items.length >= 1, 'stage list is filled');
    assert.equal(await metric(server.baseUrl, 'stagecast_subscribers'), 2);
    assert.equal(await channelTotal(server, 'main'), 2);

    // Leaving ends the WHEP sessions and the count drops, pushed over the WebSocket.
    await viewers[0].evaluate(() => window.viewer.leave());
    assert.equal(await viewers[0].textContent('#state'), 'left');
    await waitFor('broadcaster page shows 1 viewer', async () => (await pub.textContent('#total')) === '1');
    await waitFor('one subscriber left', async () => (await metric(server.baseUrl, 'stagecast_subscribers')) === 1);

    // The broadcaster's WebSocket drops: it reconnects with since=<last seq> and still follows the count.
    const lastSeq = await pub.evaluate(() => window.broadcaster.lastSeq);
    assert.ok(typeof lastSeq === 'number', 'notices carry seq');
    await pub.evaluate(() => window.broadcaster.ws.close());
    await waitFor('socket reopened with since', () =>
      pub.evaluate(() => !!window.broadcaster.ws && window.broadcaster.ws.readyState === 1 && window.broadcaster.ws.url));
    assert.match(await pub.evaluate(() => window.broadcaster.ws.url), /[?&]since=\d+/);

    // Joining again in the same tab reuses the stored token and participant.
    const before = await viewers[0].evaluate(() => window.viewer.session.participantId);
    await viewers[0].evaluate(() => window.viewer.join());
    await waitForFrames(viewers[0], 'viewer 0 after rejoin');
    assert.equal(await viewers[0].evaluate(() => window.viewer.session.participantId), before);
    await waitFor('broadcaster page shows 2 viewers again', async () => (await pub.textContent('#total')) === '2');

    for (const v of viewers) await v.evaluate(() => window.viewer.leave());
    await pub.click('#stop');
    await waitFor('sessions torn down', async () =>
      (await metric(server.baseUrl, 'stagecast_subscribers')) === 0 && (await metric(server.baseUrl, 'stagecast_publishers')) === 0);
    for (const p of [pub, ...viewers]) await p.close();
  } finally {
    await server.stop();
  }
});

test('a hidden watch page disconnects and rejoins when visible again', async () => {
  const server = await serverWith({ channels: ['main'], heartbeatIntervalSeconds: 1 });
  try {
    const pub = await openBroadcaster(server, 'main');
    const viewer = await openViewer(server, 'carol', 'main', '&hiddenMs=1000&heartbeatMs=1000');
    await waitForFrames(viewer, 'viewer');
    assert.equal(await channelTotal(server, 'main'), 1);

    await setHidden(viewer, true);
    await waitFor('state hidden-disconnected', async () => (await viewer.textContent('#state')) === 'hidden-disconnected');
    await waitFor('no subscribers', async () => (await metric(server.baseUrl, 'stagecast_subscribers')) === 0);
    await waitFor('channel total 0', async () => (await channelTotal(server, 'main')) === 0);
    await waitFor('broadcaster page shows 0', async () => (await pub.textContent('#total')) === '0');

    await setHidden(viewer, false);
    await waitForFrames(viewer, 'viewer after becoming visible');
    await waitFor('subscriber back', async () => (await metric(server.baseUrl, 'stagecast_subscribers')) === 1);
    await waitFor('channel total 1', async () => (await channelTotal(server, 'main')) === 1);

    // Hidden for less than hiddenMs: nothing happens.
    await viewer.evaluate(() => { window.viewer.hiddenDisconnectMs = 60000; });
    await setHidden(viewer, true);
    await setHidden(viewer, false);
    assert.equal(await viewer.textContent('#state'), 'watching');

    await viewer.evaluate(() => window.viewer.leave());
    await pub.click('#stop');
    await waitFor('sessions torn down', async () => (await metric(server.baseUrl, 'stagecast_subscribers')) === 0);
    await viewer.close();
    await pub.close();
  } finally {
    await server.stop();
  }
});

test('a viewer whose heartbeats stop is removed and its WHEP session ended', async () => {
  const server = await serverWith({ channels: ['main'], viewerTimeoutSeconds: 3, heartbeatIntervalSeconds: 1 });
  try {
    const pub = await openBroadcaster(server, 'main');
    const stays = await openViewer(server, 'dave', 'main', '&heartbeatMs=1000');
    const vanishes = await openViewer(server, 'erin', 'main', '&heartbeatMs=1000');
    await waitForFrames(stays, 'staying viewer');
    await waitForFrames(vanishes, 'vanishing viewer');
    assert.equal(await metric(server.baseUrl, 'stagecast_subscribers'), 2);
    assert.equal(await channelTotal(server, 'main'), 2);

    // Close without leave or DELETE: only the missing heartbeats tell the server.
    await vanishes.close({ runBeforeUnload: false });
    await waitFor('vanished viewer removed', async () =>
      (await metric(server.baseUrl, 'stagecast_subscribers')) === 1 && (await channelTotal(server, 'main')) === 1, 15000);
    await waitFor('broadcaster page shows 1', async () => (await pub.textContent('#total')) === '1');
    // The heartbeating viewer outlives the timeout several times over and keeps playing.
    const framesBefore = await framesDecoded(stays);
    await waitFor('staying viewer still decoding', async () => (await framesDecoded(stays)) > framesBefore + 30);
    assert.equal(await stays.textContent('#state'), 'watching');

    await stays.close({ runBeforeUnload: false });
    await waitFor('all viewers removed', async () =>
      (await metric(server.baseUrl, 'stagecast_subscribers')) === 0 && (await channelTotal(server, 'main')) === 0, 15000);
    await pub.click('#stop');
    await waitFor('publisher gone', async () => (await metric(server.baseUrl, 'stagecast_publishers')) === 0);
    await pub.close();
  } finally {
    await server.stop();
  }
});

test('a viewer the server dropped for missing heartbeats rejoins on its next heartbeat', async () => {
  const server = await serverWith({ channels: ['main'], viewerTimeoutSeconds: 2 });
  try {
    const pub = await openBroadcaster(server, 'main');
    // Heartbeats slower than the server's timeout: the server drops the viewer between two of them.
    const viewer = await openViewer(server, 'frank', 'main', '&heartbeatMs=4000');
    await waitForFrames(viewer, 'viewer');
    const participant = await viewer.evaluate(() => window.viewer.session.participantId);
    await waitFor('viewer dropped by the server', async () => (await channelTotal(server, 'main')) === 0, 10000);
    await waitFor('viewer back after VIEWER_NOT_FOUND', async () => (await channelTotal(server, 'main')) === 1, 10000);
    await waitForFrames(viewer, 'viewer after rejoin');
    assert.equal(await viewer.evaluate(() => window.viewer.session.participantId), participant, 'rejoin keeps the participant');
    await viewer.evaluate(() => window.viewer.leave());
    await waitFor('no subscribers', async () => (await metric(server.baseUrl, 'stagecast_subscribers')) === 0);
    await pub.click('#stop');
    await viewer.close();
    await pub.close();
  } finally {
    await server.stop();
  }
});
