#!/usr/bin/python3
"""Time from a camera preview offer to the first decoded frame, with aiortc as the viewer (the same client for
Stagecast and for the aiortc reference, bench/camera_ref.py). Part of bench/camera_preview.sh.

Each sample: a new RTCPeerConnection with one recvonly video transceiver creates its offer and gathers its (loopback)
candidate; the clock starts when the offer is POSTed and stops when the first `track.recv()` returns a decoded frame.
The viewer then hangs up.

  cold: sample i previews camera i mod K that nobody has previewed for at least --rest seconds (its pull has
        stopped: Stagecast stops a pull 5 s after its last preview), so the time includes the RTSP session setup
        and the wait for the camera's next keyframe.
  warm: one holder viewer keeps camera 0's pull running; samples join it at random moments of the GOP.

Prints one line per sample and a summary line:
  ttff target=stagecast mode=warm samples=20 failed=0 p50=... p95=... max=... (ms)
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import aioice.ice
import av.logging
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription

# aioice leaves 127.0.0.1 out of its host candidates; everything here runs on loopback.
_original_host_addresses = aioice.ice.get_host_addresses


def _loopback_only(use_ipv4=True, use_ipv6=True):
    return ["127.0.0.1"] if use_ipv4 else []


aioice.ice.get_host_addresses = _loopback_only
for _module in list(sys.modules.values()):
    if getattr(_module, "get_host_addresses", None) is _original_host_addresses:
        setattr(_module, "get_host_addresses", _loopback_only)
av.logging.set_level(av.logging.FATAL)  # a decoder that joins mid-GOP complains until the keyframe


def _post(url, payload, headers, timeout):
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, {"raw": body.decode("utf-8", "replace")}


def _get(url, headers, timeout):
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


class Target:
    """The HTTP side of one server: Stagecast's camera preview API or the reference's /offer."""

    def __init__(self, kind, port, api_key):
        self.kind, self.base, self.api_key = kind, f"http://127.0.0.1:{port}", api_key

    def _headers(self):
        return {"x-api-key": self.api_key} if self.kind == "stagecast" else {}

    async def offer(self, camera_url, sdp, timeout=15):
        if self.kind == "stagecast":
            u = urllib.parse.urlsplit(camera_url)
            path = u.path + ("?" + u.query if u.query else "")
            body = {"ip": u.hostname, "port": u.port or 554, "path": path or "/", "sdp": sdp, "type": "offer"}
            status, doc = await asyncio.to_thread(_post, self.base + "/api/cameras/preview/webrtc/offer", body,
                                                  self._headers(), timeout)
            data = doc.get("data") if status == 200 else None
        else:
            status, doc = await asyncio.to_thread(_post, self.base + "/offer",
                                                  {"url": camera_url, "sdp": sdp, "type": "offer"}, {}, timeout)
            data = doc if status == 200 else None
        if not data:
            raise RuntimeError(f"offer answered {status}: {doc}")
        return data["sessionId"], data["sdp"]

    async def hangup(self, session_id):
        path = "/api/cameras/preview/webrtc/hangup" if self.kind == "stagecast" else "/hangup"
        await asyncio.to_thread(_post, self.base + path, {"sessionId": session_id}, self._headers(), 5)

    async def pulls(self):
        path = "/api/cameras/preview/stats" if self.kind == "stagecast" else "/stats"
        doc = await asyncio.to_thread(_get, self.base + path, self._headers(), 5)
        return (doc.get("data") or doc)["pulls"]


class Viewer:
    def __init__(self, codec):
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = asyncio.get_running_loop().create_future()
        self.session_id = None
        self.codec = None
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        if codec != "any":
            prefs = [c for c in RTCRtpReceiver.getCapabilities("video").codecs
                     if c.mimeType.lower() in (f"video/{codec}", "video/rtx")]
            transceiver.setCodecPreferences(prefs)

        @self.pc.on("track")
        def _on_track(track):
            if not self.track.done():
                self.track.set_result(track)

    async def open(self, target, camera_url, timeout):
        """Offer, answer, first decoded frame; returns (ms from the POST to the frame, frame)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers the loopback candidate
        t0 = time.monotonic()
        self.session_id, answer = await target.offer(camera_url, self.pc.localDescription.sdp)
        self.codec = negotiated_codec(answer)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        track = await asyncio.wait_for(self.track, timeout)
        frame = await asyncio.wait_for(track.recv(), max(0.1, timeout - (time.monotonic() - t0)))
        return (time.monotonic() - t0) * 1000.0, frame

    async def close(self, target):
        if self.session_id:
            try:
                await target.hangup(self.session_id)
            except Exception:  # the server may already have ended it
                pass
        await self.pc.close()


