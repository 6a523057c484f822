"""The agent publishing over MQTT against real brokers (amqtt in-process, mosquitto).

Faults are injected on the real thing: the broker stopped and started again, a TCP proxy
that refuses (broker unreachable) or drops the agent's connection without a word (the
broker then publishes the Last Will), a broker refusing the agent's password.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest
from pydantic import SecretStr

from agent.config import AgentConfig, CameraConfig, MqttConfig, load_config
from agent.daemon import run
from agent.errors import InvalidConfigError
from agent.messages import AgentStatus, HealthReport, ProbeReport, Snapshot, status_topic
from agent.metrics import AgentMetrics
from agent.outbox import Outbox
from agent.publisher import MqttPublisher
from collector.broker import EmbeddedBroker
from tests import broker_fixtures as bf
from tests import simulator_fixtures as fx
from tests.conftest import free_port

amqtt_broker = bf.amqtt_broker
mosquitto = bf.mosquitto
mosquitto_factory = bf.mosquitto_factory
simulator = fx.simulator
sim_cache_dir = fx.sim_cache_dir

AGENT = "agent-1"
COMMUNE = "00127"


class Listener:
    """An aiomqtt subscriber collecting every camnet message; reconnects by itself.

    With ``client_id`` its session is persistent, so a broker that keeps sessions (mosquitto)
    queues what arrives while the listener is away.
    """

    def __init__(self, host: str, port: int, client_id: str | None = None) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.messages: list[aiomqtt.Message] = []
        self._changed = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._loop())
        await asyncio.wait_for(self._subscribed.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    clean_session=self.client_id is None,
                ) as client:
                    await client.subscribe("camnet/v1/#", qos=1)  # again in every connection
                    self._subscribed.set()
                    async for message in client.messages:
                        self.messages.append(message)
                        self._changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    async def wait_for(self, what: Callable[[], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not what():
                self._changed.clear()
                await self._changed.wait()

    def of_kind(self, kind: str) -> list[aiomqtt.Message]:
        return [m for m in self.messages if m.topic.value.endswith("/" + kind)]

    def health(self) -> list[HealthReport]:
        out = []
        for m in self.of_kind("health"):
            report = HealthReport.model_validate_json(payload(m))
            assert m.topic.value == report.topic()
            out.append(report)
        return out

    def snapshots(self) -> list[Snapshot]:
        out = []
        for m in self.of_kind("snapshot"):
            snap = Snapshot.model_validate_json(payload(m))
            assert m.topic.value == snap.topic()
            out.append(snap)
        return out

    def statuses(self) -> list[AgentStatus]:
        return [AgentStatus.model_validate_json(payload(m)) for m in self.of_kind("status")]


def payload(message: aiomqtt.Message) -> bytes:
    assert isinstance(message.payload, bytes | bytearray)
    return bytes(message.payload)


def of_camera(items: list[Any], camera: str) -> list[Any]:
    return [i for i in items if i.camera_id == camera]


def unique(reports: list[HealthReport]) -> list[int]:
    """Seqs in arrival order, duplicates (a resend after reconnect) removed."""
    seen: set[str] = set()
    seqs = []
    for r in reports:
        if r.report_id not in seen:
            seen.add(r.report_id)
            seqs.append(r.seq)
    return seqs


async def retained_status(host: str, port: int, agent_id: str = AGENT) -> AgentStatus:
    """What a newcomer learns about the agent: the retained status message."""
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(status_topic(agent_id), qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.retain
                return AgentStatus.model_validate_json(payload(message))
    raise AssertionError("unreachable")


class TcpProxy:
    """127.0.0.1:port -> target. Closed: the broker is unreachable. ``sever()``: every
    connection is dropped without a word, like a cut cable.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.sever()

    def sever(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@contextlib.asynccontextmanager
async def proxy_to(port: int, *, open_now: bool) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(port)
    if open_now:
        await proxy.open()
    try:
        yield proxy
    finally:
        await proxy.close()


V311 = "3.1.1"  # amqtt speaks MQTT 3.1.1 only; mosquitto both (the default, 5)


def settings(port: int, **extra: Any) -> MqttConfig:
    defaults: dict[str, Any] = {"host": "127.0.0.1", "port": port, "backoff_max": 0.3}
    return MqttConfig(**{**defaults, **extra})


def report(camera: str, status: str = "ok") -> ProbeReport:
    cause = "unreachable" if status == "down" else None
    return ProbeReport.model_validate(
        {"url": f"rtsp://192.0.2.1/{camera}", "camera_id": camera, "status": status,
         "cause": cause, "probed_at": datetime.now(UTC)}
    )  # fmt: skip


@contextlib.asynccontextmanager
async def publisher(
    tmp_path: Path, mqtt: MqttConfig, metrics: AgentMetrics | None = None
) -> AsyncIterator[MqttPublisher]:
    outbox = Outbox(tmp_path / "outbox.sqlite", mqtt.outbox_max)
    try:
        async with MqttPublisher(
            mqtt, outbox, agent_id=AGENT, commune=COMMUNE, cameras=3, metrics=metrics
        ) as pub:
            yield pub
    finally:
        outbox.close()


def left_in_outbox(tmp_path: Path) -> int:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    try:
        return outbox.pending()
    finally:
        outbox.close()


# --------------------------------------------------------------------------- the daemon


def site(tmp_path: Path, sim: Any, mqtt: MqttConfig, **extra: Any) -> AgentConfig:
    cameras = [CameraConfig(id=cid, url=cam.url) for cid, cam in sim.cameras.items()]
    options: dict[str, Any] = {
        "agent_id": AGENT,
        "commune": COMMUNE,
        "timeout": 4,
        "state_dir": tmp_path / "state",
        "reports": None,
        "metrics_port": 0,
        "mqtt": mqtt,
        "cameras": cameras,
    }
    return AgentConfig(**{**options, **extra})


async def test_agent_publishes_reports_snapshots_and_its_status(
    tmp_path: Path, simulator: fx.SimFactory, amqtt_broker: EmbeddedBroker
) -> None:
    sim = await simulator({"cameras": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}]})
    mqtt = settings(amqtt_broker.port, heartbeat=0.5, protocol=V311)
    config = site(tmp_path, sim, mqtt, interval=1.0)
    async with Listener(amqtt_broker.host, amqtt_broker.port) as listener:
        task = asyncio.create_task(run(config))
        first = {"c1", "c2", "c3"}
        await listener.wait_for(lambda: {s.camera_id for s in listener.snapshots()} == first)
        await listener.wait_for(lambda: len(listener.statuses()) >= 2)  # online + heartbeat
        await sim.set_fault("c2", "black")
        await listener.wait_for(
            lambda: any(r.camera_id == "c2" and "black" in r.faults for r in listener.health())
        )
        await listener.wait_for(lambda: len(of_camera(listener.snapshots(), "c2")) == 2)
        await listener.wait_for(lambda: len(of_camera(listener.health(), "c1")) >= 2)
        task.cancel()
        await task
        await listener.wait_for(lambda: listener.statuses()[-1].state == "offline")

    health = listener.health()
    assert len(health) >= 4
    assert all(r.agent_id == AGENT and r.commune == COMMUNE for r in health)
    assert unique(health) == list(range(len(health)))  # in order, no gap, no duplicate
    statuses = listener.statuses()
    assert statuses[0].state == "online"
    assert statuses[0].cameras == 3
    assert statuses[-1].state == "offline"
    assert all(s.state == "online" for s in statuses[:-1])
    assert (await retained_status(amqtt_broker.host, amqtt_broker.port)).state == "offline"

    by_id = {r.report_id: r for r in health}
    snaps = listener.snapshots()
    for snap in snaps:
        assert snap.reason == "status_change"  # first report after start, and the flip
        assert by_id[snap.report_id].camera_id == snap.camera_id
        assert snap.width == 320
        jpeg = base64.b64decode(snap.jpeg_base64)
        assert jpeg[:2] == b"\xff\xd8"
        assert len(jpeg) < 30_000
    assert [by_id[s.report_id].status for s in of_camera(snaps, "c2")] == ["ok", "down"]
    # an unchanged camera gets no second snapshot the same day
    assert len(of_camera(snaps, "c1")) == 1
    box = Outbox(config.outbox_path())
    assert box.pending() == 0
    box.close()


