"""The collector's own MQTT read path (``collector/mqtt_read.py``) on real brokers.

PUBLISH packets are parsed from 64 KiB chunks: these tests send what can go wrong at a
chunk's edge (payloads of every length-byte size, bigger than a chunk, empty, UTF-8
topics, retained), other packets in between (SUBACK, PINGRESP), MQTT 5 properties, and
check that only acknowledged messages are gone from the broker's session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.batch import Incoming
from collector.broker import EmbeddedBroker
from collector.mqtt_read import ReadGate, incoming_of
from tests import broker_fixtures as bf
from tests.chain_helpers import until

mosquitto, mosquitto_factory, amqtt_broker = bf.mosquitto, bf.mosquitto_factory, bf.amqtt_broker
# every size class of the remaining length (1 to 3 bytes), around a chunk and past it
SIZES = [0, 1, 100, 127, 128, 5000, 16_383, 16_384, 65_000, 65_536, 70_000, 300_000]


def _now() -> datetime:
    return datetime.now(UTC)


def _client(host: str, port: int, name: str, **kw: object) -> aiomqtt.Client:
    if "protocol" not in kw:
        kw["clean_session"] = False  # MQTT 5 has clean_start instead
    client = aiomqtt.Client(host, port, identifier=name, **kw)  # type: ignore[arg-type]
    client._client.manual_ack_set(True)
    return client


@contextlib.asynccontextmanager
async def _gate(
    client: aiomqtt.Client, got: list[Incoming], high: int = 10**6
) -> AsyncIterator[ReadGate]:
    """Install a gate delivering to ``got``, as the collector does (with its reader task,
    which should never see a message: the gate takes them all from aiomqtt's queue).
    """
    gate = ReadGate(client, high, deliver=got.append, queued=lambda: len(got), clock=_now)
    gate.install()

    async def forward() -> None:
        async for message in client.messages:
            got.append(incoming_of(message, _now()))

    task = asyncio.create_task(forward())
    try:
        yield gate
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task


async def _until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    await until(check, seconds, "messages")


def _payload(i: int, size: int) -> bytes:
    return (f"{i}:".encode() + bytes(range(256)) * (size // 256 + 1))[:size]


async def _exchange(host: str, port: int, prefix: str, *, amqtt: bool = False) -> None:
    messages = [(f"{prefix}/thử/{i}", _payload(i, n)) for i, n in enumerate(SIZES)]
    async with aiomqtt.Client(host, port) as pub:
        await pub.publish(f"{prefix}/retained", b"kept", qos=1, retain=True)
    got: list[Incoming] = []
    reader = f"reader-{prefix[-12:]}"
    started = _now()
    async with _client(host, port, reader, keepalive=1) as client, _gate(client, got) as gate:
        await client.subscribe(f"{prefix}/#", qos=1)  # SUBACK goes through the gate to paho
        await _until(lambda: len(got) == 1)
        async with aiomqtt.Client(host, port, max_inflight_messages=100) as pub:
            for i, (topic, payload) in enumerate(messages):
                await pub.publish(topic, payload, qos=i % 2)
        await _until(lambda: len(got) == 1 + len(messages))
        first = got[0]
        assert (first.topic, first.payload, first.qos, first.retained) == (
            f"{prefix}/retained",
            b"kept",
            1,
            True,
        )
        assert [(m.topic, m.payload, m.retained) for m in got[1:]] == [
            (topic, payload, False) for topic, payload in messages
        ]
        if not amqtt:  # amqtt delivers a QoS 0 publication at the subscription's QoS 1
            assert [m.qos for m in got[1:]] == [i % 2 for i in range(len(messages))]
        assert all(m.mid > 0 for m in got if m.qos == 1)
        times = [m.received_at for m in got]  # stamped when read, in order
        assert started <= times[0]
        assert times == sorted(times)
        assert times[-1] <= _now()
        assert gate.parsed == len(got)
        await asyncio.sleep(2.5)  # keepalive 1 s: PINGREQ/PINGRESP pass while idle
        assert client._client.is_connected()
        gate.ack([m for m in got if m.qos == 1][:3])  # the retained one and two more
        await asyncio.sleep(0.3)
    if amqtt:
        return  # amqtt 0.12 does not send unacknowledged messages again on a resumed session
    # the session keeps exactly the QoS 1 messages that were not acknowledged
    again: list[Incoming] = []
    async with _client(host, port, reader) as client, _gate(client, again) as gate:
        want = [m.payload for m in got if m.qos == 1][3:]
        await _until(lambda: len(again) >= len(want))
        await asyncio.sleep(0.3)
        assert [m.payload for m in again] == want
        gate.ack(again)


async def test_publish_packets_are_parsed_whole_on_mosquitto(mosquitto: bf.Mosquitto) -> None:
    await _exchange(mosquitto.host, mosquitto.port, bf.unique_topic_prefix())


async def test_publish_packets_are_parsed_whole_on_amqtt(amqtt_broker: EmbeddedBroker) -> None:
    await _exchange(amqtt_broker.host, amqtt_broker.port, bf.unique_topic_prefix(), amqtt=True)


async def test_mqtt5_properties_are_skipped(mosquitto: bf.Mosquitto) -> None:
    prefix, v5 = bf.unique_topic_prefix(), aiomqtt.ProtocolVersion.V5
    host, port = mosquitto.host, mosquitto.port
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.MessageExpiryInterval = 3600
    props.UserProperty = [("agent", "agent-1"), ("note", "x" * 300)]
    sizes, got = [0, 10, 70_000], list[Incoming]()
    async with _client(host, port, "reader-v5", protocol=v5) as client, _gate(client, got):
        await client.subscribe(f"{prefix}/#", qos=1)
        async with aiomqtt.Client(host, port, protocol=v5) as pub:
            for i, n in enumerate(sizes):
                await pub.publish(f"{prefix}/{i}", _payload(i, n), qos=1, properties=props)
        await _until(lambda: len(got) == len(sizes))
    assert [m.payload for m in got] == [_payload(i, n) for i, n in enumerate(sizes)]


async def test_qos2_goes_the_long_way_through_paho(mosquitto: bf.Mosquitto) -> None:
    prefix, got = bf.unique_topic_prefix(), list[Incoming]()
    host, port = mosquitto.host, mosquitto.port
    async with _client(host, port, "reader-qos2") as client, _gate(client, got) as gate:
        await client.subscribe(f"{prefix}/#", qos=2)
        async with aiomqtt.Client(host, port) as pub:
            await pub.publish(f"{prefix}/a", b"exactly once", qos=2)
        await _until(lambda: len(got) == 1)
        assert gate.parsed == 0
    assert (got[0].topic, got[0].payload, got[0].qos) == (f"{prefix}/a", b"exactly once", 2)


@pytest.mark.parametrize("high", [3, 50])
async def test_reading_pauses_and_resumes(mosquitto: bf.Mosquitto, high: int) -> None:
    prefix = bf.unique_topic_prefix()
    got: list[Incoming] = []
    async with _client(mosquitto.host, mosquitto.port, f"reader-pause-{high}") as client:
        held: list[Incoming] = []
        gate = ReadGate(client, high, deliver=held.append, queued=lambda: len(held), clock=_now)
        gate.install()
        await client.subscribe(f"{prefix}/#", qos=1)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for i in range(400):
                await pub.publish(f"{prefix}/{i}", str(i).encode(), qos=1)
        async with asyncio.timeout(20):
            while len(got) < 400:
                await asyncio.sleep(0.01)
                assert len(held) <= high  # the gate stops at ``high``, whole packets kept
                got += held
                gate.ack(held)
                held.clear()
                gate.check()
    assert [m.payload for m in got] == [str(i).encode() for i in range(400)]
    assert gate.pauses > 0
