"""Fixtures and helpers for tests that talk to the camera simulator.

``simulator`` is a factory: ``sim = await simulator(config_or_dict)`` starts a ``Simulator``
on free ports with a clip cache shared by the whole test session (clips are encoded once)
and stops it after the test. ``RtspClient`` is a minimal raw RTSP client for checking the
protocol byte by byte; ``ffprobe`` and ``decode_frames`` use real clients.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest

from agent.simulator.scenario import SimulatorConfig
from agent.simulator.simulator import Simulator

SMALL = {"width": 320, "height": 180, "fps": 25, "gop": 1.0}
SimFactory = Callable[[SimulatorConfig | dict[str, Any]], Awaitable[Simulator]]


@pytest.fixture(scope="session")
def sim_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip cache for the session: each clip is encoded once."""
    return tmp_path_factory.mktemp("camnet-sim-cache")


@pytest.fixture
async def simulator(sim_cache_dir: Path) -> AsyncIterator[SimFactory]:
    """Factory starting simulators on free ports; all are stopped after the test.

    A dict config gets small test clips (320x180, 25 fps, 1 s GOP, 2 s loop) by default.
    """
    started: list[Simulator] = []

    async def make(config: SimulatorConfig | dict[str, Any]) -> Simulator:
        if isinstance(config, dict):
            data = {"clip_seconds": 2.0, **config}
            data["defaults"] = {**SMALL, **data.get("defaults", {})}
            config = SimulatorConfig.model_validate(data)
        if config.cache_dir is None:
            config = config.model_copy(update={"cache_dir": sim_cache_dir})
        sim = Simulator(config)
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in reversed(started):
        await sim.stop()


async def ffprobe(url: str, transport: str = "tcp", limit: float = 20.0) -> list[dict[str, Any]]:
    """Return ffprobe's streams of ``url`` (codec_name, width, height, ...)."""
    proc = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        "-rtsp_transport",
        transport,
        "-analyzeduration",
        "1500000",
        "-show_streams",
        "-of",
        "json",
        url,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    streams: list[dict[str, Any]] = json.loads(out)["streams"]
    return streams


def _decode(url: str, count: int, timeout: float) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=timeout) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) >= count:
                break
    return frames


async def decode_frames(url: str, count: int = 3, limit: float = 10.0) -> list[np.ndarray]:
    """Decode ``count`` frames of ``url`` with PyAV (RTSP over TCP) in a joined thread."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="test-decode") as pool:
        return await asyncio.wait_for(
            loop.run_in_executor(pool, _decode, url, count, limit), limit + 5
        )


def strip_credentials(url: str) -> tuple[str, str, str]:
    """Return (url without credentials, user, password)."""
    p = urlsplit(url)
    netloc = f"{p.hostname}:{p.port}"
    return urlunsplit((p.scheme, netloc, p.path, "", "")), p.username or "", p.password or ""


class RtspClient:
    """A deliberately small RTSP client over one TCP connection (for protocol tests)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.cseq = 0
        self.rtp: list[tuple[int, bytes]] = []

    @classmethod
    async def connect(cls, port: int) -> RtspClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, limit: float = 5.0
    ) -> tuple[int, dict[str, str], str]:
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: camnet-test"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await asyncio.wait_for(self._response(), limit)

    async def _response(self) -> tuple[int, dict[str, str], str]:
        while True:
            first = await self.reader.readexactly(1)
            if first == b"$":
                ch, size = struct.unpack("!BH", await self.reader.readexactly(3))
                self.rtp.append((ch, await self.reader.readexactly(size)))
                continue
            head = (first + await self.reader.readuntil(b"\r\n\r\n")).decode()
            status = head.split("\r\n")[0].split()
            headers = {}
            for line in head.split("\r\n")[1:]:
                k, sep, v = line.partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            size = int(headers.get("content-length", "0"))
            body = (await self.reader.readexactly(size)).decode() if size else ""
            return int(status[1]), headers, body

    async def read_rtp(self, seconds: float) -> list[tuple[int, bytes]]:
        """Collect interleaved packets for ``seconds``; return (channel, packet) pairs."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        got: list[tuple[int, bytes]] = []
        try:
            while (left := end - loop.time()) > 0:
                first = await asyncio.wait_for(self.reader.readexactly(1), left)
                assert first == b"$", f"expected interleaved data, got {first!r}"
                ch, size = struct.unpack("!BH", await self.reader.readexactly(3))
                got.append((ch, await self.reader.readexactly(size)))
        except TimeoutError:
            pass
        return got

    async def play_tcp(
        self, url: str, auth: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        """DESCRIBE, SETUP track 0 over TCP, PLAY; return PLAY's status and headers."""
        code, headers, _ = await self.request("DESCRIBE", url, auth)
        assert code == 200, code
        base = headers["content-base"]
        code, headers, _ = await self.request(
            "SETUP",
            base + "trackID=0",
            {**(auth or {}), "Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"},
        )
        assert code == 200, code
        session = headers["session"].split(";")[0]
        code, headers, _ = await self.request("PLAY", url, {**(auth or {}), "Session": session})
        return code, headers


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def digest_auth(challenge: str, method: str, uri: str, user: str, password: str) -> dict[str, str]:
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{user}:{fields['realm']}:{password}")
    response = md5(f"{ha1}:{fields['nonce']}:{md5(f'{method}:{uri}')}")
    value = (
        f'Digest username="{user}", realm="{fields["realm"]}", nonce="{fields["nonce"]}", '
        f'uri="{uri}", response="{response}"'
    )
    return {"Authorization": value}


def h264_nal_types(packet: bytes) -> int:
    """Return the NAL type carried by an H.264 RTP packet (inner type for FU-A)."""
    payload = packet[12:]
    kind = payload[0] & 0x1F
    return payload[1] & 0x1F if kind == 28 else kind


async def http(
    port: int, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """Send one HTTP/1.1 request to 127.0.0.1:port; return (status, JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n\r\n"
    writer.write(head.encode() + data)
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    status_head, _, payload = raw.partition(b"\r\n\r\n")
    return int(status_head.split()[1]), json.loads(payload)
