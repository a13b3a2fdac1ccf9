#!/usr/bin/env python3
"""Cheap always-on RTSP cameras for benchmarks: N cameras in one process, each on its own 127.0.0.1 port.

The picture is encoded once at start-up (videotestsrc, x264 ultrafast/zerolatency, constrained baseline,
the same encoder settings as the test camera) into a loop of whole GOPs; each camera then replays that loop on a
wall-clock schedule (frame n is due at start + n / fps), as a camera that is always encoding would. A viewer that
connects therefore joins mid-GOP and waits for the next keyframe, exactly as with a real camera, while a camera
costs only RTP packetization instead of a live 720p encoder (sixteen live encoders do not fit on a small machine).
The RTSP SDP carries sprop-parameter-sets (the stream is served in AVC form with its codec_data), and SPS/PPS are
repeated before every IDR frame.

Prints one line "READY rtsp://127.0.0.1:PORT/stream" per camera, then "ALL READY", and serves until SIGTERM/SIGINT.
Run with the system interpreter (Debian's python3-gi and GStreamer RTSP server bindings):
    /usr/bin/python3 bench/replay_camera.py --cameras 16 --width 1280 --height 720 --fps 30 --gop-seconds 2
"""

import argparse
import random
import signal
import sys
import time

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: F401 (GstApp registers the appsrc API)
except (ImportError, ValueError) as e:
    print(f"replay_camera: GStreamer RTSP server bindings unavailable: {e}", file=sys.stderr)
    sys.exit(3)


def parse_args():
    p = argparse.ArgumentParser(description="always-on replaying RTSP cameras for benchmarks")
    p.add_argument("--cameras", type=int, default=1)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--gop-seconds", type=float, default=2.0)
    p.add_argument("--gops", type=int, default=2, help="length of the replayed loop, in GOPs")
    p.add_argument("--bitrate", type=int, default=2048, help="x264 target, kbit/s (x264enc's default)")
    p.add_argument("--path", default="/stream")
    p.add_argument("--pattern", choices=["detail", "ball"], default="detail",
                   help="detail: an animated zone plate (about 2 Mbit/s, keyframes about 8x the other frames, like "
                        "a camera filming a busy scene); ball: the test camera's picture (about 0.2 Mbit/s)")
    a = p.parse_args()
    if a.cameras < 1 or a.width <= 0 or a.height <= 0 or a.fps <= 0 or a.gop_seconds <= 0 or a.gops < 1:
        p.error("--cameras, --width, --height, --fps, --gop-seconds and --gops must be positive")
    return a


PATTERNS = {"detail": "pattern=zone-plate kx2=20 ky2=20 kt=1", "ball": "pattern=ball"}


