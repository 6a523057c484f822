"""Benchmark of the collector: sustained ingest from mosquitto into PostgreSQL and SQLite.

``python -m benchmarks.ingest`` (about four minutes on two cores, all on 127.0.0.1) writes the
"Collector ingest" section of ``docs/benchmarks.md``, which says how it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import namedtuple
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from sqlalchemy import func, insert, select

from agent.messages import HealthReport, status_for
from benchmarks.cpu import cpu_seconds, postmaster_pid
from benchmarks.ingest_doc import render, write_section
from collector import models, store
from collector.consumer import subscriptions
from collector.db import create_schema, make_engine
from collector.settings import CollectorSettings
from tests.broker_fixtures import Mosquitto
from tests.db_fixtures import PostgresServer

CAMNET = str(Path(sys.executable).with_name("camnet"))
BARE, RAW = "bench-bare-aiomqtt", "bench-bare-raw"
STALL, MIB = 60.0, 1024 * 1024  # STALL: seconds without progress before a step gives up
DOWN_CAUSES = ("unreachable", "timeout", "rtsp_timeout", "no_video", "auth_failed")
SOFT_FAULTS = ("blurred", "too_dark", "noisy", "color_cast", "low_fps", "too_bright")
METRICS = ("brightness", "contrast", "sharpness", "noise", "saturation", "diff_last", "changed")
Cam = tuple[str, str, tuple[str, str | None, list[str]]]  # id, commune, steady condition


Row = namedtuple("Row", "db n publish_rate bare_s raw_s seconds rss held cpu")  # one round
CPU_OF: dict[str, Callable[[], float]] = {}  # CPU seconds so far of the servers of a round


def fleet(cameras: int, communes: int, rng: random.Random) -> list[Cam]:
    """Cameras spread over the communes; ~3 % down with a cause, ~4 % degraded, rest ok."""
    codes = [f"{26000 + i:05d}" for i in range(communes)]
    out: list[Cam] = []
    for i in range(cameras):
        x, c = rng.random(), codes[i % communes]
        cond = ("ok", None, []) if x >= 0.07 else ("degraded", None, [rng.choice(SOFT_FAULTS)])
        cond = ("down", rng.choice(DOWN_CAUSES), []) if x < 0.03 else cond
        out.append((f"cam-{c}-{i:06d}", c, cond))
    return out


def reports(cams: list[Cam], n: int, start: datetime, seed: int) -> list[tuple[str, bytes]]:
    """``n`` (topic, JSON) health reports: one hour of probes in time order, 1 % flaps."""
    rng = random.Random(seed)
    per, extra = divmod(n, len(cams))
    period = 3600.0 / (per + (1 if extra else 0))
    slots = []
    for i in range(len(cams)):
        offset = rng.uniform(0, period)
        slots += [(offset + k * period, i) for k in range(per + (1 if i < extra else 0))]
    seq, out = {}, []
    for at, i in sorted(slots):
        cam, commune, (_, cause, faults) = cams[i]
        if rng.random() < 0.01:  # a transient flap: pending in the hysteresis, no change
            cause, faults = (None, [rng.choice(SOFT_FAULTS)]) if cause else ("timeout", [])
        agent, r = f"agent-{commune}", rng.random
        seq[agent] = seq.get(agent, -1) + 1
        data: dict[str, Any] = {
            "report_id": uuid.uuid4().hex, "agent_id": agent, "camera_id": cam,
            "commune": commune, "seq": seq[agent], "probed_at": start + timedelta(seconds=at),
            "status": status_for(cause, faults), "cause": cause, "faults": faults,
        }  # fmt: skip
        if cause is None:
            data["stream"] = {"codec": "h264", "width": 1920, "height": 1080, "fps": 25.0}
            data["metrics"] = {k: round(r() * 100, 3) for k in METRICS}
            steps = ("connect", "describe", "setup", "play", "keyframe", "decode_judge")
            data["timings"] = {k: round(r() * 0.3, 4) for k in steps} | {"total": 1.2}
        else:
            data["detail"] = f"{cause}: no picture from the camera"
            data["timings"] = {"connect": round(r() * 3, 4), "total": 3.0}
        rep = HealthReport.model_validate(data)
        out.append((rep.topic(), rep.model_dump_json().encode()))
    return out


def report_id(payload: bytes) -> str:
    """The report id of a generated JSON report."""
    return payload.split(b'"report_id":"', 1)[1][:32].decode()


def seed(url: str, cams: list[Cam], start: datetime) -> Any:
    """Create the schema; bulk-insert the registry and every camera's steady state (its
    state, open interval and last report)."""
    engine = make_engine(url)
    create_schema(engine)
    communes = sorted({c for _, c, _ in cams})
    since, last = start - timedelta(days=3), start - timedelta(minutes=5)
    tables: list[tuple[Any, list[dict[str, Any]]]] = [
        (models.Province, [{"code": "26", "name": "Tỉnh thử / benchmark province"}]),
        (models.Commune, [{"code": c, "name": c, "province_code": "26"} for c in communes]),
        (models.Site, [{"id": f"site-{c}", "commune_code": c, "name": "", "address": ""}
                       for c in communes]),
        (models.AgentRecord, [{"id": f"agent-{c}", "site_id": f"site-{c}", "commune_code": c,
                               "name": ""} for c in communes]),
        (models.Camera, [{"id": cam, "commune_code": c, "site_id": f"site-{c}",
                          "agent_id": f"agent-{c}", "name": cam, "camera_type": "bullet",
                          "funding": "budget", "priority": "normal"} for cam, c, _ in cams]),
    ]  # fmt: skip
    tables += [(store.STATE, [
        {"camera_id": cam, "status": s, "faults": ",".join(f), "cause": cause,
         "since": since, "pending_status": None, "pending_count": 0, "pending_since": None,
         "pending_faults": "", "pending_cause": None, "agent_id": f"agent-{c}"}
        for cam, c, (s, cause, f) in cams]), (store.INTERVAL, [
        {"camera_id": cam, "status": s, "faults": ",".join(f), "cause": cause,
         "start": since, "end": None} for cam, _, (s, cause, f) in cams]), (store.HEALTH, [
        {"report_id": f"seed{i:028d}", "camera_id": cam, "agent_id": f"agent-{c}",
         "probed_at": last, "received_at": last, "status": s, "cause": cause,
         "faults": ",".join(f)} for i, (cam, c, (s, cause, f)) in enumerate(cams)])]  # fmt: skip
    with engine.begin() as conn:
        for table, rows in tables:
            for i in range(0, len(rows), 20_000):  # SQLAlchemy Core executemany
                conn.execute(insert(getattr(table, "__table__", table)), rows[i : i + 20_000])
    return engine


def stored(engine: Any, report_id: str | None = None) -> int:
    """Health rows stored (or whether ``report_id`` is among them), not counting the seeded
    last reports; -1 if any quarantined."""
    h = store.HEALTH.c
    with engine.connect() as conn:
        if report_id is not None:
            return int(conn.scalar(select(h.report_id).where(h.report_id == report_id)) is not None)
        bad = conn.scalar(select(func.count()).select_from(store.QUARANTINE))
        ours = select(func.count()).where(h.report_id.not_like("seed%"))
        return -1 if bad else int(conn.scalar(ours) or 0)


def broker_config(path: Path, max_inflight: int, n: int) -> None:
    """Tune the fixture's config: in memory, the chosen in-flight window, deep queues."""
    tuned = {"max_inflight_messages": max_inflight, "max_queued_messages": max(10**6, 2 * n)}
    drop = ("persistence", "autosave", *tuned)
    lines = [line for line in path.read_text().splitlines() if not line.startswith(drop)]
    lines += [f"{k} {v}" for k, v in tuned.items()] + ["persistence false"]
    path.write_text("\n".join(lines) + "\n")