def negotiated_codec(sdp):
    """The encoding name of the first payload type of the answer's video section (e.g. "H264", "VP8")."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("m=video"):
            fields = line.split()
            pt = fields[3] if len(fields) > 3 else None
            for other in lines[i + 1:]:
                if other.startswith("m="):
                    break
                if pt and other.startswith(f"a=rtpmap:{pt} "):
                    return other.split()[1].split("/")[0]
    return "?"


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def run(a):
    target = Target(a.target, a.http_port, a.api_key)
    cameras = a.camera
    results, failed = [], 0
    holder = None
    last_used = {}
    rng = random.Random(a.seed)
    if a.mode == "warm":
        holder = Viewer(a.codec)
        ms, _ = await holder.open(target, cameras[0], a.timeout)
        print(f"holder on {cameras[0]}: first frame after {ms:.1f} ms", flush=True)

        async def drain():  # the holder keeps receiving (and decoding), like a watching viewer
            track = await holder.track
            while True:
                await track.recv()

        drainer = asyncio.ensure_future(drain())
    try:
        for i in range(a.samples):
            if a.mode == "cold":
                cam = cameras[i % len(cameras)]
                rest = a.rest - (time.monotonic() - last_used.get(cam, -1e9))
                # Pacing: this camera's previous pull must have stopped; then a random moment of its GOP (a sample
                # that starts right after the previous one ended would otherwise stay in step with the keyframes).
                await asyncio.sleep(max(0.0, rest) + rng.uniform(0.05, a.gop))
            else:
                cam = cameras[0]
                await asyncio.sleep(rng.uniform(0.05, a.gop))  # join at a random point of the GOP
            pulls = await target.pulls()
            v = Viewer(a.codec)
            try:
                ms, frame = await v.open(target, cam, a.timeout)
                results.append(ms)
                print(f"sample {i} camera {cam} pulls-before {pulls}: {ms:.1f} ms "
                      f"({v.codec} {frame.width}x{frame.height})", flush=True)
            except Exception as e:
                failed += 1
                print(f"sample {i} camera {cam}: FAILED {type(e).__name__}: {e}", flush=True)
            finally:
                await v.close(target)
                last_used[cam] = time.monotonic()
    finally:
        if holder is not None:
            drainer.cancel()
            await holder.close(target)
    if results:
        print(f"ttff target={a.target} mode={a.mode} samples={len(results)} failed={failed} "
              f"p50={statistics.median(results):.1f} p95={percentile(results, 0.95):.1f} max={max(results):.1f}",
              flush=True)
    else:
        print(f"ttff target={a.target} mode={a.mode} samples=0 failed={failed}", flush=True)
    return 0 if failed == 0 else 1


def main():
    p = argparse.ArgumentParser(description="offer -> first decoded frame, with aiortc")
    p.add_argument("--target", choices=["stagecast", "ref"], required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--api-key", default="")
    p.add_argument("--camera", action="append", required=True, help="rtsp:// URL (repeat for cold samples)")
    p.add_argument("--mode", choices=["cold", "warm"], required=True)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--rest", type=float, default=7.0, help="cold: seconds a camera rests between two samples")
    p.add_argument("--gop", type=float, default=2.0, help="warm: samples are spread over this many seconds")
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--codec", choices=["any", "h264", "vp8"], default="any",
                   help="codecs the viewer offers (any: aiortc's default list, VP8 first, like a browser)")
    p.add_argument("--seed", type=int, default=1)
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
