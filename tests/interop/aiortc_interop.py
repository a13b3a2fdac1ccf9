#!/usr/bin/python3
"""Interoperability tests: Stagecast against aiortc, an independent WebRTC stack (Debian's python3-aiortc).

Each test starts its own stagecast server on ephemeral loopback ports, publishes a synthetic audio+video stream
with an aiortc peer over WHIP, plays it back with a second aiortc peer over WHEP and checks that decoded frames
arrive. Everything stays on 127.0.0.1; no STUN/TURN servers are used.

Run with Debian's interpreter (the one that can import aiortc):
    /usr/bin/python3 tests/interop/aiortc_interop.py -v
Environment:
    STAGECAST_BIN            server binary (default: <repo>/build/src/app/stagecast)
    STAGECAST_FIRST_FRAME_S  bound for the mid-GOP first-frame test (default 3.0 seconds)
    STAGECAST_INTEROP_DEBUG  set to 1 for aiortc/aioice debug logging
"""

import asyncio
import fractions
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import av
import av.logging
import numpy

import aioice.ice
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RTCRtpReceiver

HERE = os.path.dirname(os.path.abspath(__file__))
STAGECAST_BIN = os.environ.get("STAGECAST_BIN") or os.path.join(HERE, "..", "..", "build", "src", "app", "stagecast")
FIRST_FRAME_BOUND_S = float(os.environ.get("STAGECAST_FIRST_FRAME_S", "3.0"))

WIDTH, HEIGHT, FPS = 320, 240, 30
AUDIO_RATE, AUDIO_PTIME = 48000, 0.020
TONE_HZ = 440.0


# --- Keep ICE on loopback -------------------------------------------------------------------------------------------
# aioice deliberately leaves 127.0.0.1 out of its host candidates; the server listens on loopback only, so make the
# test process gather exactly one host candidate, 127.0.0.1.
_original_get_host_addresses = aioice.ice.get_host_addresses


def _loopback_host_addresses(use_ipv4=True, use_ipv6=True):
    return ["127.0.0.1"] if use_ipv4 else []


aioice.ice.get_host_addresses = _loopback_host_addresses
for _module in list(sys.modules.values()):  # any module that imported the function by name
    if getattr(_module, "get_host_addresses", None) is _original_get_host_addresses:
        setattr(_module, "get_host_addresses", _loopback_host_addresses)

if os.environ.get("STAGECAST_INTEROP_DEBUG"):
    logging.basicConfig(level=logging.DEBUG)
else:
    av.logging.set_level(av.logging.ERROR)  # keep libx264's statistics out; decoder errors still show


# --- Diagnostics: remember the first RTP packets each receiver gets (to explain a slow or missing first frame) --------
_original_handle_rtp = RTCRtpReceiver._handle_rtp_packet


async def _recording_handle_rtp(self, packet, arrival_time_ms):
    log = self.__dict__.setdefault("_interop_first_packets", [])
    if len(log) < 12:
        video = getattr(self, "_RTCRtpReceiver__kind", "video") == "video"
        desc = describe_payload(packet.payload) if video else packet.payload[:3].hex()
        log.append((packet.sequence_number, packet.timestamp, packet.marker, desc))
    return await _original_handle_rtp(self, packet, arrival_time_ms)


RTCRtpReceiver._handle_rtp_packet = _recording_handle_rtp


def describe_payload(payload):
    """H.264 (RFC 6184) packet type and the NAL unit types it carries (meaningless for VP8), plus the first bytes."""
    if not payload:
        return "empty"
    nal = payload[0] & 0x1F
    if nal == 24:
        units, i = [], 1
        while i + 2 < len(payload):
            size = int.from_bytes(payload[i:i + 2], "big")
            units.append(payload[i + 2] & 0x1F)
            i += 2 + size
        return f"h264? STAP-A{units} / {payload[:3].hex()}"
    if nal == 28 and len(payload) > 1:
        return f"h264? FU-A(S={payload[1] >> 7},type={payload[1] & 0x1F}) / {payload[:3].hex()}"
    return f"h264? NAL{nal} / {payload[:3].hex()}"


