"""How the collector reads its MQTT socket: buffered, and paused while storing lags.

Two gaps of aiomqtt 2.5 / paho 2.2 that matter at thousands of reports a second:

* paho reads a packet with three or more ``recv`` calls (one byte of command, the length
  byte by byte, then the body): :class:`ReadGate` gives paho a buffered ``recv`` that
  takes 64 KiB from the socket at a time and serves those small reads from memory.
* aiomqtt cannot stop reading (aiomqtt #108), and acknowledging after commit does not
  bound what the collector holds: mosquitto 2.0.11 releases more than its in-flight
  window once acks flow (``benchmarks/ingest.py`` saw 130,000 unacknowledged messages
  held). Above ``high`` messages waiting, the gate takes the socket out of the event loop
  (TCP backpressure leaves the rest queued in the broker); below ``high / 2`` it reads
  again.

Both reach into aiomqtt's paho client (``client._client``) the way aiomqtt's own socket
callback does; they live in this one module.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import aiomqtt

CHUNK = 65536
#: Packets handled per event-loop turn, so a backlog never starves the other tasks.
PACKETS_PER_TURN = 2000


class ReadGate:
    """Own the read side of one aiomqtt connection."""

    def __init__(self, client: aiomqtt.Client, high: int, queued: Callable[[], int]) -> None:
        self.client = client
        self.paho = client._client
        self.high = high
        self.queued = queued
        self.paused = False
        self.pauses = 0
        self._buf = b""
        self._pos = 0
        self._fd = -1

    def install(self) -> None:
        """Replace aiomqtt's socket callback and paho's ``recv`` with the buffered ones."""
        sock = self.paho.socket()
        if sock is None:
            return
        self._fd = sock.fileno()
        self.paho._sock_recv = self._recv  # type: ignore[method-assign,assignment]
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        loop.add_reader(self._fd, self._read)

    def waiting(self) -> int:
        """Messages read but not stored yet (ours and aiomqtt's queue)."""
        return self.queued() + self.client._queue.qsize()

    def check(self) -> None:
        """Pause or resume reading for the messages now waiting."""
        loop = asyncio.get_running_loop()
        if not self.paused and self.waiting() >= self.high:
            loop.remove_reader(self._fd)
            self.paused, self.pauses = True, self.pauses + 1
        elif self.paused and self.waiting() <= self.high // 2:
            self.paused = False
            if self.paho.socket() is not None:
                loop.add_reader(self._fd, self._read)
                loop.call_soon(self._read)  # bytes may be waiting in our buffer already

    def _recv(self, size: int) -> bytes:
        """Stand in for paho's ``_sock_recv``: serve the buffer, refill with one ``recv``."""
        if self._pos >= len(self._buf):
            sock = self.paho._sock
            if sock is None:
                raise ConnectionError("self._sock is None")
            try:
                self._buf, self._pos = sock.recv(CHUNK), 0
            except ssl.SSLWantReadError as err:
                raise BlockingIOError from err
            except ssl.SSLWantWriteError as err:
                self.paho._call_socket_register_write()
                raise BlockingIOError from err
            if not self._buf:
                return b""  # the peer closed: paho sees connection lost
        out = self._buf[self._pos : self._pos + size]
        self._pos += len(out)
        return out

    def _buffered(self) -> bool:
        if self._pos < len(self._buf):
            return True
        pending = getattr(self.paho.socket(), "pending", None)  # TLS: decoded, not read
        return bool(pending and pending() > 0)

    def _read(self) -> None:
        if self.paused:
            return
        try:
            for _ in range(PACKETS_PER_TURN):
                self.paho.loop_read()
                if not self._buffered():
                    return
                if self.waiting() >= self.high:
                    self.check()
                    return
            asyncio.get_running_loop().call_soon(self._read)  # more buffered: next turn
        except Exception as exc:  # noqa: BLE001 - a broken link ends the session, as in aiomqtt
            done = self.client._disconnected
            if not done.done():
                done.set_exception(exc)