async def make_sessions(host: str, port: int, sessions: dict[str, list[str]]) -> None:
    """Create (or keep) persistent sessions with their QoS 1 subscriptions."""
    for client_id, filters in sessions.items():
        async with aiomqtt.Client(host, port, identifier=client_id, clean_session=False) as c:
            await c.subscribe([(f, 1) for f in filters])


def publish(host: str, port: int, messages: list[tuple[str, bytes]], chunk: int = 2000) -> float:
    """Publish everything at QoS 1 with paho, two chunks ahead of the PUBACKs; return rate."""
    infos, t0 = [], time.perf_counter()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(0)  # paho's own queue behind a full window stalled
    client.connect(host, port, keepalive=60)
    client.loop_start()
    try:
        while not client.is_connected() and time.perf_counter() - t0 < 10:
            time.sleep(0.01)
        for i, (topic, payload) in enumerate(messages):
            if i % chunk == 0 and i >= 2 * chunk:
                infos[i - chunk].wait_for_publish(STALL)
                if i % 50_000 == 0:
                    print(f"  published {i:,} of {len(messages):,}", flush=True)
            infos.append(client.publish(topic, payload, qos=1))
        infos[-1].wait_for_publish(STALL)  # acknowledged in order
        if not all(info.is_published() for info in infos):
            raise RuntimeError("publishing stuck: PUBACKs missing")
        return len(messages) / (time.perf_counter() - t0)
    finally:
        client.disconnect()
        client.loop_stop()


