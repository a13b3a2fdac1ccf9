// Headless Chromium publishes its fake camera and microphone with WHIP; two other pages play with WHEP.
// Runs once with VP8 and once with H.264.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitFor, metric } from './harness.mjs';

let server;
let browser;

before(async () => {
  // Media plane only: no channels (their stages would stay open by design).
  server = await startServer(['--workers', '2', '--no-media-auth'], { config: { channels: [] } });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    const code = await server.stop();
    assert.equal(code, 0, `server exit code (log:\n${server.log()})`);
  }
});

async function openPage() {
  const page = await browser.context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[page] ${m.text()}`);
  });
  await page.goto(server.baseUrl + '/');
  await page.evaluate(async () => {
    window.sdk = await import('/sdk/whip-whep.js');
  });
  return page;
}

async function publish(page, stage, codec) {
  await page.evaluate(
    async ({ stage, codec }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
      window.publisher = new window.sdk.WhipClient(new URL(`/whip/${stage}`, location.href).toString());
      window.pubPc = await window.publisher.publish(stream, { videoCodec: codec });
    },
    { stage, codec },
  );
  await waitFor('publisher connected', () => page.evaluate(() => window.pubPc.connectionState === 'connected'));
}

async function play(page, stage) {
  await page.evaluate(async (stage) => {
    window.viewer = new window.sdk.WhepClient(new URL(`/whep/${stage}`, location.href).toString());
    const stream = await window.viewer.play();
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    document.body.appendChild(video);
    video.srcObject = stream;
    window.firstFrame = new Promise((resolve) => video.requestVideoFrameCallback((now, meta) => resolve(meta)));
    window.video = video;
  }, stage);
}

async function inboundStats(page) {
  return page.evaluate(async () => {
    const stats = await window.viewer.pc.getStats();
    const out = { video: null, audio: null, codecs: {} };
    stats.forEach((s) => {
      if (s.type === 'codec') out.codecs[s.id] = s.mimeType;
    });
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        out[s.kind] = {
          packetsReceived: s.packetsReceived,
          packetsLost: s.packetsLost,
          framesDecoded: s.framesDecoded,
          frameWidth: s.frameWidth,
          frameHeight: s.frameHeight,
          codec: out.codecs[s.codecId],
        };
      }
    });
    return out;
  });
}

async function outboundVideo(page) {
  return page.evaluate(async () => {
    const stats = await window.pubPc.getStats();
    let v = null;
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        v = { frameWidth: s.frameWidth, frameHeight: s.frameHeight, framesEncoded: s.framesEncoded,
          keyFramesEncoded: s.keyFramesEncoded, pliCount: s.pliCount };
      }
    });
    return v;
  });
}

for (const [codec, mime] of [
  ['VP8', 'video/VP8'],
  ['H264', 'video/H264'],
]) {
  test(`browser publishes ${codec} via WHIP, two browsers play via WHEP`, async () => {
    const stage = `e2e-${codec.toLowerCase()}`;
    const pubPage = await openPage();
    await publish(pubPage, stage, mime);

    const viewers = [await openPage(), await openPage()];
    for (const v of viewers) await play(v, stage);

    for (const v of viewers) {
      const meta = await v.evaluate(() => Promise.race([window.firstFrame, new Promise((_, rej) => setTimeout(() => rej(new Error('no first frame in 10 s')), 10000))]));
      assert.ok(meta.width > 0 && meta.height > 0, 'first frame has a size');
      const s = await waitFor(
        'decoded video and audio',
        async () => {
          const st = await inboundStats(v);
          return st.video && st.video.framesDecoded >= 30 && st.audio && st.audio.packetsReceived >= 50 ? st : null;
        },
        20000,
      );
      assert.equal(s.video.codec, mime, 'viewer decodes the codec the publisher sends');
      assert.equal(s.audio.codec, 'audio/opus');
      const sent = await outboundVideo(pubPage);
      assert.ok(sent && sent.framesEncoded > 0, 'publisher encodes video');
      // The viewer decodes exactly what the publisher encodes (no transcoding): same frame size.
      const latest = await waitFor(
        'viewer resolution matching the publisher',
        async () => {
          const [st, out] = [await inboundStats(v), await outboundVideo(pubPage)];
          return st.video.frameWidth === out.frameWidth && st.video.frameHeight === out.frameHeight ? st : null;
        },
        10000,
      );
      assert.ok(latest.video.frameWidth >= 160, `width ${latest.video.frameWidth}`);
    }

    assert.equal(await metric(server.baseUrl, 'stagecast_publishers'), 1);
    assert.equal(await metric(server.baseUrl, 'stagecast_subscribers'), 2);

    // DELETE tears everything down.
    for (const v of viewers) await v.evaluate(() => window.viewer.stop());
    await pubPage.evaluate(() => window.publisher.stop());
    await waitFor('sessions torn down', async () => (await metric(server.baseUrl, 'stagecast_subscribers')) === 0 && (await metric(server.baseUrl, 'stagecast_publishers')) === 0);
    await waitFor('stage closed', async () => (await metric(server.baseUrl, 'stagecast_stages')) === 0);
    for (const p of [pubPage, ...viewers]) await p.close();
  });
}

test('a viewer joining long after the last keyframe starts on a fresh one, not on a burst of the old group', async () => {
  const stage = 'e2e-late-viewer';
  const pubPage = await openPage();
  await publish(pubPage, stage, 'video/VP8');
  // Chrome encodes keyframes only when asked (or when it changes resolution): wait until its latest one is older
  // than the server replays (2 s of media time), so the cached group is too long to send a new viewer at once.
  let last = { keyFrames: -1, at: 0 };
  await waitFor('3 s without a keyframe from the publisher', async () => {
    const { keyFramesEncoded } = await outboundVideo(pubPage);
    if (keyFramesEncoded !== last.keyFrames) last = { keyFrames: keyFramesEncoded, at: Date.now() };
    return Date.now() - last.at >= 3000;
  }, 60000, 200);
  const before = await outboundVideo(pubPage);
  const replaysBefore = await metric(server.baseUrl, 'stagecast_keyframe_cache_replays_total');

  const viewer = await openPage();
  await play(viewer, stage);
  // Counted in the same task as the first frame's callback: with a replayed group the viewer would already hold
  // 3 s of frames (60 or more); starting on a new keyframe it holds the few sent since.
  const first = await viewer.evaluate(() => new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('no first frame in 10 s')), 10000);
    window.video.requestVideoFrameCallback(async () => {
      const stats = await window.viewer.pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') resolve({ framesReceived: s.framesReceived, keyFramesDecoded: s.keyFramesDecoded });
      });
    });
  }));
  assert.ok(first.framesReceived < 30, `frames held at the first frame: ${first.framesReceived}`);
  const after = await outboundVideo(pubPage);
  assert.ok(after.pliCount > before.pliCount, 'the publisher was asked for a keyframe (PLI)');
  assert.ok(after.keyFramesEncoded > before.keyFramesEncoded, 'and encoded one');
  assert.equal(await metric(server.baseUrl, 'stagecast_keyframe_cache_replays_total'), replaysBefore, 'no replay');

  await viewer.evaluate(() => window.viewer.stop());
  await pubPage.evaluate(() => window.publisher.stop());
  await waitFor('stage closed', async () => (await metric(server.baseUrl, 'stagecast_stages')) === 0);
  for (const p of [pubPage, viewer]) await p.close();
});
