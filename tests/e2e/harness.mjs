// Shared helpers for browser tests: start the stagecast binary on ephemeral loopback ports and launch Debian's
// Chromium (never a downloaded browser) with the flags WebRTC over loopback needs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const STAGECAST_BIN = process.env.STAGECAST_BIN || join(here, '../../build/src/app/stagecast');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const API_KEY = 'e2e-test-api-key';

/**
 * Starts the server (scratch data directory, API key API_KEY); resolves with {baseUrl, stop()} once /health
 * answers 200. Pass '--no-media-auth' for tests of the bare media plane.
 */
export async function startServer(extraArgs = [], { config } = {}) {
  const logLevel = extraArgs.includes('--log-level') ? [] : ['--log-level', 'info'];
  const dataDir = mkdtempSync(join(tmpdir(), 'stagecast-e2e-'));
  const configArgs = [];
  if (config) {
    const file = join(dataDir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    configArgs.push('--config', file);
  }
  const child = spawn(STAGECAST_BIN, ['serve', '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--data-dir', dataDir,
    '--api-key', API_KEY, ...configArgs, ...logLevel, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 15000);
    child.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(/http: listening on [^\s]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log}`));
    });
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  // The listener opens a moment before the server reports ready (503 "starting" until then).
  await waitFor('/health to answer 200', async () => (await fetch(`${baseUrl}/health`)).status === 200, 10000, 50);
  return {
    baseUrl,
    log: () => log,
    /** SIGTERM, then resolves with the exit code (the server must shut down cleanly). */
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          rmSync(dataDir, { recursive: true, force: true });
          resolve(code ?? signal);
        });
        child.kill('SIGTERM');
      }),
  };
}

const BASE_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];
// Chromium keeps only the last --disable-features switch; merge ours into the one Playwright passes.
const OUR_DISABLED_FEATURES = ['WebRtcHideLocalIpsWithMdns'];

let playwrightDisableFeatures = null;
async function defaultDisableFeaturesArg() {
  if (playwrightDisableFeatures !== null) return playwrightDisableFeatures;
  const userDataDir = mkdtempSync(join(tmpdir(), 'stagecast-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: BASE_FLAGS });
  const args = ctx.browser()?.process?.()?.spawnargs ?? [];
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
  playwrightDisableFeatures = args.find((a) => a.startsWith('--disable-features=')) || '';
  return playwrightDisableFeatures;
}

/** Launches headless Chromium with a fresh profile; returns {context, close()}. */
export async function launchBrowser() {
  const theirs = await defaultDisableFeaturesArg();
  const features = new Set(OUR_DISABLED_FEATURES);
  if (theirs) for (const f of theirs.slice('--disable-features='.length).split(',')) if (f) features.add(f);
  const userDataDir = mkdtempSync(join(tmpdir(), 'stagecast-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: [...BASE_FLAGS, `--disable-features=${[...features].join(',')}`],
    ignoreDefaultArgs: theirs ? [theirs] : [],
    permissions: ['camera', 'microphone'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor(what, fn, timeoutMs = 15000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** Reads a Prometheus gauge/counter from /metrics. */
export async function metric(baseUrl, name) {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\d+)`, 'm'));
  return m ? Number(m[1]) : NaN;
}

/**
 * Starts the RTSP test camera (tests/fixtures/rtsp_camera.py, on 127.0.0.1) with `args`; resolves with
 * {child, port, stop()} once it prints READY.
 */
export function startRtspCamera(args) {
  const python = process.env.STAGECAST_FIXTURE_PYTHON || '/usr/bin/python3';
  const child = spawn(python, [join(here, '../fixtures/rtsp_camera.py'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d.toString()));
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`camera did not start:\n${err}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = out.match(/READY rtsp:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stop });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`camera exited with ${code}:\n${err}`));
    });
  });
}

/** One JSON call to the control API with the test API key; resolves with {status, body}. */
export async function apiCall(baseUrl, method, path, body) {
  const r = await fetch(baseUrl + path, {
    method,
    headers: { 'x-api-key': API_KEY, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (_) { /* not JSON */ }
  return { status: r.status, body: parsed };
}
