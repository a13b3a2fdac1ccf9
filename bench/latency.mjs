#!/usr/bin/env node
// Glass-to-glass latency of a live stage in headless Chromium (Debian's, driven by playwright-core from
// tests/e2e/node_modules): a publisher page paints the wall clock into a canvas as black and white blocks and
// publishes the canvas with WHIP; viewer pages play it with WHEP, read the blocks back from every frame they
// present and subtract the painted time from their own clock (one browser, one clock).
//
//   node bench/latency.mjs [--build DIR] [--seconds N] [--codec VP8|H264]
//
// Three viewers: "first" joins right after the publisher; "fresh" joins when the publisher's latest keyframe is
// over 2 s old (so the server asks the publisher for a new keyframe rather than replaying the old group);
// "replayed" joins 1 s after that new keyframe (so it starts from the server's cached group, replayed at once).
// Prints each viewer's time to first frame and latency percentiles; exits 1 if any viewer's p95 is 1 s or more
// (the sub-second target) or if a viewer did not start the way described.
import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const build = option('build', 'build');
const seconds = Number(option('seconds', '10'));
const codec = option('codec', 'VP8').toUpperCase();
process.env.STAGECAST_BIN ||= join(here, '..', build, 'src/app/stagecast');
const { startServer, launchBrowser, waitFor, metric } = await import('../tests/e2e/harness.mjs');

const stage = 'latency';
const server = await startServer(['--workers', '2', '--no-media-auth'], { config: { channels: [] } });
const browser = await launchBrowser();
let failed = false;

async function openPage() {
  const page = await browser.context.newPage();
  await page.goto(server.baseUrl + '/');
  await page.evaluate(async () => {
    window.sdk = await import('/sdk/whip-whep.js');
  });
  return page;
}

// 48 blocks of 80x80 on a 640x480 canvas: the low 24 bits of Date.now() and, to reject misread frames, their
// complement. Painted every 10 ms, so a frame's painted time is at most 10 ms before its capture.
async function startPublisher(page) {
  await page.evaluate(
    async ({ stage, codec }) => {
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 480;
      document.body.appendChild(canvas);
      const ctx = canvas.getContext('2d');
      const paint = () => {
        const t = Date.now() & 0xffffff;
        for (let i = 0; i < 48; i++) {
          const bit = i < 24 ? (t >> i) & 1 : (~t >> (i - 24)) & 1;
          ctx.fillStyle = bit ? '#ffffff' : '#000000';
          ctx.fillRect((i % 8) * 80, Math.floor(i / 8) * 80, 80, 80);
        }
      };
      paint();
      setInterval(paint, 10);
      window.publisher = new window.sdk.WhipClient(new URL(`/whip/${stage}`, location.href).toString());
      window.pubPc = await window.publisher.publish(canvas.captureStream(30), { videoCodec: `video/${codec}` });
    },
    { stage, codec },
  );
  await waitFor('publisher connected', () => page.evaluate(() => window.pubPc.connectionState === 'connected'));
}

async function publisherVideo(page) {
  return page.evaluate(async () => {
    const stats = await window.pubPc.getStats();
    let v = null;
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') v = { keyFrames: s.keyFramesEncoded, pli: s.pliCount };
    });
    return v;
  });
}

