"""How the collector reads its MQTT socket: in chunks, PUBLISH parsed in bulk, paused at need.

Three gaps of aiomqtt 2.5 / paho 2.2 that matter at thousands of reports a second:

* paho reads a packet with three or more ``recv`` calls and takes each PUBLISH through
  several layers (decode, message object, callbacks, aiomqtt's wrapper and queue): about
  90 µs a message on the benchmark machine, which capped a bare aiomqtt subscriber at
  11,000 messages/s. :class:`ReadGate` reads 64 KiB at a time and parses QoS 0/1 PUBLISH
  packets itself (a few µs each) into :class:`collector.batch.Incoming`, stamped with the
  time of the read that brought them; every other packet (CONNACK,
  SUBACK, PINGRESP, the PUBACKs of the collector's own events, QoS 2) goes to paho whole,
  through a ``recv`` that serves exactly that packet's bytes.
* Acknowledgements after commit go out as one write per batch (:meth:`ReadGate.ack`)
  instead of one paho call and one packet each.
* aiomqtt cannot stop reading (aiomqtt #108), and acknowledging after commit does not
  bound what the collector holds: mosquitto 2.0.11 releases more than its in-flight
  window once acks flow (``benchmarks/ingest.py`` saw 130,000 unacknowledged messages
  held). Above ``high`` messages waiting, the gate takes the socket out of the event loop
  (TCP backpressure leaves the rest queued in the broker); below ``high / 2`` it reads
  again.

All of it reaches into aiomqtt's paho client (``client._client``) the way aiomqtt's own
socket callbacks do; it lives in this one module.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime

import aiomqtt
from paho.mqtt.client import MQTTv5

from collector.batch import Incoming

CHUNK = 65536
_PUBACK = 0x40
_tuple_new = tuple.__new__


def incoming_of(message: aiomqtt.Message, at: datetime) -> Incoming:
    """A message paho parsed itself (QoS 2, or read before the gate was installed)."""
    payload = message.payload
    data = bytes(payload) if isinstance(payload, bytes | bytearray) else str(payload).encode()
    return Incoming(message.topic.value, data, at, bool(message.retain), message.qos, message.mid)


class Inbox:
    """Messages read and not yet taken into a batch: a deque, taken a batch at a time.

    (An ``asyncio.Queue`` costs about 1.5 µs a message to put and get one by one.)
    A connection failure is put in as well, so the batch before it is still stored.
    """

    def __init__(self) -> None:
        self._items: deque[Incoming | aiomqtt.MqttError] = deque()
        self._ready = asyncio.Event()

    def put(self, item: Incoming | aiomqtt.MqttError) -> None:
        """Add ``item`` and wake a waiting ``take``."""
        self._items.append(item)
        self._ready.set()

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._items)

    async def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for an item; whether there is one.

        Not ``asyncio.wait_for``: on Python 3.11 it returns normally when its task is
        cancelled in the loop turn an item arrives, and the cancel is lost (the store
        loop then never ends and the collector cannot stop). ``asyncio.timeout`` keeps it.
        """
        if not self._items:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._ready.wait()
        return bool(self._items)

    def take(self, most: int, into: list[Incoming]) -> aiomqtt.MqttError | None:
        """Move up to ``most`` messages into ``into``; stop at (and return) a failure."""
        items, n = self._items, min(most, len(self._items))
        for _ in range(n):
            item = items.popleft()
            if isinstance(item, aiomqtt.MqttError):
                return item
            into.append(item)
        return None


