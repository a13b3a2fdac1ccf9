#!/usr/bin/python3
"""Reference camera preview server of the original design, for side-by-side benchmarks (bench/camera_preview.sh).

aiortc (Debian's python3-aiortc) does the WebRTC side: one MediaPlayer per camera URL (libavformat RTSP pull over
TCP, libavcodec decode), shared by all of that camera's viewers through one MediaRelay, and one RTCPeerConnection
per viewer, which re-encodes the decoded frames (VP8 or H.264, whichever the viewer's offer lists first).
A camera's player is stopped `--linger` seconds after its last viewer left (Stagecast's pulls linger 5 s).

HTTP (a small HTTP/1.1 server on asyncio streams, keep-alive, JSON bodies, 127.0.0.1 only):
    POST /offer   {url, sdp, type: "offer"} -> {sessionId, sdp, type: "answer"}
    POST /hangup  {sessionId}               -> {ended: true}; 404 when unknown
    GET  /stats                              -> {pulls, sessions}
Errors are {"error": {"code", "message"}}. ICE stays on loopback and no STUN server is used.

    /usr/bin/python3 bench/camera_ref.py --port 0     # prints "READY http://127.0.0.1:PORT"
"""

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
import uuid

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer, MediaRelay

# aioice leaves 127.0.0.1 out of its host candidates; the benchmark runs on loopback only.
_original_host_addresses = aioice.ice.get_host_addresses


def _loopback_only(use_ipv4=True, use_ipv6=True):
    return ["127.0.0.1"] if use_ipv4 else []


aioice.ice.get_host_addresses = _loopback_only
for _module in list(sys.modules.values()):
    if getattr(_module, "get_host_addresses", None) is _original_host_addresses:
        setattr(_module, "get_host_addresses", _loopback_only)

MAX_BODY = 64 * 1024


class HttpError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


class Camera:
    def __init__(self, url):
        self.url = url
        self.player = None
        self.opening = None  # a future while MediaPlayer opens the stream
        self.viewers = set()
        self.idle_since = time.monotonic()


class Previews:
    def __init__(self, linger):
        self.linger = linger
        self.relay = MediaRelay()
        self.cameras = {}
        self.sessions = {}  # sessionId -> (pc, camera)

    async def player_for(self, camera):
        if camera.player is not None:
            return camera.player
        if camera.opening is None:
            loop = asyncio.get_running_loop()
            # av.open blocks on the camera (RTSP DESCRIBE/SETUP/PLAY, stream probing): keep it off the event loop.
            camera.opening = loop.run_in_executor(
                None, lambda: MediaPlayer(camera.url, options={"rtsp_transport": "tcp"}))
        try:
            player = await camera.opening
        except Exception as e:
            camera.opening = None
            raise HttpError(502, "CAMERA_FAILED", f"{camera.url}: {e}")
        camera.player, camera.opening = player, None
        if player.video is None:
            raise HttpError(415, "UNSUPPORTED_CODEC", "the camera has no video stream")
        return player

    async def offer(self, body):
        url, sdp = body.get("url"), body.get("sdp")
        if not isinstance(url, str) or not url.startswith("rtsp://"):
            raise HttpError(400, "INVALID_REQUEST", "url: an rtsp:// URL is required")
        if not isinstance(sdp, str) or not sdp:
            raise HttpError(400, "INVALID_REQUEST", "sdp: an SDP offer is required")
        if body.get("type", "offer") != "offer":
            raise HttpError(400, "INVALID_REQUEST", 'type: must be "offer"')
        camera = self.cameras.setdefault(url, Camera(url))
        session_id = uuid.uuid4().hex
        camera.viewers.add(session_id)  # held while the offer is in progress, so the sweep keeps the player
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sessions[session_id] = (pc, camera)

        @pc.on("connectionstatechange")
        async def _state():
            if pc.connectionState in ("failed", "closed"):
                await self.end(session_id)

        try:
            player = await self.player_for(camera)
            pc.addTrack(self.relay.subscribe(player.video, buffered=False))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())  # gathers the (loopback) candidates
        except HttpError:
            await self.end(session_id)
            raise
        except Exception as e:
            await self.end(session_id)
            raise HttpError(400, "SDP_FAILED", str(e))
        return {"sessionId": session_id, "sdp": pc.localDescription.sdp, "type": "answer"}

    async def end(self, session_id):
        entry = self.sessions.pop(session_id, None)
        if entry is None:
            return False
        pc, camera = entry
        camera.viewers.discard(session_id)
        if not camera.viewers:
            camera.idle_since = time.monotonic()
        await pc.close()
        if not camera.viewers and self.linger <= 0:
            self.stop_camera(camera)
        return True

    def stop_camera(self, camera):
        if camera.viewers or camera.opening is not None:
            return
        self.cameras.pop(camera.url, None)
        if camera.player is not None and camera.player.video is not None:
            camera.player.video.stop()  # ends the player's thread and closes the RTSP session
        camera.player = None

    async def sweep(self):
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for camera in list(self.cameras.values()):
                if not camera.viewers and camera.opening is None and now - camera.idle_since >= self.linger:
                    self.stop_camera(camera)

    def stats(self):
        pulls = sum(1 for c in self.cameras.values() if c.player is not None or c.opening is not None)
        return {"pulls": pulls, "sessions": len(self.sessions)}