async def drain_aiomqtt(host: str, port: int, n: int) -> float:
    """Resume the bare aiomqtt session (auto-ack) and count ``n`` messages; return seconds."""
    t0, count = time.perf_counter(), 0
    client = aiomqtt.Client(host, port, identifier=BARE, clean_session=False)
    async with asyncio.timeout(STALL + n / 1000), client:  # gives up below ~1,000/s
        async for _ in client.messages:
            if (count := count + 1) == n:
                break
    return time.perf_counter() - t0


async def drain_raw(host: str, port: int, n: int) -> float:
    """Mosquitto's own rate: MQTT 3.1.1 on a bare asyncio socket, no MQTT library."""
    t0, (reader, writer) = time.perf_counter(), await asyncio.open_connection(host, port)
    body = b"\x00\x04MQTT\x04\x00\x00\x3c" + len(RAW).to_bytes(2, "big") + RAW.encode()
    writer.write(bytes([0x10, len(body)]) + body)  # CONNECT, clean session off
    async with asyncio.timeout(STALL + n / 1000):  # gives up below ~1,000/s
        await reader.readexactly(4)  # CONNACK
        for _ in range(n):  # PUBLISH, QoS 1: header, length, topic, packet id, payload
            size, shift, _ = 0, 0, await reader.readexactly(1)
            while (b := (await reader.readexactly(1))[0]) & 0x80:
                size, shift = size | (b & 0x7F) << shift, shift + 7
            packet = await reader.readexactly(size | b << shift)
            at = 2 + int.from_bytes(packet[:2], "big")
            writer.write(b"\x40\x02" + packet[at : at + 2])  # PUBACK
    writer.close()  # no DISCONNECT needed: the session stays
    return time.perf_counter() - t0


def debug_log(broker: Mosquitto, on: bool) -> None:  # log every packet; reloaded on SIGHUP
    text = broker.config_path.read_text().replace("log_type debug\n", "")
    broker.config_path.write_text(text + "log_type debug\n" * on)
    os.kill(broker.pid, signal.SIGHUP)
    time.sleep(1)


def most_unacked(log: bytes, client_id: str) -> int:  # most sent to client_id, not yet acked
    sent, acked = f"Sending PUBLISH to {client_id} ", f"PUBACK from {client_id} "
    lines = log.decode(errors="replace").splitlines()
    return max(accumulate(1 if sent in x else -1 if acked in x else 0 for x in lines), default=0)