async def test_once_delivers_the_outbox_before_returning(
    tmp_path: Path, simulator: fx.SimFactory, amqtt_broker: EmbeddedBroker
) -> None:
    sim = await simulator({"cameras": [{"id": "c1"}, {"id": "c2", "fault": "refuse"}]})
    config = site(
        tmp_path,
        sim,
        settings(amqtt_broker.port, protocol=V311),
        reports=str(tmp_path / "reports.jsonl"),
    )
    async with Listener(amqtt_broker.host, amqtt_broker.port) as listener:
        await run(config, once=True)
        # everything was acknowledged before run() returned
        assert {r.camera_id: r.status for r in listener.health()} == {"c1": "ok", "c2": "down"}
        assert [s.camera_id for s in listener.snapshots()] == ["c1"]  # no picture, no snapshot
    assert len((tmp_path / "reports.jsonl").read_text().splitlines()) == 2  # JSONL still on
    box = Outbox(config.outbox_path())
    assert box.pending() == 0
    assert box.next_seq() == 2  # the next run goes on from here
    box.close()


async def test_snapshots_on_change_and_daily_and_not_again_after_a_restart(
    tmp_path: Path,
) -> None:
    picture = np.full((360, 640, 3), 90, dtype=np.uint8)
    picture[100:200, 200:400] = (30, 160, 220)
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    mqtt = settings(free_port())  # never started: this test reads the outbox

    async def reasons(steps: list[tuple[str, float, bool]]) -> list[str | None]:
        out: list[str | None] = []
        async with publisher(tmp_path, mqtt) as pub:
            await pub.stop()  # nothing is sent: the outbox keeps everything
            for status, hours, with_picture in steps:
                before = pub.outbox.pending()
                probe = report("c1", status).model_copy(
                    update={"probed_at": t0 + timedelta(hours=hours)}
                )
                await pub.submit(probe, picture if with_picture else None)
                added = pub.outbox.peek(1000)[before:]  # the health report, maybe a snapshot
                snaps = [Snapshot.model_validate_json(m.payload) for m in added[1:]]
                out.append(snaps[0].reason if snaps else None)
        return out

    # first report, same day, a day later, a change, down without a picture, back up
    assert await reasons(
        [("ok", 0, True), ("ok", 1, True), ("ok", 25, True), ("degraded", 26, True),
         ("down", 27, False), ("ok", 28, True)]
    ) == ["status_change", None, "daily", "status_change", None, "status_change"]  # fmt: skip
    # a restart (a new publisher on the same outbox): no snapshot the collector already has
    assert await reasons([("ok", 29, True), ("degraded", 30, True)]) == [None, "status_change"]
    box = Outbox(tmp_path / "outbox.sqlite")
    snap = Snapshot.model_validate_json(box.peek(100)[-1].payload)
    box.close()
    assert (snap.width, snap.height) == (320, 180)
    assert base64.b64decode(snap.jpeg_base64)[:2] == b"\xff\xd8"