# --- Synthetic media ------------------------------------------------------------------------------------------------
class SyntheticVideoTrack(VideoStreamTrack):
    """320x240 yuv420p at 30 fps: a moving bright bar over a gradient whose chroma drifts every frame."""

    def __init__(self, width=WIDTH, height=HEIGHT):
        super().__init__()
        self.width, self.height = width, height
        self.frames_sent = 0
        self._gradient = numpy.tile(numpy.linspace(16, 200, width, dtype=numpy.uint8), (height, 1))

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        n = self.frames_sent
        y = self._gradient.copy()
        bar = (n * 4) % self.width
        y[:, bar : bar + 16] = 235
        u = numpy.full((self.height // 2, self.width // 2), (n * 3) % 256, dtype=numpy.uint8)
        v = numpy.full((self.height // 2, self.width // 2), 255 - (n * 5) % 256, dtype=numpy.uint8)
        frame = av.VideoFrame.from_ndarray(numpy.concatenate([y, u.reshape(-1, self.width), v.reshape(-1, self.width)]),
                                           format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        self.frames_sent += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A 440 Hz sine, mono s16 at 48 kHz in 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self._start = None
        self._samples = 0
        self.frames_sent = 0

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        count = int(AUDIO_RATE * AUDIO_PTIME)
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._samples += count
            wait = self._start + self._samples / AUDIO_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # real-time pacing of the source, not synchronization
        t = (numpy.arange(count) + self._samples) / AUDIO_RATE
        pcm = (numpy.sin(2 * math.pi * TONE_HZ * t) * 10000).astype(numpy.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.frames_sent += 1
        return frame


# --- Server process -------------------------------------------------------------------------------------------------
API_KEY = "interop-test-key"


class StagecastServer:
    def __init__(self, binary=STAGECAST_BIN, media_auth=False):
        self.binary = binary
        self.media_auth = media_auth
        self.proc = None
        self.port = None
        self._lines = []
        self._lock = threading.Lock()
        self._port_found = threading.Event()
        self._reader = None
        self.data_dir = tempfile.mkdtemp(prefix="stagecast-interop-")

    def start(self, timeout=15.0):
        if not os.access(self.binary, os.X_OK):
            raise AssertionError(f"stagecast binary not found or not executable: {self.binary}")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--workers", "1",
             "--log-level", "info", "--data-dir", self.data_dir, "--api-key", API_KEY]
            + ([] if self.media_auth else ["--no-media-auth"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._port_found.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise AssertionError(f"server exited with {self.proc.returncode} before listening:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not report its HTTP port within {timeout}s:\n{self.log()}")
        return self

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            with self._lock:
                self._lines.append(line)
            if self.port is None:
                m = re.search(r"http: listening on [^\s]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self._port_found.set()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        with self._lock:
            return "".join(self._lines)

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._reader.join(2)
                self.proc.stderr.close()
                return None
        self._reader.join(5)
        self.proc.stderr.close()
        return self.proc.returncode


# --- HTTP helpers (blocking urllib, run in a worker thread with a bound) --------------------------------------------
def _http(method, url, body=None, headers=None, timeout=10.0):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read().decode("utf-8", "replace")


async def http(method, url, body=None, headers=None, timeout=10.0):
    return await asyncio.wait_for(asyncio.to_thread(_http, method, url, body, headers, timeout), timeout + 2)


async def metrics(base_url):
    status, _, text = await http("GET", base_url + "/metrics")
    if status != 200:
        raise AssertionError(f"/metrics answered {status}: {text}")
    values = {}
    for line in text.splitlines():
        m = re.match(r"^(stagecast_\w+)(?:\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


async def wait_until(what, predicate, timeout, interval=0.05):
    """Polls predicate (sync or async) until it returns a truthy value; raises AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if asyncio.iscoroutine(last):
                last = await last
            if last:
                return last
        except AssertionError:
            raise
        except Exception as e:  # keep polling; report the last problem
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def video_codecs(mime):
    return [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == mime.lower()]


def negotiated_video_codec(sdp):
    """First payload of the video m-line in an SDP, as its rtpmap encoding name (e.g. 'VP8')."""
    section = re.search(r"^m=video \d+ \S+ (\d+)[^\r\n]*(.*?)(?=^m=|\Z)", sdp, re.M | re.S)
    if not section:
        return None
    pt = section.group(1)
    m = re.search(rf"^a=rtpmap:{pt} ([^/\s]+)/", section.group(2), re.M)
    return m.group(1) if m else None


# --- A WHIP/WHEP peer -----------------------------------------------------------------------------------------------
class Peer:
    def __init__(self, name):
        self.name = name
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.offer_sdp = None
        self.answer_sdp = None
        self.location = None
        self.states = []
        self.tracks = {}
        self.deleted = False

        @self.pc.on("connectionstatechange")
        def _on_state():
            self.states.append((round(time.monotonic(), 3), self.pc.connectionState))

        @self.pc.on("track")
        def _on_track(track):
            self.tracks[track.kind] = track

    token = None  # participant token, sent as Authorization: Bearer on POST and DELETE (RFC 6750)

    def _auth(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def negotiate(self, base_url, path):
        offer = await self.pc.createOffer()
        await asyncio.wait_for(self.pc.setLocalDescription(offer), 15)
        # aiortc gathers candidates inside setLocalDescription (no trickle); still confirm before sending.
        await wait_until(f"{self.name}: ICE gathering complete", lambda: self.pc.iceGatheringState == "complete", 10)
        self.offer_sdp = self.pc.localDescription.sdp
        status, headers, body = await http("POST", base_url + path, self.offer_sdp.encode(),
                                           {"Content-Type": "application/sdp", **self._auth()})
        self.answer_sdp = body
        if status != 201:
            raise AssertionError(f"{self.name}: POST {path} answered {status}: {body}")
        headers = {k.lower(): v for k, v in headers.items()}
        if "application/sdp" not in headers.get("content-type", ""):
            raise AssertionError(f"{self.name}: answer Content-Type is {headers.get('content-type')!r}")
        if not headers.get("location"):
            raise AssertionError(f"{self.name}: 201 without Location header")
        self.location = urllib.parse.urljoin(base_url + path, headers["location"])
        await asyncio.wait_for(self.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer")), 15)

    async def wait_connected(self, timeout=15):
        def connected():
            if self.pc.connectionState in ("failed", "closed"):
                raise AssertionError(f"{self.name}: connection state became {self.pc.connectionState}: {self.states}")
            return self.pc.connectionState == "connected"

        await wait_until(f"{self.name}: connectionState 'connected' (history {self.states})", connected, timeout)

    async def delete(self):
        status, _, body = await http("DELETE", self.location, headers=self._auth())
        if status not in (200, 204):
            raise AssertionError(f"{self.name}: DELETE {self.location} answered {status}: {body}")
        self.deleted = True

    async def close(self):
        await asyncio.wait_for(self.pc.close(), 10)

    def first_packets(self, kind):
        for t in self.pc.getTransceivers():
            if t.kind == kind:
                return t.receiver.__dict__.get("_interop_first_packets", [])
        return []

    def describe(self):
        received = "".join(f"  {kind} {p}\n" for kind in ("video", "audio") for p in self.first_packets(kind)[:8])
        return (f"===== {self.name}: location={self.location} states={self.states}\n"
                f"----- {self.name} first RTP packets received (seq, ts, marker, payload) -----\n{received}"
                f"----- {self.name} offer SDP -----\n{self.offer_sdp}\n"
                f"----- {self.name} answer SDP -----\n{self.answer_sdp}\n")


async def recv_frames(track, count, timeout):
    """Receives `count` decoded frames; returns (frames, seconds to first frame)."""
    frames, start, first = [], time.monotonic(), None
    deadline = start + timeout
    while len(frames) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"only {len(frames)}/{count} {track.kind} frames decoded within {timeout}s")
        try:
            frame = await asyncio.wait_for(track.recv(), left)
        except asyncio.TimeoutError:
            raise AssertionError(f"only {len(frames)}/{count} {track.kind} frames decoded within {timeout}s")
        if first is None:
            first = time.monotonic() - start
        frames.append(frame)
    return frames, first


# --- Tests ----------------------------------------------------------------------------------------------------------
class AiortcInterop(unittest.TestCase):
    def setUp(self):
        self.server = StagecastServer().start()
        self.addCleanup(self._kill_server)
        self.peers = []

    def _kill_server(self):
        if self.server.proc and self.server.proc.poll() is None:
            self.server.proc.kill()
            self.server.proc.wait(5)
        if self.server.proc and not self.server.proc.stderr.closed:
            if self.server._reader:
                self.server._reader.join(2)
            self.server.proc.stderr.close()

    def run_async(self, coro_fn, timeout):
        """Runs a scenario with an overall bound, closes the peers, then SIGTERMs the server (exit status 0)."""

        async def main():
            try:
                await asyncio.wait_for(coro_fn(), timeout)
            finally:
                for p in self.peers:
                    try:
                        await p.close()
                    except Exception as e:
                        print(f"closing {p.name}: {e!r}", file=sys.stderr)

        try:
            asyncio.run(main())
        except BaseException:
            status = self.server.stop()
            self.dump_diagnostics(f"stagecast exit status after SIGTERM: {status}")
            raise
        status = self.server.stop()
        if status != 0:
            self.dump_diagnostics()
        self.assertEqual(status, 0, "stagecast did not exit cleanly on SIGTERM")

    def dump_diagnostics(self, note=""):
        out = [f"\n########## diagnostics for {self.id()} {note}##########\n"]
        out += [p.describe() for p in self.peers]
        out.append(f"----- server log ({self.server.base_url}) -----\n{self.server.log()}")
        print("".join(out), file=sys.stderr)

    def new_peer(self, name):
        peer = Peer(name)
        self.peers.append(peer)
        return peer

    async def publish(self, stage, mime, token=None):
        pub = self.new_peer(f"publisher[{mime}]")
        pub.token = token
        video, audio = SyntheticVideoTrack(), ToneAudioTrack()
        vt = pub.pc.addTransceiver(video, direction="sendonly")
        vt.setCodecPreferences(video_codecs(mime))
        pub.pc.addTransceiver(audio, direction="sendonly")
        await pub.negotiate(self.server.base_url, f"/whip/{stage}")
        self.assertEqual(negotiated_video_codec(pub.answer_sdp), mime.split("/")[1],
                         "server answered the WHIP offer with another video codec")
        await pub.wait_connected()
        return pub, video, audio

    async def play(self, stage, name, token=None):
        sub = self.new_peer(name)
        sub.token = token
        # Default (unrestricted) codec list: the server has to pick the codec the publisher actually sends.
        sub.pc.addTransceiver("video", direction="recvonly")
        sub.pc.addTransceiver("audio", direction="recvonly")
        t0 = time.monotonic()
        await sub.negotiate(self.server.base_url, f"/whep/{stage}")
        await sub.wait_connected()
        await wait_until(f"{name}: remote audio and video tracks", lambda: {"audio", "video"} <= sub.tracks.keys(), 5)
        return sub, t0

    async def wait_gauges(self, publishers, subscribers, timeout=10):
        async def ok():
            m = await metrics(self.server.base_url)
            return (m.get("stagecast_publishers") == publishers and m.get("stagecast_subscribers") == subscribers) and m

        return await wait_until(f"/metrics publishers={publishers} subscribers={subscribers}", ok, timeout, 0.1)

    async def check_playback(self, sub, video_src):
        frames, first = await recv_frames(sub.tracks["video"], 30, 20)
        for f in frames:
            self.assertEqual((f.width, f.height), (video_src.width, video_src.height), "decoded video size")
        # The source moves a bright bar 4 px per frame: consecutive decoded frames must show it in different places.
        bars = [int(numpy.argmax(f.to_ndarray(format="gray")[HEIGHT // 2, :])) for f in frames]
        self.assertGreaterEqual(len(set(bars)), len(frames) // 2, f"decoded video barely changes: bar at {bars}")
        audio_frames, _ = await recv_frames(sub.tracks["audio"], 50, 10)
        rms = max(float(numpy.sqrt(numpy.mean(a.to_ndarray().astype(float) ** 2))) for a in audio_frames)
        self.assertEqual(audio_frames[-1].sample_rate, 48000)
        self.assertGreater(rms, 500, "decoded audio is silent; the tone did not come through")
        print(f"  {sub.name}: {len(frames)} video frames {frames[0].width}x{frames[0].height} "
              f"(first after {first:.3f}s), {len(audio_frames)} audio frames, peak RMS {rms:.0f}", file=sys.stderr)

    def _roundtrip(self, mime):
        stage = "interop-" + mime.split("/")[1].lower()

        async def scenario():
            pub, video, _ = await self.publish(stage, mime)
            sub, _ = await self.play(stage, "viewer")
            self.assertEqual(negotiated_video_codec(sub.answer_sdp), mime.split("/")[1],
                             "WHEP answer does not carry the publisher's video codec")
            await self.wait_gauges(1, 1)
            await self.check_playback(sub, video)
            await sub.delete()
            await pub.delete()
            m = await self.wait_gauges(0, 0)
            print(f"  after DELETE: publishers={m.get('stagecast_publishers')} "
                  f"subscribers={m.get('stagecast_subscribers')} stages={m.get('stagecast_stages')}", file=sys.stderr)

        self.run_async(scenario, 90)

    def _late_join(self, mime):
        stage = "latejoin-" + mime.split("/")[1].lower()

        async def scenario():
            pub, video, _ = await self.publish(stage, mime)
            # Join mid-GOP: ~3 s of video after the publisher's first (and, for aiortc VP8, only) keyframe.
            await wait_until("publisher sent 100 frames", lambda: video.frames_sent >= 100, 15)
            sub, t0 = await self.play(stage, "late-viewer")
            frames, _ = await recv_frames(sub.tracks["video"], 1, 10)
            first = time.monotonic() - t0
            print(f"  {mime} late join after {video.frames_sent} published frames: first decoded frame "
                  f"{first:.3f}s after the WHEP POST", file=sys.stderr)
            self.assertEqual((frames[0].width, frames[0].height), (WIDTH, HEIGHT))
            self.assertLess(first, FIRST_FRAME_BOUND_S,
                            "late viewer's first frame took too long; first video RTP packets it received "
                            f"(seq, ts, marker, payload): {sub.first_packets('video')[:4]}")
            more, _ = await recv_frames(sub.tracks["video"], 15, 10)
            self.assertTrue(all((f.width, f.height) == (WIDTH, HEIGHT) for f in more))
            await sub.delete()
            await pub.delete()
            await self.wait_gauges(0, 0)

        self.run_async(scenario, 90)

    def test_channel_with_participant_tokens(self):
        """The live-channel flow with tokens: publish once into the channel, watch a stage, leave ends the session."""
        self._kill_server()
        self.server = StagecastServer(media_auth=True).start()
        api = {"x-api-key": API_KEY, "Content-Type": "application/json"}

        async def scenario():
            status, _, body = await http("GET", self.server.base_url + "/api/broadcaster/stages", headers=api)
            self.assertEqual(status, 200, body)
            channel = json.loads(body)["data"]
            # Without a token the WHIP endpoint refuses the publisher.
            status, headers, _ = await http("POST", self.server.base_url + channel["whipUrl"], b"v=0\r\n",
                                            {"Content-Type": "application/sdp"})
            self.assertEqual(status, 401)
            pub, video, _ = await self.publish("main", "video/VP8", token=channel["channelToken"])
            status, _, body = await http("POST", self.server.base_url + "/api/token/viewer",
                                         json.dumps({"userId": "aiortc-viewer"}).encode(), api)
            self.assertEqual(status, 200, body)
            viewer = json.loads(body)["data"]
            sub, _ = await self.play(viewer["stageId"], "viewer", token=viewer["token"])
            await self.wait_gauges(1, 1)
            await self.check_playback(sub, video)
            status, _, body = await http("POST", self.server.base_url + "/api/viewer/leave",
                                         json.dumps({"userId": "aiortc-viewer", "stageArn": viewer["stageArn"]}).encode(),
                                         api)
            self.assertEqual(status, 200, body)
            await self.wait_gauges(1, 0)  # the server ended the viewer's WHEP session
            await pub.delete()
            await self.wait_gauges(0, 0)

        self.run_async(scenario, 90)

    def test_vp8_whip_to_whep(self):
        self._roundtrip("video/VP8")

    def test_h264_whip_to_whep(self):
        self._roundtrip("video/H264")

    def test_vp8_late_viewer_first_frame(self):
        self._late_join("video/VP8")

    def test_h264_late_viewer_first_frame(self):
        self._late_join("video/H264")


if __name__ == "__main__":
    unittest.main()