def encode_loop(a):
    """Returns (caps string with codec_data, [(bytes, is_keyframe)]) for gops * gop frames, starting on an IDR."""
    gop = max(1, round(a.fps * a.gop_seconds))
    frames = gop * a.gops
    pipeline = Gst.parse_launch(
        f"videotestsrc {PATTERNS[a.pattern]} num-buffers={frames} ! "
        f"video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 ! videoconvert ! video/x-raw,format=I420 ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={a.bitrate} ! "
        "video/x-h264,profile=constrained-baseline,stream-format=avc,alignment=au ! "
        "appsink name=sink sync=false emit-signals=false max-buffers=0"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    out, caps = [], None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if ok:
            out.append((bytes(info.data), not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
            buf.unmap(info)
        caps = sample.get_caps()
    pipeline.set_state(Gst.State.NULL)
    if not out or caps is None:
        raise RuntimeError("the encoder produced no frames")
    if not out[0][1]:
        raise RuntimeError("the encoded loop does not start with a keyframe")
    codec_data = caps.get_structure(0).get_value("codec_data")
    ok, info = codec_data.map(Gst.MapFlags.READ)
    if not ok:
        raise RuntimeError("no codec_data in the encoder's caps")
    avcc = bytes(info.data).hex()
    codec_data.unmap(info)
    caps_str = (
        f"video/x-h264,stream-format=avc,alignment=au,width={a.width},height={a.height},framerate={a.fps}/1,"
        f"profile=constrained-baseline,codec_data=(buffer){avcc}"
    )
    return caps_str, out, gop


class Camera:
    """One RTSP server whose (shared) media replays the loop from wherever the wall-clock schedule is."""

    def __init__(self, index, a, caps, frames, epoch):
        # Cameras are not in step with each other: each starts its loop at its own (random) point.
        self.index, self.fps, self.frames = index, a.fps, frames
        self.epoch = epoch - random.Random(index).uniform(0, len(frames) / a.fps)
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service("0")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f'( appsrc name=src is-live=true format=time do-timestamp=true caps="{caps}" ! '
            "rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        factory.set_shared(True)
        factory.connect("media-configure", self._configure)
        self.server.get_mount_points().add_factory(a.path, factory)
        if self.server.attach(None) == 0:
            raise RuntimeError("cannot listen on 127.0.0.1")
        self.path = a.path

    def url(self):
        return f"rtsp://127.0.0.1:{self.server.get_bound_port()}{self.path}"

    def _configure(self, _factory, media):
        src = media.get_element().get_child_by_name("src")
        state = {"next": None, "timer": None}

        def due_index():
            return int((time.monotonic() - self.epoch) * self.fps)

        def tick():
            if src.get_state(0)[1] != Gst.State.PLAYING or src.get_clock() is None:
                # Prerolling or paused: frames due now are not sent (a camera does not queue them either).
                state["next"] = None
                state["timer"] = GLib.timeout_add(10, tick)
                return False
            now_index = due_index()
            if state["next"] is None:
                state["next"] = now_index  # join the schedule where it is: mid-GOP, like a running camera
            while state["next"] <= now_index:
                data, _key = self.frames[state["next"] % len(self.frames)]
                buf = Gst.Buffer.new_wrapped(data)
                buf.duration = Gst.SECOND // self.fps
                if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                    # Not playing (yet, or any more): rejoin the schedule once it takes buffers again.
                    state["next"] = None
                    state["timer"] = GLib.timeout_add(10, tick)
                    return False
                state["next"] += 1
            wait_ms = max(1, int(((state["next"] / self.fps) - (time.monotonic() - self.epoch)) * 1000) + 1)
            state["timer"] = GLib.timeout_add(wait_ms, tick)
            return False

        def stop(_media):
            if state["timer"] is not None:
                GLib.source_remove(state["timer"])
                state["timer"] = None

        def start(_media=None):
            if state["timer"] is None:
                state["next"] = None
                state["timer"] = GLib.timeout_add(1, tick)

        media.connect("unprepared", stop)
        media.connect("prepared", start)
        start()


def main():
    a = parse_args()
    Gst.init(None)
    for name in ("videotestsrc", "x264enc", "rtph264pay", "appsrc", "appsink"):
        if Gst.ElementFactory.find(name) is None:
            print(f"replay_camera: GStreamer element '{name}' not available", file=sys.stderr)
            return 3
    caps, frames, gop = encode_loop(a)
    keyframes = sum(1 for _, k in frames if k)
    total = sum(len(d) for d, _ in frames)
    print(f"loop: {len(frames)} frames, {keyframes} keyframes (GOP {gop}), "
          f"{total * 8 * a.fps / len(frames) / 1e6:.2f} Mbit/s", file=sys.stderr, flush=True)
    epoch = time.monotonic()
    cameras = [Camera(i, a, caps, frames, epoch) for i in range(a.cameras)]
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda: (loop.quit(), GLib.SOURCE_REMOVE)[1])
    for c in cameras:
        print(f"READY {c.url()}", flush=True)
    print("ALL READY", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