# --------------------------------------------------------------------------- store and forward


async def test_reports_wait_in_the_outbox_while_the_broker_is_away(
    tmp_path: Path, mosquitto: bf.Mosquitto
) -> None:
    metrics = AgentMetrics()
    async with Listener(mosquitto.host, mosquitto.port, client_id="listener") as listener:
        mosquitto.stop()  # absent when the agent starts (the listener's session is kept)
        async with publisher(tmp_path, settings(mosquitto.port), metrics) as pub:
            for i in range(30):
                await pub.submit(report(f"c{i % 3}"))
            await asyncio.sleep(0.5)
            assert pub.outbox.pending() == 30
            assert not pub.connected
            assert metrics.connected._value.get() == 0
            assert metrics.outbox_pending._value.get() == 30

            mosquitto.start()
            await listener.wait_for(lambda: len(set(unique(listener.health()))) == 30)
            async with asyncio.timeout(5):
                await pub.flush()  # the PUBACKs may trail the deliveries a little

            mosquitto.stop()  # stopped mid-run
            for i in range(30):
                await pub.submit(report(f"c{i % 3}"))
            await asyncio.sleep(0.3)
            assert pub.outbox.pending() == 30
            mosquitto.start()
            await listener.wait_for(lambda: len(set(unique(listener.health()))) == 60)
            await pub.flush()
            assert pub.connected
            assert pub.connections == 2
            assert metrics.reconnects._value.get() == 1
            assert metrics.published.labels("health")._value.get() >= 60
    assert unique(listener.health()) == list(range(60))  # every report, in order, no gap


