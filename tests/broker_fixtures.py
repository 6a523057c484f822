"""Fixtures for the MQTT brokers tests talk to: Debian's mosquitto and the embedded amqtt.

- ``mosquitto`` (function): a started :class:`Mosquitto` on 127.0.0.1 and a free port,
  anonymous, with persistence in ``tmp_path``; ``stop``/``kill``/``restart`` inject faults.
  Skipped with the reason when ``/usr/sbin/mosquitto`` is absent (``make system-deps``).
- ``mosquitto_factory`` (function): ``mosquitto_factory(passwords={...}, acl="...")``
  starts more brokers (with a password file and an ACL when asked); all stopped after.
- ``amqtt_broker`` (function, async): a started ``collector.broker.EmbeddedBroker``.
- ``unique_topic_prefix()``: a fresh ``camnet-test/<hex>`` per call (aiomqtt's
  ``unique_topic``), so tests sharing a broker never see each other's messages.
- ``connect_with_will()``: a raw MQTT 3.1.1 client whose socket a test can drop, so the
  broker publishes its Last Will (clients that DISCONNECT properly never send one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from collector.broker import EmbeddedBroker
from tests.conftest import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def unique_topic_prefix(name: str = "camnet-test") -> str:
    """Return ``name/<12 hex>``: a topic prefix no other test uses."""
    return f"{name}/{uuid.uuid4().hex[:12]}"


class Mosquitto:
    """Debian's mosquitto run as a subprocess, configured in (and persisting to) ``workdir``.

    ``port`` is chosen once, so ``restart()`` comes back on the same address with the same
    persistence file: persistent sessions and their queued QoS 1/2 messages survive it.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        *,
        passwords: dict[str, str] | None = None,
        acl: str | None = None,
        allow_anonymous: bool | None = None,
        port: int | None = None,
    ) -> None:
        """Write the configuration; ``allow_anonymous`` defaults to "no password file"."""
        self.workdir = workdir
        self.port = port or free_port()
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.persistence_dir = workdir / "persistence"
        self.persistence_dir.mkdir(parents=True, exist_ok=True)
        self._stderr_path = workdir / "mosquitto.stderr"
        self._proc: subprocess.Popen[bytes] | None = None
        anonymous = passwords is None if allow_anonymous is None else allow_anonymous
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {str(anonymous).lower()}",
            "persistence true",
            f"persistence_location {self.persistence_dir}/",
            "autosave_interval 1",  # a kill() loses at most the last second
            # Collectors ack late and persistent sessions must keep everything while away.
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # As root mosquitto silently drops to the "mosquitto" user, which cannot write
            # into the 0700 pytest tmp dir: persistence is then lost at shutdown.
            lines.append("user root")
        if passwords is not None:
            lines.append(f"password_file {self._password_file(passwords)}")
        if acl is not None:
            acl_path = workdir / "acl"
            acl_path.write_text(acl.strip() + "\n")
            lines.append(f"acl_file {acl_path}")
        self.config_path.write_text("\n".join(lines) + "\n")

    def _password_file(self, passwords: dict[str, str]) -> Path:
        path = self.workdir / "passwd"
        path.write_text("".join(f"{user}:{pw}\n" for user, pw in passwords.items()))
        path.chmod(0o600)
        # -U hashes the plain "user:password" lines in place.
        subprocess.run([MOSQUITTO_PASSWD, "-U", str(path)], check=True, capture_output=True)
        return path

    @property
    def running(self) -> bool:
        """Whether the mosquitto process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start mosquitto and return once its port accepts connections."""
        if self.running:
            raise RuntimeError("mosquitto is already running")
        with self._stderr_path.open("ab") as stderr:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._proc.returncode}:\n{self._logs()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"mosquitto not listening on {self.port} in {timeout} s:\n{self._logs()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM and wait: mosquitto saves its persistence file on the way out."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"mosquitto ignored SIGTERM for {timeout} s") from None

    def kill(self) -> None:
        """SIGKILL: a crash; whatever arrived since the last autosave (1 s) is lost."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop, then start on the same port with the same persistence."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        """Return mosquitto's log file (connections, errors, persistence saves)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _logs(self) -> str:
        stderr = self._stderr_path.read_text(errors="replace") if self._stderr_path.exists() else ""
        return stderr + self.log_text()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Mosquitto({self.host}:{self.port}, running={self.running})"


MosquittoFactory = Callable[..., Mosquitto]


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Yield ``make(passwords=None, acl=None, allow_anonymous=None)`` -> started broker."""
    if not (Path(MOSQUITTO).exists() and shutil.which(MOSQUITTO_PASSWD)):
        pytest.skip(f"{MOSQUITTO} not installed (Debian package mosquitto; make system-deps)")
    with contextlib.ExitStack() as stack:
        count = 0

        def make(
            *,
            passwords: dict[str, str] | None = None,
            acl: str | None = None,
            allow_anonymous: bool | None = None,
        ) -> Mosquitto:
            nonlocal count
            count += 1
            broker = Mosquitto(
                tmp_path / f"mosquitto-{count}",
                passwords=passwords,
                acl=acl,
                allow_anonymous=allow_anonymous,
            )
            return stack.enter_context(broker)

        yield make


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started anonymous mosquitto with persistence, stopped after the test."""
    return mosquitto_factory()


@pytest.fixture
async def amqtt_broker() -> AsyncIterator[EmbeddedBroker]:
    """A started embedded amqtt broker on a free port, stopped after the test."""
    async with EmbeddedBroker(port=free_port()) as broker:
        yield broker


def _mqtt_string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def _remaining_length(size: int) -> bytes:
    out = bytearray()
    while True:
        size, digit = divmod(size, 128)
        out.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(out)


async def connect_with_will(
    host: str,
    port: int,
    client_id: str,
    will_topic: str,
    will_payload: bytes,
    *,
    qos: int = 1,
    retain: bool = True,
    keepalive: int = 60,
) -> asyncio.StreamWriter:
    """Connect a raw MQTT 3.1.1 client with a Last Will; return its writer after CONNACK.

    ``writer.transport.abort()`` then drops the socket without DISCONNECT, as a crash or a
    lost network would, and the broker publishes the will.
    """
    flags = 0x02 | 0x04 | (qos << 3) | (0x20 if retain else 0)  # clean session + will
    variable = _mqtt_string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    payload = _mqtt_string(client_id) + _mqtt_string(will_topic) + _mqtt_string(will_payload)
    body = variable + payload
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"\x10" + _remaining_length(len(body)) + body)
    connack = await asyncio.wait_for(reader.readexactly(4), 5.0)
    if connack[0] != 0x20 or connack[3] != 0:
        writer.transport.abort()
        raise ConnectionError(f"CONNACK refused: {connack.hex()}")
    return writer
