"""The RTSP side of one simulated camera: its own listener, requests, auth, sessions.

Methods: OPTIONS, DESCRIBE, SETUP (``RTP/AVP/TCP;interleaved`` or ``RTP/AVP;client_port``),
PLAY, PAUSE, TEARDOWN, GET_PARAMETER and SET_PARAMETER. Auth: Basic or Digest (MD5, no qop,
like most IP cameras). OPTIONS never needs auth. Stream behaviours:

* ``refuse`` closes the listener (connect gets ECONNREFUSED) and drops connections;
* ``silent`` accepts TCP and reads, but never answers and sends no RTP;
* ``auth`` answers 401 to every credential; ``not_found`` answers 404 for the path;
* ``no_rtp`` answers PLAY but sends nothing; ``no_audio`` leaves the audio track out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import urlsplit

from agent.simulator.rtp import Track
from agent.simulator.scenario import CameraSpec
from agent.simulator.streamer import LiveStream, Session

REALM = "IP Camera"
SERVER = "Rtsp Server/3.0"
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
SESSION_TIMEOUT = 60
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    461: "Unsupported Transport",
    501: "Not Implemented",
}
_DIGEST_FIELD = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')
_TRACK = re.compile(r"trackID=(\d+)")


@dataclass
class Request:
    """One parsed RTSP request."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read the next request, skipping interleaved RTCP from the client; None at EOF."""
    while True:
        first = await reader.read(1)
        if not first:
            return None
        if first == b"$":
            head = await reader.readexactly(3)
            await reader.readexactly(int.from_bytes(head[1:3], "big"))
            continue
        if first in b"\r\n":
            continue
        raw = first + await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("utf-8", "replace").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("RTSP/"):
            raise ValueError(f"bad request line: {lines[0][:80]!r}")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        size = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(size) if size else b""
        return Request(parts[0].upper(), parts[1], headers, body)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class RtspCamera:
    """One camera: a listening port, RTSP connections and its ``LiveStream``."""

    def __init__(self, spec: CameraSpec, host: str, port: int, stream: LiveStream) -> None:
        self.spec, self.host, self.port, self.stream = spec, host, port, stream
        self.behaviour = "healthy"
        self.video: Track | None = None
        self.audio: Track | None = None
        self.nonce = secrets.token_hex(16)
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def fault(self) -> str:
        """The current behaviour (``healthy``, ``black``, ``refuse`` ...)."""
        return self.behaviour

    @property
    def public_url(self) -> str:
        """The stream URL without credentials."""
        return f"rtsp://{self.host}:{self.port}{self.spec.path}"

    @property
    def url(self) -> str:
        """The stream URL with credentials when the camera uses auth."""
        if self.spec.auth == "none":
            return self.public_url
        cred = f"{self.spec.username}:{self.spec.password}@"
        return f"rtsp://{cred}{self.host}:{self.port}{self.spec.path}"

    async def listen(self) -> None:
        """Open the listener (same port again after ``refuse``)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def close_listener(self) -> None:
        """Close the listener and every connection (ECONNREFUSED from now on)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._conns.values()):
            writer.close()
        tasks = list(self._conns)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def apply(self, behaviour: str, video: Track, audio: Track | None, restart: bool) -> None:
        """Switch to ``behaviour`` with the given tracks (``restart`` starts at an IDR)."""
        self.behaviour = behaviour
        self.video = video
        self.audio = audio if behaviour != "no_audio" else None
        tracks = [video] if self.audio is None else [video, self.audio]
        for s in list(self.stream.sessions):
            if max([*s.channels, *s.udp], default=0) >= len(tracks):
                self.stream.stop(s)  # its audio track went away
        self.stream.set_tracks(tracks, restart=restart)
        self.stream.paused = behaviour in ("silent", "no_rtp")
        if behaviour == "refuse":
            if self.port == 0:  # still take a port, so the URL refuses rather than not exist
                await self.listen()
            await self.close_listener()
        else:
            await self.listen()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns[task] = writer
        session: list[Session] = []
        try:
            while (req := await read_request(reader)) is not None:
                if self.behaviour == "silent":
                    continue
                writer.write(await self._dispatch(req, session, writer))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ValueError:
            writer.write(self._reply(400, "0"))
        finally:
            for s in session:
                self.stream.stop(s)
            writer.close()
            self._conns.pop(task, None)

    def _reply(
        self, code: int, cseq: str, headers: dict[str, str] | None = None, body: str = ""
    ) -> bytes:
        lines = [
            f"RTSP/1.0 {code} {_REASONS.get(code, 'Error')}",
            f"CSeq: {cseq}",
            f"Server: {SERVER}",
            f"Date: {formatdate(usegmt=True)}",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        data = body.encode()
        if data:
            lines.append(f"Content-Length: {len(data)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + data

    def _authorized(self, req: Request) -> bool:
        spec = self.spec
        if self.behaviour == "auth":
            return False
        if spec.auth == "none":
            return True
        header = req.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        if spec.auth == "basic":
            good = base64.b64encode(f"{spec.username}:{spec.password}".encode()).decode()
            return scheme.lower() == "basic" and hmac.compare_digest(rest.strip(), good)
        if scheme.lower() != "digest":
            return False
        fields = {m[1].lower(): m[2] or m[3] for m in _DIGEST_FIELD.finditer(rest)}
        if fields.get("username") != spec.username or fields.get("nonce") != self.nonce:
            return False
        ha1 = _md5(f"{spec.username}:{REALM}:{spec.password}")
        ha2 = _md5(f"{req.method}:{fields.get('uri', '')}")
        return hmac.compare_digest(fields.get("response", ""), _md5(f"{ha1}:{self.nonce}:{ha2}"))

    def _challenge(self) -> str:
        if self.spec.auth == "basic":
            return f'Basic realm="{REALM}"'
        return f'Digest realm="{REALM}", nonce="{self.nonce}", stale="FALSE"'

    def _path_ok(self, url: str) -> bool:
        path = urlsplit(url).path.rstrip("/") or "/"
        base = self.spec.path
        return base == "/" or path == base or path.startswith(base + "/")

    def sdp(self) -> str:
        """Return the session description of the current tracks."""
        assert self.video is not None
        lines = [
            "v=0",
            f"o=- {abs(hash(self.spec.id)) % 10**9} 1 IN IP4 {self.host}",
            "s=Media Presentation",
            "e=NONE",
            "t=0 0",
            "a=control:*",
            "a=range:npt=now-",
        ]
        for i, track in enumerate([self.video, self.audio]):
            if track is not None:
                lines += [*track.sdp[:1], "c=IN IP4 0.0.0.0", *track.sdp[1:]]
                lines.append(f"a=control:trackID={i}")
        return "\r\n".join(lines) + "\r\n"

    async def _dispatch(
        self, req: Request, session: list[Session], writer: asyncio.StreamWriter
    ) -> bytes:
        cseq = req.headers.get("cseq", "0")
        if req.method == "OPTIONS":
            return self._reply(200, cseq, {"Public": PUBLIC})
        if req.method not in PUBLIC.split(", "):
            return self._reply(501, cseq, {"Allow": PUBLIC})
        if not self._authorized(req):
            return self._reply(401, cseq, {"WWW-Authenticate": self._challenge()})
        if self.behaviour == "not_found" or not self._path_ok(req.url):
            return self._reply(404, cseq)
        sid = req.headers.get("session", "").split(";")[0].strip()
        current = session[0] if session else None
        if sid and (current is None or sid != current.id):
            return self._reply(454, cseq)
        if current is not None:
            current.last_seen = asyncio.get_running_loop().time()
        base = f"rtsp://{self.host}:{self.port}{self.spec.path.rstrip('/')}/"
        if req.method == "DESCRIBE":
            headers = {"Content-Base": base, "Content-Type": "application/sdp"}
            return self._reply(200, cseq, headers, self.sdp())
        if req.method == "SETUP":
            return await self._setup(req, cseq, session, writer)
        if current is None:
            return self._reply(454, cseq)
        sess = {"Session": current.id}
        if req.method == "PLAY":
            if not current.channels and not current.udp:
                return self._reply(455, cseq, sess)
            infos = []
            for index in sorted({*current.channels, *current.udp}):
                seq, rtptime = self.stream.rtp_info(index)
                infos.append(f"url={base}trackID={index};seq={seq};rtptime={rtptime}")
            self.stream.play(current)
            return self._reply(
                200, cseq, {**sess, "Range": "npt=now-", "RTP-Info": ",".join(infos)}
            )
        if req.method in ("PAUSE", "TEARDOWN"):
            self.stream.stop(current)
            if req.method == "TEARDOWN":
                session.clear()
        return self._reply(200, cseq, sess)

    async def _setup(
        self, req: Request, cseq: str, session: list[Session], writer: asyncio.StreamWriter
    ) -> bytes:
        match = _TRACK.search(req.url)
        index = int(match.group(1)) if match else 0
        if index >= len(self.stream.tracks):
            return self._reply(404, cseq)
        if not session:
            session.append(Session(id=str(secrets.randbelow(9 * 10**8) + 10**8)))
        s = session[0]
        transport = req.headers.get("transport", "")
        ssrc = f"{self.stream.ssrc(index):08X}"
        if "RTP/AVP/TCP" in transport.upper():
            m = re.search(r"interleaved=(\d+)", transport)
            ch = int(m.group(1)) if m else 2 * index
            s.writer = writer.transport
            s.channels[index] = ch
            reply = f'RTP/AVP/TCP;unicast;interleaved={ch}-{ch + 1};ssrc={ssrc};mode="play"'
        else:
            m = re.search(r"client_port=(\d+)(?:-(\d+))?", transport)
            if m is None or "multicast" in transport.lower():
                return self._reply(461, cseq)
            peer = writer.get_extra_info("peername")[0]
            client = int(m.group(1))
            rtp, rtcp = await self.stream.udp_ports(index)
            s.udp[index] = (peer, client)
            reply = (
                f"RTP/AVP;unicast;client_port={client}-{m.group(2) or client + 1};"
                f'server_port={rtp}-{rtcp};ssrc={ssrc};mode="play"'
            )
        headers = {"Session": f"{s.id};timeout={SESSION_TIMEOUT}", "Transport": reply}
        return self._reply(200, cseq, headers)

    async def close(self) -> None:
        """Close the listener, the connections and the stream."""
        with contextlib.suppress(Exception):
            await self.close_listener()
        self.stream.close()