async def test_a_clean_stop_delivers_the_outbox_first(
    tmp_path: Path, amqtt_broker: EmbeddedBroker
) -> None:
    async with Listener(amqtt_broker.host, amqtt_broker.port) as listener:
        async with publisher(tmp_path, settings(amqtt_broker.port, protocol=V311)) as pub:
            await listener.wait_for(lambda: bool(listener.statuses()))  # connected
            for i in range(200):
                await pub.submit(report(f"c{i % 3}"))
            pending_at_stop = pub.outbox.pending()
        assert pending_at_stop > 0  # what the stop had to deliver
        assert left_in_outbox(tmp_path) == 0
        await listener.wait_for(lambda: listener.statuses()[-1].state == "offline")
    assert unique(listener.health()) == list(range(200))


async def test_a_stop_with_the_broker_away_keeps_the_outbox(
    tmp_path: Path, amqtt_broker: EmbeddedBroker
) -> None:
    async with proxy_to(amqtt_broker.port, open_now=False) as proxy:
        loop = asyncio.get_running_loop()
        async with publisher(tmp_path, settings(proxy.port, protocol=V311)) as pub:
            for i in range(5):
                await pub.submit(report(f"c{i % 3}"))
            stopping = loop.time()
        assert loop.time() - stopping < 3.0
        assert not pub.connected
    assert left_in_outbox(tmp_path) == 5  # sent at the next start


async def test_full_outbox_drops_the_oldest_and_the_status_says_so(
    tmp_path: Path, amqtt_broker: EmbeddedBroker
) -> None:
    metrics = AgentMetrics()
    async with (
        proxy_to(amqtt_broker.port, open_now=False) as proxy,
        Listener(amqtt_broker.host, amqtt_broker.port) as listener,
        publisher(tmp_path, settings(proxy.port, outbox_max=10, protocol=V311), metrics) as pub,
    ):
        for i in range(25):
            await pub.submit(report(f"c{i % 3}"))
        assert pub.outbox.pending() == 10
        assert pub.outbox.dropped() == 15
        assert metrics.outbox_dropped._value.get() == 15
        await proxy.open()  # the broker becomes reachable
        await listener.wait_for(lambda: len(listener.health()) >= 10)
        await listener.wait_for(lambda: bool(listener.statuses()))
    assert unique(listener.health()) == list(range(15, 25))  # the newest ten
    online = listener.statuses()[0]
    assert online.state == "online"
    assert online.outbox_dropped == 15
    assert online.outbox_pending == 10  # at connect, before the drain


async def test_last_will_says_offline_when_the_link_is_cut(
    tmp_path: Path, amqtt_broker: EmbeddedBroker
) -> None:
    metrics = AgentMetrics()
    async with (
        proxy_to(amqtt_broker.port, open_now=True) as proxy,
        Listener(amqtt_broker.host, amqtt_broker.port) as listener,
        publisher(tmp_path, settings(proxy.port, keepalive=5, protocol=V311), metrics) as pub,
    ):
        await listener.wait_for(lambda: [s.state for s in listener.statuses()] == ["online"])
        assert (await retained_status(amqtt_broker.host, amqtt_broker.port)).state == "online"
        proxy.sever()  # no DISCONNECT reaches the broker: it publishes the will
        await listener.wait_for(lambda: len(listener.statuses()) >= 3)
        states = [s.state for s in listener.statuses()]
        assert states[:3] == ["online", "offline", "online"]  # will, then reconnected
        first, will, second = listener.statuses()[:3]
        # the Will names the connection it belongs to, so a stale one can be told apart
        assert first.connected_at is not None
        assert second.connected_at is not None
        assert will.connected_at == first.connected_at < second.connected_at
        assert pub.connections == 2
        await pub.submit(report("c1"))
        await listener.wait_for(lambda: len(listener.health()) == 1)
    assert (await retained_status(amqtt_broker.host, amqtt_broker.port)).state == "offline"