def vm(pid: int, key: str) -> int:  # VmRSS, VmHWM (peak) in bytes
    found = re.search(rf"^{key}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(found.group(1)) * 1024 if found else 0


def run_collector(
    engine: Any, url: str, port: int, n: int, ids: tuple[str, str], batch: int, log: Path
) -> tuple[float, tuple[int, int, int], dict[str, float]]:
    """Run ``camnet collector`` until all ``n`` are committed: seconds, RSS ready, mid and
    peak, and the CPU seconds of the collector and (set by ``main``) the servers.

    ``ids``: the middle and last report published. Batches commit in order, so the last
    one stored means all are (checked by a count at the end); polling looks them up by
    primary key (``count(*)`` every 50 ms would take PostgreSQL's CPU from the run).
    """
    mid_id, last_id = ids
    ready = f"collector {CollectorSettings().client_id}:"
    env = {**os.environ, "CAMNET_COLLECTOR_BATCH_SIZE": str(batch)}
    cmd = [CAMNET, "collector", "--db", url, "--mqtt-host", "127.0.0.1"]
    cmd += ["--mqtt-port", str(port), "--metrics-port", "0"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        t0 = time.perf_counter()
        while ready not in log.read_text(errors="replace"):  # registry and states loaded
            if proc.poll() is not None or time.perf_counter() - t0 > 5 * STALL:
                raise RuntimeError(f"collector did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.01)
        readers = {"collector": partial(cpu_seconds, proc.pid), **CPU_OF}
        cpu0 = {name: read() for name, read in readers.items()}
        t0 = shown = time.perf_counter()
        rss0, seen, mid = vm(proc.pid, "VmRSS"), -1, 0
        while not stored(engine, last_id):
            time.sleep(0.05)
            if not mid and stored(engine, mid_id):
                mid = vm(proc.pid, "VmHWM")  # peak over the first half of the drain
            if proc.poll() is not None:
                raise RuntimeError(f"collector exited:\n{log.read_text()[-3000:]}")
            if time.perf_counter() - shown >= STALL / 6:
                if (now := stored(engine)) == seen:
                    raise RuntimeError(f"collector stuck at {now:,} of {n:,}")
                shown, seen = time.perf_counter(), now
                print(f"  collector: {now:,} ({now / (shown - t0):,.0f}/s)", flush=True)
        seconds = time.perf_counter() - t0
        cpu = {name: read() - cpu0[name] for name, read in readers.items()}
        if (got := stored(engine)) != n:
            raise RuntimeError(f"{got} health rows stored (-1: quarantine), want {n}")
        return seconds, (rss0, mid or rss0, vm(proc.pid, "VmHWM")), cpu
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the ingest benchmark; print the section and write it into docs/benchmarks.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    p.add_argument("--cameras", type=int, default=150_000)
    p.add_argument("--communes", type=int, default=100)
    p.add_argument("--reports", type=int, default=200_000)
    p.add_argument("--db", choices=["both", "postgresql", "sqlite"], default="both")
    p.add_argument("--max-inflight", type=int, default=1000, help="mosquitto's window")
    p.add_argument("--batch-size", type=int, default=1000, help="collector batch size")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    p.add_argument(
        "--repeat",
        type=int,
        default=9,
        help="PostgreSQL rounds, a fresh database each (the verdict: their median; the VM's "
        "speed varies from one run to the next)",
    )
    args = p.parse_args(argv)
    started, settings = time.perf_counter(), CollectorSettings()
    sessions = {BARE: subscriptions("bench-aiomqtt"), RAW: subscriptions("bench-raw")}
    sessions[settings.client_id] = subscriptions(settings.share_group)
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    cams = fleet(args.cameras, args.communes, random.Random(1))
    print(f"generating {args.reports:,} reports for {args.cameras:,} cameras...", flush=True)
    messages = reports(cams, args.reports, start, 2)
    n, size = len(messages), sum(len(b) for _, b in messages) / len(messages)
    mid_id, last_id = (report_id(m[1]) for m in (messages[n // 2], messages[-1]))
    (work := Path(tempfile.mkdtemp(prefix="camnet-bench-"))).chmod(0o755)  # for PG's own user
    broker, servers, rows = Mosquitto(work / "mqtt"), [], []
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally
    try:
        broker_config(broker.config_path, args.max_inflight, n)
        broker.start()
        dbs = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
        rounds = [db for db in dbs for _ in range(args.repeat if db == "postgresql" else 1)]
        for k, db in enumerate(rounds):
            print(f"== {db}: registry; publishing {n:,} reports, then draining them", flush=True)
            url = f"sqlite:///{work}/camnet.db"
            if db == "postgresql":
                if not servers:
                    servers.append(PostgresServer(work / "pg"))
                    servers[0].init()  # writes fsync = off etc.; the last setting wins
                    with (servers[0].datadir / "postgresql.conf").open("a") as conf:
                        conf.write("fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n")
                    servers[0].start()
                pg = servers[0]
                url = pg.url(pg.create_database(f"camnet_bench_{k}"))  # a fresh one a round
            engine = seed(url, cams, start)
            asyncio.run(make_sessions(broker.host, broker.port, sessions))
            pub = publish(broker.host, broker.port, messages)
            bare = asyncio.run(drain_aiomqtt(broker.host, broker.port, n))
            raw = asyncio.run(drain_raw(broker.host, broker.port, n))
            print(f"  publish {pub:,.0f}/s, aiomqtt {n / bare:,.0f}/s, raw {n / raw:,.0f}/s")
            log, mark = work / f"collector-{db}-{k}.log", broker.log_path.stat().st_size
            debug_log(broker, True)  # to count what the collector holds: sent, not yet acked
            CPU_OF["mosquitto"] = partial(cpu_seconds, broker.pid or 0)
            CPU_OF.pop("postgresql", None)
            if db == "postgresql":
                master = postmaster_pid(pg.datadir)
                CPU_OF["postgresql"] = partial(cpu_seconds, master, children=True)
            ids = (mid_id, last_id)
            secs, rss, cpu = run_collector(engine, url, broker.port, n, ids, args.batch_size, log)
            debug_log(broker, False)
            held = most_unacked(broker.log_path.read_bytes()[mark:], settings.client_id)
            engine.dispose()
            rows.append(Row(db, n, pub, bare, raw, secs, rss, held, cpu))
    finally:
        signal.signal(signal.SIGTERM, previous)
        broker.stop()
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    section = render(args, rows, size, (time.perf_counter() - started) / 60)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