async def read_request(reader):
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise HttpError(400, "BAD_REQUEST", "malformed request line")
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "BAD_REQUEST", "bad Content-Length")
    if length < 0 or length > MAX_BODY:
        raise HttpError(413, "BODY_TOO_LARGE", "body too large")
    body = await reader.readexactly(length) if length else b""
    return parts[0], parts[1], headers, body


def response(status, payload, keep_alive):
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 415: "Unsupported Media Type",
              500: "Internal Server Error", 502: "Bad Gateway"}.get(status, "Error")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    return head.encode() + data


async def route(previews, method, path, body):
    if path == "/stats" and method == "GET":
        return 200, previews.stats()
    if method != "POST" or path not in ("/offer", "/hangup"):
        raise HttpError(404, "NOT_FOUND", f"no route {method} {path}")
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        raise HttpError(400, "INVALID_REQUEST", "body: malformed JSON")
    if not isinstance(doc, dict):
        raise HttpError(400, "INVALID_REQUEST", "body: a JSON object is required")
    if path == "/offer":
        return 200, await previews.offer(doc)
    if not isinstance(doc.get("sessionId"), str):
        raise HttpError(400, "INVALID_REQUEST", "sessionId: is required")
    if not await previews.end(doc["sessionId"]):
        raise HttpError(404, "SESSION_NOT_FOUND", "no such preview session")
    return 200, {"ended": True}


async def serve_connection(previews, reader, writer):
    try:
        while True:
            keep_alive = True
            try:
                request = await read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                keep_alive = headers.get("connection", "").lower() != "close"
                status, payload = await route(previews, method, path.split("?")[0], body)
            except HttpError as e:
                status, payload = e.status, {"error": {"code": e.code, "message": str(e)}}
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            except Exception as e:  # a bug: answer it and keep serving everybody else
                logging.exception("request failed")
                status, payload = 500, {"error": {"code": "INTERNAL_ERROR", "message": str(e)}}
            writer.write(response(status, payload, keep_alive))
            await writer.drain()
            if not keep_alive:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser(description="aiortc reference camera preview server")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--linger", type=float, default=5.0, help="seconds a camera's player outlives its last viewer")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    previews = Previews(a.linger)
    server = await asyncio.start_server(lambda r, w: serve_connection(previews, r, w), "127.0.0.1", a.port)
    sweeper = asyncio.ensure_future(previews.sweep())
    print(f"READY http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    sweeper.cancel()
    for session_id in list(previews.sessions):
        await previews.end(session_id)
    for camera in list(previews.cameras.values()):
        previews.stop_camera(camera)


if __name__ == "__main__":
    asyncio.run(main())