async def test_refused_password_is_one_clear_error_and_is_retried(
    tmp_path: Path, mosquitto_factory: bf.MosquittoFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broker = mosquitto_factory(passwords={AGENT: "right-secret"})
    wrong = settings(broker.port, username=AGENT, password=SecretStr("wrong-secret"))
    caplog.set_level(logging.DEBUG, logger="agent.publisher")
    async with publisher(tmp_path, wrong) as pub:
        await pub.submit(report("c1"))
        await asyncio.sleep(1.2)
        assert not pub.connected
        assert pub.outbox.pending() == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # logged once, not per attempt
    text = errors[0].getMessage()
    assert "từ chối" in text
    assert "mqtt.password" in text
    assert "wrong-secret" not in caplog.text
    assert broker.log_text().count("not authorised") >= 2  # retried (backoff_max 0.3 s)

    right = settings(broker.port, username=AGENT, password=SecretStr("right-secret"))
    async with publisher(tmp_path, right) as pub:
        async with asyncio.timeout(5):
            await pub.flush()  # the report kept in the outbox goes out now
        assert pub.connected


def make_certs(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 / localhost (openssl)."""
    folder.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    key = ["-newkey", "rsa:2048", "-nodes"]
    openssl("req", "-x509", *key, "-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca.key",
            "-out", "ca.crt")  # fmt: skip
    openssl("req", *key, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (folder / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sign = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "ext.cnf"]
    openssl("x509", "-req", "-in", "server.csr", *sign, "-days", "2", "-out", "server.crt")
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """mosquitto with a TLS listener and a password; yield (TLS port, CA, a foreign CA)."""
    if not Path(bf.MOSQUITTO).exists() or shutil.which("openssl") is None:
        pytest.skip("needs mosquitto and openssl")
    ca, cert, key = make_certs(tmp_path / "certs")
    foreign_ca, _, _ = make_certs(tmp_path / "other")
    broker = bf.Mosquitto(tmp_path / "mq", passwords={AGENT: "s3cret"})
    port = free_port()
    with broker.config_path.open("a") as conf:
        conf.write(f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    with broker:
        yield port, ca, foreign_ca


async def test_tls_with_password_against_mosquitto(
    tmp_path: Path, tls_broker: tuple[int, Path, Path]
) -> None:
    port, ca, foreign_ca = tls_broker
    login: dict[str, Any] = {"tls": True, "username": AGENT, "password": SecretStr("s3cret")}
    async with publisher(tmp_path, settings(port, ca_file=ca, **login)) as pub:
        await pub.submit(report("c1"))
        async with asyncio.timeout(10):
            await pub.flush()
        assert pub.connected
    # a CA that did not sign the broker's certificate: never connects, nothing leaks
    async with publisher(tmp_path / "b", settings(port, ca_file=foreign_ca, **login)) as pub:
        await pub.submit(report("c1"))
        await asyncio.sleep(0.8)
        assert not pub.connected
        assert pub.outbox.pending() == 1


async def test_broker_that_never_answers_costs_no_file_descriptors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.publisher

    monkeypatch.setattr(agent.publisher, "CONNECT_TIMEOUT", 0.2)
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # TCP accepted, no CONNACK ever

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def fds() -> int:
        return sum(1 for _ in Path("/proc/self/fd").iterdir()) - len(accepted)

    try:
        async with publisher(tmp_path, settings(port, backoff_max=0.1)) as pub:
            await asyncio.sleep(0.5)
            before = fds()
            tries = len(accepted)
            await asyncio.sleep(1.5)
            assert len(accepted) >= tries + 3  # it kept trying
            assert not pub.connected
            assert fds() <= before + 1
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


def test_mqtt_section_is_validated(tmp_path: Path) -> None:
    base = 'agent_id: a1\ncommune: "00127"\ncameras: []\nmqtt:\n  host: broker.example\n'
    path = tmp_path / "agent.yaml"
    path.write_text(base + "  ca_file: /etc/ca.pem\n")
    with pytest.raises(InvalidConfigError) as info:
        load_config(path)
    assert "tls: true" in str(info.value)
    assert f"{path}:5:" in str(info.value)  # where the mqtt section starts
    path.write_text(base + "  tls: true\n  passwrd: x\n")
    with pytest.raises(InvalidConfigError, match=r"mqtt\.passwrd"):
        load_config(path)
    path.write_text(base + "  tls: true\n")
    config = load_config(path)
    assert config.mqtt is not None
    assert config.mqtt.effective_port() == 8883
    assert config.outbox_path() == Path("var/agent/outbox.sqlite")
    path.write_text('agent_id: a1\ncommune: "00127"\ncameras: []\nreports: null\n')
    with pytest.raises(InvalidConfigError, match="go nowhere"):
        load_config(path)