class ReadGate:
    """Own the read side of one aiomqtt connection."""

    def __init__(
        self,
        client: aiomqtt.Client,
        high: int,
        deliver: Callable[[Incoming], None],
        queued: Callable[[], int],
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.clock = clock
        self._now = clock()  # when the bytes in the buffer were read
        self.paho = client._client
        self.high = high
        self.deliver = deliver
        self.queued = queued
        self.paused = False
        self.pauses = 0
        self.parsed = 0  # PUBLISH packets parsed here (not by paho)
        self._buf = b""
        self._pos = 0  # bytes before it are handled
        self._limit = 0  # paho may read up to here: the packet handed to it
        self._eof = False
        self._fd = -1
        self._v5 = self.paho._protocol == MQTTv5

    def install(self) -> None:
        """Take the socket from aiomqtt's callback and paho's ``recv``."""
        sock = self.paho.socket()
        if sock is None:
            return
        self._fd = sock.fileno()
        self.paho._sock_recv = self._recv  # type: ignore[method-assign,assignment]
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        loop.add_reader(self._fd, self._read)
        self._take_queued()  # paho's, read right after CONNACK: they came first

    def _take_queued(self) -> None:
        """Deliver, in order, what paho parsed itself (see :func:`incoming_of`)."""
        queue = self.client._queue
        while not queue.empty():
            self.deliver(incoming_of(queue.get_nowait(), self.clock()))

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
                loop.call_soon(self._resume)  # whole packets may be waiting in our buffer

    def ack(self, batch: Iterable[Incoming]) -> None:
        """Acknowledge ``batch`` after its commit: its QoS 1 PUBACKs in one write."""
        blob = bytearray()
        for m in batch:
            if m.qos == 1:
                blob += b"\x40\x02" + m.mid.to_bytes(2, "big")
            elif m.qos == 2:
                self.paho.ack(m.mid, m.qos)  # PUBCOMP: paho keeps the QoS 2 state
        if blob:
            self.paho._packet_queue(_PUBACK, bytes(blob), 0, 0)

    # ------------------------------------------------------------------ reading
    def _recv(self, size: int) -> bytes:
        """Stand in for paho's ``_sock_recv``: only the bytes of the packet handed over."""
        if self._pos >= self._limit:
            if self._eof:
                return b""  # the peer closed: paho sees the connection lost
            raise BlockingIOError
        end = min(self._pos + size, self._limit)
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def _read(self) -> None:
        if self.paused:
            return
        sock = self.paho._sock
        if sock is None:
            return
        try:
            data = sock.recv(CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except ssl.SSLWantWriteError:
            self.paho._call_socket_register_write()
            return
        except OSError as exc:
            self._lost(exc)
            return
        self._eof = not data
        with self.paho._msgtime_mutex:  # paho's keepalive counts bytes received
            self.paho._last_bytes_received = time.monotonic()
        self._buf = self._buf[self._pos :] + data
        self._pos = self._limit = 0
        self._now = self.clock()
        self._resume()
        pending = getattr(sock, "pending", None)  # TLS: decrypted but not read yet
        if not self.paused and pending is not None and pending() > 0:
            asyncio.get_running_loop().call_soon(self._read)

    def _resume(self) -> None:
        try:
            self._drain()
            if self._eof and not self.paused:  # let paho read the rest and see the end
                self._limit = len(self._buf)
                self.paho.loop_read()
        except Exception as exc:  # noqa: BLE001 - a broken link ends the session, as in aiomqtt
            self._lost(exc)

    def _drain(self) -> None:
        """Handle every whole packet in the buffer, until paused."""
        buf, n = self._buf, len(self._buf)
        if self.paho._in_packet["command"] != 0:  # paho was inside a packet at install
            self._limit = n
            self.paho.loop_read()
            self._take_queued()
        pos = self._pos
        while pos + 1 < n and not self.paused:
            length, shift, at = 0, 0, pos + 1
            while at < n and buf[at] & 0x80 and shift < 21:
                length |= (buf[at] & 0x7F) << shift
                shift, at = shift + 7, at + 1
            if at >= n:
                break  # the length is not all here yet
            if buf[at] & 0x80:  # a fifth length byte: let paho refuse the packet
                self._pos, self._limit = pos, n
                self.paho.loop_read()
                return
            length |= buf[at] << shift
            end = at + 1 + length
            if end > n:
                break  # the packet is not all here yet
            cmd = buf[pos]
            if cmd & 0xF6 in (0x30, 0x32):  # PUBLISH at QoS 0 or 1
                self.deliver(self._publish(buf, cmd, at + 1, end))
                self.parsed += 1
                pos = end
                if self.waiting() >= self.high:
                    self.check()
                continue
            self._pos, self._limit = pos, end  # paho handles exactly this packet
            self.paho.loop_read()
            if self.paho._sock is None:
                return  # paho closed the connection (a protocol error)
            self._take_queued()  # a QoS 2 message is complete on its PUBREL
            pos = end
        self._pos = self._limit = pos

    def _publish(self, buf: bytes, cmd: int, at: int, end: int) -> Incoming:
        size = buf[at] << 8 | buf[at + 1]
        p = at + 2 + size
        topic = buf[at + 2 : p].decode("utf-8", "replace")  # a bad name is quarantined
        qos, mid = (cmd >> 1) & 3, 0
        if qos:
            mid, p = buf[p] << 8 | buf[p + 1], p + 2
        if self._v5:  # skip the properties: the collector uses none
            length, shift = 0, 0
            while buf[p] & 0x80:
                length, shift, p = length | (buf[p] & 0x7F) << shift, shift + 7, p + 1
            p += 1 + (length | buf[p] << shift)
        # tuple.__new__: a NamedTuple's own __new__ is a Python function (0.5 µs more)
        return _tuple_new(Incoming, (topic, buf[p:end], self._now, bool(cmd & 1), qos, mid))

    def _lost(self, exc: BaseException) -> None:
        done = self.client._disconnected
        if not done.done():
            done.set_exception(exc)
