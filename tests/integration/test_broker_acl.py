"""The mosquitto ACL of a deployment (``camnet registry acl``) on Debian's mosquitto.

An agent logs in with its agent id and may publish only under its own commune and id:
a publish anywhere else is refused by the broker (MQTT 5 PUBACK "Not authorized", and
with MQTT 3.1.1 silently dropped) and never reaches the collector's shared subscription.
The agent (MQTT 5 by default) keeps a refused report in its outbox and logs why, so it is
delivered once the registry and the ACL are put right; with MQTT 3.1.1 it is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import aiomqtt
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import MqttConfig
from agent.messages import HEALTH_FILTER, STATUS_FILTER, ProbeReport, health_topic
from agent.outbox import Outbox
from agent.publisher import MqttPublisher
from collector.broker_acl import mosquitto_acl
from tests import broker_fixtures as bf
from tests.collector_helpers import health

mosquitto_factory = bf.mosquitto_factory

ROOT = Path(__file__).resolve().parents[2]
OWN, OTHER = "00127", "00139"  # communes of deploy/registry.example.yaml
AGENT, OTHER_AGENT = "lb-viethung-01", "lb-bode-01"
PASSWORDS = {"collector": "pw-collector", AGENT: "pw-agent-a", OTHER_AGENT: "pw-agent-b"}
NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87


def generated_acl(tmp_path: Path) -> str:
    """Import the example registry, then ``camnet registry acl`` as an operator runs it."""
    db = f"sqlite:///{tmp_path / 'registry.db'}"
    camnet = [sys.executable, "-m", "camnet_cli"]
    example = str(ROOT / "deploy" / "registry.example.yaml")
    subprocess.run([*camnet, "registry", "import", example, "--db", db], check=True, cwd=ROOT)
    out = tmp_path / "acl"
    done = subprocess.run(
        [*camnet, "registry", "acl", "--db", db, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return out.read_text()


def publish_v5(port: int, user: str, topics: list[str]) -> list[int]:
    """Publish QoS 1 as ``user`` with MQTT 5; the PUBACK reason code of each."""
    codes: dict[int, int] = {}
    acked = threading.Event()

    def on_publish(_c: object, _u: object, mid: int, reason: object, _p: object) -> None:
        codes[mid] = int(getattr(reason, "value", reason))  # type: ignore[call-overload]
        if len(codes) == len(topics):
            acked.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(user, PASSWORDS[user])
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        mids = [client.publish(t, b"{}", qos=1).mid for t in topics]
        assert acked.wait(10), f"no PUBACK for {topics}"
    finally:
        client.disconnect()
        client.loop_stop()
    return [codes[mid] for mid in mids]


def payload(commune: str, agent: str) -> bytes:
    report = health("cam-x", "ok", datetime.now(UTC), commune=commune, agent=agent)
    return report.model_dump_json().encode()


def test_an_agent_may_publish_only_under_its_own_commune_and_id(
    tmp_path: Path, mosquitto_factory: bf.MosquittoFactory
) -> None:
    acl = generated_acl(tmp_path)
    assert f"user {AGENT}\ntopic write camnet/v1/{OWN}/{AGENT}/+/health" in acl
    broker = mosquitto_factory(passwords=PASSWORDS, acl=acl)
    own = health_topic(OWN, AGENT, "cam-1")
    foreign = [
        health_topic(OTHER, AGENT, "cam-1"),  # its own id, another commune
        health_topic(OTHER, OTHER_AGENT, "cam-1"),  # posing as the other commune's agent
        health_topic(OWN, OTHER_AGENT, "cam-1"),  # another agent id in its own commune
        "camnet/v1/events/state",  # the collector's events
        f"camnet/v1/agents/{OTHER_AGENT}/status",  # another agent's availability
    ]

    async def scenario() -> list[str]:
        received: list[str] = []
        async with aiomqtt.Client(
            "127.0.0.1",
            broker.port,
            username="collector",
            password=PASSWORDS["collector"],
            protocol=aiomqtt.ProtocolVersion.V5,
        ) as collector:
            # What `camnet collector` subscribes to, through a shared subscription.
            await collector.subscribe(f"$share/camnet/{HEALTH_FILTER}", qos=1)
            await collector.subscribe(f"$share/camnet/{STATUS_FILTER}", qos=1)
            await collector.subscribe("camnet/v1/events/#", qos=1)
            codes = await asyncio.to_thread(publish_v5, broker.port, AGENT, [own, *foreign])
            assert codes[0] != NOT_AUTHORIZED
            assert codes[1:] == [NOT_AUTHORIZED] * len(foreign)
            # MQTT 3.1.1 has no refusal code: the broker acknowledges and drops.
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, username=AGENT, password=PASSWORDS[AGENT]
            ) as agent:
                await agent.publish(foreign[0], payload(OTHER, AGENT), qos=1)
                await agent.publish(own, payload(OWN, AGENT), qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):  # anything that got through arrives by then
                    async for message in collector.messages:
                        received.append(str(message.topic))
        return received

    received = asyncio.run(scenario())
    assert received == [own, own]


def test_the_acl_refuses_ids_that_cannot_be_user_names() -> None:
    assert "user a-1\n" in mosquitto_acl([("a-1", "00001")])
    with pytest.raises(ValueError, match="cannot be an MQTT user name"):
        mosquitto_acl([("agent with space", "00001")])
    with pytest.raises(ValueError, match="two communes"):
        mosquitto_acl([("a-1", "00001"), ("a-1", "00002")])
    with pytest.raises(ValueError, match="used twice"):
        mosquitto_acl([("a-1", "00001"), ("a-1", "00001")])
    with pytest.raises(ValueError, match="service user"):
        mosquitto_acl([("collector", "00001")])


def probe_report(camera: str) -> ProbeReport:
    return ProbeReport.model_validate(
        {"url": f"rtsp://192.0.2.1/{camera}", "camera_id": camera, "status": "ok",
         "probed_at": datetime.now(UTC)}
    )  # fmt: skip


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_refused_report_stays_in_the_agents_outbox_with_mqtt5(
    tmp_path: Path,
    mosquitto_factory: bf.MosquittoFactory,
    caplog: pytest.LogCaptureFixture,
    protocol: Literal["5", "3.1.1"],
) -> None:
    """An agent configured with another commune's code (the registry says OWN)."""
    broker = mosquitto_factory(passwords=PASSWORDS, acl=mosquitto_acl([(AGENT, OWN)]))
    mqtt = MqttConfig(host="127.0.0.1", port=broker.port, username=AGENT, password=PASSWORDS[AGENT],
                      backoff_max=0.5, protocol=protocol)  # fmt: skip
    outbox = Outbox(tmp_path / "outbox.sqlite", mqtt.outbox_max)
    received: list[str] = []

    async def collect(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            received.append(str(message.topic))

    try:
        async with (
            aiomqtt.Client(
                "127.0.0.1",
                broker.port,
                username="collector",
                password=PASSWORDS["collector"],
                identifier="acl-collector",
                clean_session=False,
            ) as collector,  # fmt: skip
            MqttPublisher(mqtt, outbox, agent_id=AGENT, commune=OTHER) as pub,
        ):
            await collector.subscribe(HEALTH_FILTER, qos=1)
            listening = asyncio.create_task(collect(collector))
            assert await pub.submit(probe_report("cam-1")) is not None
            await asyncio.sleep(2)  # a few attempts (backoff_max 0.5 s)
            if protocol == "3.1.1":
                # no refusal code in MQTT 3.1.1: acknowledged, dropped by the broker, lost
                assert outbox.pending() == 0
                assert received == []
                listening.cancel()
                return
            assert outbox.pending() == 1  # kept: refused, not delivered
            assert received == []
            refusals = [r for r in caplog.records if "Not authorized" in r.getMessage()]
            assert refusals, caplog.text
            assert refusals[0].levelname == "ERROR"
            assert "commune must match the registry" in refusals[0].getMessage()
            # the operator registers the agent under that commune, regenerates the ACL and
            # reloads mosquitto: the kept report goes through, nothing was lost
            (broker.workdir / "acl").write_text(mosquitto_acl([(AGENT, OTHER)]))
            assert broker.pid is not None
            os.kill(broker.pid, signal.SIGHUP)
            async with asyncio.timeout(15):
                while not received or outbox.pending():  # noqa: ASYNC110 - two sources
                    await asyncio.sleep(0.1)
            assert received == [health_topic(OTHER, AGENT, "cam-1")]
            listening.cancel()
    finally:
        outbox.close()
