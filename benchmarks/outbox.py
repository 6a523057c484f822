"""How fast an agent's outbox drains to Debian's mosquitto, in MQTT 5 and MQTT 3.1.1.

``python -m benchmarks.outbox [--messages 20000]``: fills an outbox with health-report-sized
messages (580 bytes) while no broker runs, then starts mosquitto (an ACL in place, as in
production) and times ``MqttPublisher`` from connect to the last PUBACK; once per protocol.
The agent speaks MQTT 5 so that a refused publish is seen (agent/mqtt_client.py); this
measures what that costs against 3.1.1.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from agent.config import MqttConfig
from agent.messages import health_topic
from agent.outbox import Outbox
from agent.publisher import MqttPublisher
from benchmarks.doc import DOC, replace_section
from benchmarks.probe import _machine
from collector.broker_acl import mosquitto_acl
from tests.broker_fixtures import Mosquitto

AGENT, COMMUNE, PASSWORD = "bench-agent", "00001", "bench-password-1"


async def drain(work: Path, messages: int, protocol: Literal["5", "3.1.1"], inflight: int) -> float:
    """Seconds from start to an empty outbox."""
    outbox = Outbox(work / f"outbox-{protocol}.sqlite", messages + 1)
    payload = b"x" * 580
    for i in range(messages):
        outbox.put(health_topic(COMMUNE, AGENT, f"cam-{i % 200}"), payload)
    broker = Mosquitto(
        work / f"mosquitto-{protocol}",
        passwords={AGENT: PASSWORD},
        acl=mosquitto_acl([(AGENT, COMMUNE)]),
    )
    broker.start()
    mqtt = MqttConfig(
        host="127.0.0.1", port=broker.port, username=AGENT, password=PASSWORD,
        protocol=protocol, inflight=inflight,
    )  # fmt: skip
    try:
        t0 = time.perf_counter()
        async with MqttPublisher(mqtt, outbox, agent_id=AGENT, commune=COMMUNE) as pub:
            await pub.flush()
            return time.perf_counter() - t0
    finally:
        outbox.close()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    """Measure both protocols, print the section and write it into docs/benchmarks.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.outbox", description=__doc__)
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--inflight", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = p.parse_args(argv)
    (work := Path(tempfile.mkdtemp(prefix="camnet-bench-outbox-"))).chmod(0o755)
    rows = []
    try:
        for protocol in ("5", "3.1.1"):
            for r in range(args.rounds):
                seconds = asyncio.run(drain(work / f"r{r}", args.messages, protocol, args.inflight))
                rows.append((protocol, r + 1, seconds))
                print(f"MQTT {protocol} round {r + 1}: {seconds:.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Agent outbox drain",
        "",
        "An agent's outbox filled while the broker was away (580-byte messages), drained by "
        "`MqttPublisher` to Debian's mosquitto (password file and ACL on, in memory) once it is "
        "up: from connect to the last PUBACK. MQTT 5 is what the agent speaks (a refused publish "
        "is seen, `agent/mqtt_client.py`); 3.1.1 is for brokers without MQTT 5.",
        "",
        f"{now}; {_machine()}; Python {platform.python_version()}; {args.messages:,} messages, "
        f"{args.inflight} in flight; broker and agent on the same machine.",
        "",
        f"Reproduce: `.venv/bin/python -m benchmarks.outbox --messages {args.messages} "
        f"--inflight {args.inflight} --rounds {args.rounds}`",
        "",
        "| protocol | round | seconds | messages/s |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| MQTT {p_} | {r} | {s:.2f} | {args.messages / s:,.0f} |" for p_, r, s in rows]
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        replace_section("Agent outbox drain", section, DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