// Starts a viewer that decodes the painted time from every presented frame into window.latencies.
async function startViewer(page) {
  await page.evaluate(async (stage) => {
    window.latencies = [];
    window.misread = 0;
    const started = performance.now();
    window.viewer = new window.sdk.WhepClient(new URL(`/whep/${stage}`, location.href).toString());
    const stream = await window.viewer.play();
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    document.body.appendChild(video);
    video.srcObject = stream;
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 480;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const onFrame = () => {
      const now = Date.now() & 0xffffff;
      ctx.drawImage(video, 0, 0, 640, 480);
      const pixels = ctx.getImageData(0, 0, 640, 480).data;
      let value = 0;
      let ok = true;
      for (let i = 0; i < 24 && ok; i++) {
        const at = (block) => {
          const x = (block % 8) * 80 + 40;
          const y = Math.floor(block / 8) * 80 + 40;
          return pixels[(y * 640 + x) * 4 + 1] > 127 ? 1 : 0;
        };
        const bit = at(i);
        ok = bit !== at(i + 24);
        value |= bit << i;
      }
      if (ok) {
        if (window.firstFrameMs === undefined) window.firstFrameMs = performance.now() - started;
        window.latencies.push((now - value + 0x1000000) % 0x1000000);
      } else {
        window.misread++;
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }, stage);
  await waitFor('first decoded frame', () => page.evaluate(() => window.firstFrameMs !== undefined), 20000);
}

// Waits until `ms` have passed since the publisher's keyframe count last changed (counting from the first look
// unless `newerThan` is given, in which case the count must first exceed it); returns its stats then.
async function keyframeAge(page, ms, newerThan = undefined) {
  let last = { keyFrames: newerThan ?? -1, at: newerThan === undefined ? 0 : Infinity };
  return waitFor(
    `a keyframe ${ms} ms old`,
    async () => {
      const v = await publisherVideo(page);
      if (v.keyFrames !== last.keyFrames && (newerThan === undefined || v.keyFrames > newerThan)) {
        last = { keyFrames: v.keyFrames, at: Date.now() };
      }
      return Date.now() - last.at >= ms ? v : null;
    },
    60000,
    20,
  );
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

try {
  const publisher = await openPage();
  await startPublisher(publisher);
  const viewers = {};
  viewers.first = await openPage();
  await startViewer(viewers.first);

  const replaysNow = () => metric(server.baseUrl, 'stagecast_keyframe_cache_replays_total');

  // Joins when the group is over 2 s old: the server asks the publisher for a fresh keyframe instead of replaying.
  let replays = await replaysNow();
  const before = await keyframeAge(publisher, 2500);
  viewers.fresh = await openPage();
  await startViewer(viewers.fresh);
  const after = await publisherVideo(publisher);
  const freshStart = after.pli > before.pli && after.keyFrames > before.keyFrames && (await replaysNow()) === replays;

  // Joins 1 s after that fresh keyframe: starts from the cached group, replayed at once.
  replays = await replaysNow();
  await keyframeAge(publisher, 1000, before.keyFrames);
  viewers.replayed = await openPage();
  await startViewer(viewers.replayed);
  const replayedFromCache = await waitFor('the replay counter', async () => (await replaysNow()) > replays, 3000)
    .catch(() => false);

  // Settle 2 s (the replayed viewer catches up), then measure.
  await new Promise((r) => setTimeout(r, 2000));
  for (const page of Object.values(viewers)) await page.evaluate(() => { window.latencies = []; window.misread = 0; });
  await new Promise((r) => setTimeout(r, seconds * 1000));

  console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores`);
  console.log(`codec ${codec}, 640x480 canvas at 30 fps, ${seconds} s measured per viewer after 2 s settling`);
  console.log(`replayed viewer started from the cached group: ${replayedFromCache ? 'yes' : 'NO'}; ` +
    `fresh viewer started on a new keyframe: ${freshStart ? 'yes' : 'NO'} ` +
    `(publisher PLIs ${before.pli} -> ${after.pli}, keyframes ${before.keyFrames} -> ${after.keyFrames})`);
  if (!replayedFromCache || !freshStart) failed = true;
  for (const [name, page] of Object.entries(viewers)) {
    const { latencies, misread, firstFrameMs } = await page.evaluate(() => ({
      latencies: window.latencies, misread: window.misread, firstFrameMs: window.firstFrameMs,
    }));
    const sorted = [...latencies].sort((a, b) => a - b);
    if (sorted.length < seconds * 10) {
      console.log(`${name}: only ${sorted.length} frames read (${misread} misread)`);
      failed = true;
      continue;
    }
    const p95 = percentile(sorted, 95);
    if (p95 >= 1000) failed = true;
    console.log(`${name}: first frame ${firstFrameMs.toFixed(0)} ms after the WHEP request; ${sorted.length} frames ` +
      `(${misread} misread): glass-to-glass p50 ${percentile(sorted, 50)} ms, p95 ${p95} ms, ` +
      `max ${sorted[sorted.length - 1]} ms${p95 >= 1000 ? ' — target (p95 < 1 s) NOT met' : ''}`);
  }
} finally {
  await browser.close();
  await server.stop();
}
console.log(failed ? 'FAILED' : 'PASS');
process.exit(failed ? 1 : 0);
