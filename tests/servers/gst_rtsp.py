"""Debian's GStreamer RTSP server, used as an interoperability peer in tests.

Run with the SYSTEM interpreter (``/usr/bin/python3``), which has ``python3-gi`` and
``gir1.2-gst-rtsp-server-1.0``; the project venv does not::

    /usr/bin/python3 tests/servers/gst_rtsp.py --port 8554 [--user u --password p]

Mount points (640x360, live ``videotestsrc`` with a moving ball and a time overlay):

- ``/h264``: x264enc (zerolatency, a keyframe every 2 s), rtph264pay config-interval=-1.
- ``/h265``: x265enc (zerolatency, a keyframe every 2 s), rtph265pay config-interval=-1.
- ``/secure``: same as ``/h264`` but needs HTTP Basic auth; only served when ``--user``
  and ``--password`` are given. The other mounts stay open to anonymous clients.

Protocol with the parent process:

- stdout gets exactly one line, ``READY <port> <mount>,<mount>...``, once listening.
- Exit status 3 with ``MISSING <what>`` lines on stderr when python3-gi, GstRtspServer or
  a needed GStreamer element is absent (the fixture turns that into a skip).
- SIGTERM / SIGINT stop the main loop and the process exits 0. The process also exits
  when its parent dies, so a crashed test run never leaves a server behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

EXIT_MISSING = 3
WIDTH, HEIGHT, FPS = 640, 360, 15
KEYINT = 2 * FPS  # a keyframe every 2 s, like a typical camera's default GOP

SOURCE = (
    f"videotestsrc is-live=true pattern=ball ! "
    f"video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1 ! "
    "timeoverlay halignment=left valignment=top ! videoconvert ! video/x-raw,format=I420"
)
PIPELINES: dict[str, tuple[tuple[str, ...], str]] = {
    # mount: (elements it needs, launch line)
    "/h264": (
        ("videotestsrc", "timeoverlay", "x264enc", "rtph264pay"),
        f"( {SOURCE} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 "
        f"key-int-max={KEYINT} ! video/x-h264,profile=constrained-baseline ! "
        "rtph264pay name=pay0 pt=96 config-interval=-1 )",
    ),
    "/h265": (
        ("videotestsrc", "timeoverlay", "x265enc", "rtph265pay"),
        f"( {SOURCE} ! x265enc tune=zerolatency speed-preset=ultrafast bitrate=800 "
        f"key-int-max={KEYINT} ! rtph265pay name=pay0 pt=96 config-interval=-1 )",
    ),
}
ANONYMOUS_ROLE = "anonymous"
USER_ROLE = "user"


def _missing(*what: str) -> int:
    for item in what:
        print(f"MISSING {item}", file=sys.stderr, flush=True)
    return EXIT_MISSING


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--user", help="Basic auth user for /secure")
    parser.add_argument("--password", help="Basic auth password for /secure")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve the mounts until SIGTERM; see the module docstring for the protocol."""
    args = _parse_args(argv)
    try:
        import gi  # type: ignore[import-not-found]  # system python3-gi, not in the venv

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import (  # type: ignore[import-not-found]
            GLib,
            Gst,
            GstRtspServer,
        )
    except (ImportError, ValueError) as exc:
        return _missing(f"python3-gi with GstRtspServer 1.0 ({exc})")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    served: dict[str, Any] = {}
    absent: list[str] = []
    for mount, (elements, launch) in PIPELINES.items():
        lacking = [e for e in elements if Gst.ElementFactory.find(e) is None]
        if lacking:
            absent.extend(f"{e} (for {mount})" for e in lacking)
            continue
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)  # one encoder per mount, however many clients
        served[mount] = factory
    if "/h264" not in served:
        return _missing(*absent)
    for item in absent:  # /h265 alone missing: serve the rest and say so
        print(f"MISSING {item}", file=sys.stderr, flush=True)

    if args.user and args.password:
        secure = GstRtspServer.RTSPMediaFactory()
        secure.set_launch(PIPELINES["/h264"][1])
        secure.set_shared(True)
        served["/secure"] = secure
        _setup_auth(GstRtspServer, server, served, args.user, args.password)

    for mount, factory in served.items():
        mounts.add_factory(mount, factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1

    parent = os.getppid()

    def _parent_alive() -> bool:
        if os.getppid() != parent:
            loop.quit()
            return False
        return True

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    GLib.timeout_add_seconds(1, _parent_alive)
    print(f"READY {server.get_bound_port()} {','.join(served)}", flush=True)
    loop.run()
    return 0


def _setup_auth(
    rtsp: Any, server: Any, factories: dict[str, Any], user: str, password: str
) -> None:
    """Require Basic auth on /secure; anonymous clients keep access to the other mounts."""
    auth = rtsp.RTSPAuth()
    user_token = rtsp.RTSPToken()
    user_token.set_string("media.factory.role", USER_ROLE)
    auth.add_basic(rtsp.RTSPAuth.make_basic(user, password), user_token)
    anonymous = rtsp.RTSPToken()
    anonymous.set_string("media.factory.role", ANONYMOUS_ROLE)
    auth.set_default_token(anonymous)
    server.set_auth(auth)

    for mount, factory in factories.items():
        permissions = rtsp.RTSPPermissions()
        permissions.add_permission_for_role(USER_ROLE, "media.factory.access", True)
        permissions.add_permission_for_role(USER_ROLE, "media.factory.construct", True)
        # Anonymous clients may *see* /secure but not construct it: GStreamer then answers
        # 401 with a Basic challenge. Denying access instead would answer 404, and clients
        # (ffprobe, aiortsp) only send credentials after a 401.
        anonymous_may_play = mount != "/secure"
        permissions.add_permission_for_role(ANONYMOUS_ROLE, "media.factory.access", True)
        permissions.add_permission_for_role(
            ANONYMOUS_ROLE, "media.factory.construct", anonymous_may_play
        )
        factory.set_permissions(permissions)


if __name__ == "__main__":
    sys.exit(main())
