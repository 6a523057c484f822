"""The "Collector ingest" section of ``docs/benchmarks.md`` from a run of ``benchmarks.ingest``."""

from __future__ import annotations

import argparse
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.doc import replace_section
from benchmarks.probe import DOC, _machine, _verdict

TARGET_RATE, TARGET_VS_BARE = 25_000.0, 0.5
MIB = 1024 * 1024
CPU_NAMES = ("collector", "postgresql", "mosquitto")


def ceiling(row: Any) -> float:
    """Reports/s the CPUs allow at the CPU per report measured: cores / total CPU."""
    return (os.cpu_count() or 1) * row.n / sum(row.cpu.values())


def label(row: Any, i: int, rows: list[Any]) -> str:
    """``postgresql`` or, with several PostgreSQL rounds, ``postgresql 2/9``."""
    same = [r for r in rows if r.db == row.db]
    if len(same) == 1:
        return str(row.db)
    return f"{row.db} {sum(r.db == row.db for r in rows[: i + 1])}/{len(same)}"


def render(args: argparse.Namespace, rows: list[Any], size: float, minutes: float) -> str:
    """Return the markdown section."""
    a = args
    repeat = f" --repeat {a.repeat}"
    lines = [
        "## Collector ingest\n\nSustained ingest of the deployed `camnet collector` (one "
        "process) from Debian's mosquitto into PostgreSQL and SQLite, against two bare "
        "subscribers of the same broker in the same round: aiomqtt with auto-ack and no work "
        "(the MQTT client the collector connects with, whose PUBLISH parsing it replaces by "
        "its own: see `collector/mqtt_read.py`; the ratio target is against it) and a raw "
        "asyncio socket "
        "(the broker's ceiling). Each drains its own persistent session filled beforehand "
        "(every PUBACK in: the publisher never competes for the CPUs) through the collector's "
        "topic filters (a plain persistent subscription, its default) and "
        f"`max_inflight_messages {a.max_inflight}`. Cameras start in "
        "steady state (a `camera_state` row, an open interval and a last report each, as "
        "under a running collector). The collector is timed from its start line (registry "
        "and states loaded) to the last commit (polled every 50 ms); one row per report, "
        "none quarantined.\n",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}; mosquitto in memory, "
        "PostgreSQL 15 with `fsync`, `synchronous_commit` and `full_page_writes` on, all on "
        f"one machine. One province, {a.communes} communes (an agent each), {a.cameras:,} "
        f"cameras; {a.reports:,} health reports of {size:.0f} bytes on average (about 3 % "
        "down, 4 % degraded, 1 % transient flaps), an hour of probes in time order; batch "
        f"size {a.batch_size}. Run time: {minutes:.1f} min.\n\nReproduce: `python -m "
        f"benchmarks.ingest --cameras {a.cameras} --communes {a.communes} --reports "
        f"{a.reports} --db {a.db} --max-inflight {a.max_inflight} --batch-size "
        f"{a.batch_size}{repeat}`\n\n| database | reports | seconds | reports/s | bare aiomqtt "
        "reports/s | ratio to bare | raw socket reports/s | collector RSS ready → peak |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    pg = [r for r in rows if r.db == "postgresql"]
    for i, r in enumerate(rows):
        ready, mid, peak = (v / MIB for v in r.rss)
        rate, ratio = r.n / r.seconds, r.bare_s / r.seconds
        cells = [label(r, i, rows), f"{r.n:,}", f"{r.seconds:.1f}", f"{rate:,.0f}",
                 f"{r.n / r.bare_s:,.0f}", f"{ratio:.2f}", f"{r.n / r.raw_s:,.0f}",
                 f"{ready:.0f} → {peak:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + f" MiB (+{peak - ready:.0f}) |")
        first, second = mid - ready, peak - mid
        bounded = second <= max(8.0, first / 4)
        notes.append(
            f"- {label(r, i, rows)}, collector memory bounded (the second half of the drain "
            "adds ≤ max(8 MiB, 1/4 of the first half): caches grow with the fleet, not with the "
            "backlog): "
            f"+{first:.0f} then +{second:.0f} MiB — {_verdict(bounded)}. Mosquitto counted up "
            f"to {r.held:,} reports in flight (sent, not yet acknowledged: in TCP buffers while "
            "the collector pauses reading)."
        )
    if pg:
        rates = sorted(r.n / r.seconds for r in pg)
        rate = statistics.median(rates)
        ratio = statistics.median(r.bare_s / r.seconds for r in pg)
        raw = statistics.median(r.raw_s / r.seconds for r in pg)
        spread = ""
        if len(pg) > 1:
            above = sum(x >= TARGET_RATE for x in rates)
            spread = (
                f" (the median of {len(pg)} rounds: {rates[0]:,.0f} to {rates[-1]:,.0f}, "
                f"{above} of {len(pg)} at or above)"
            )
        notes.append(
            f"- ≥ {TARGET_RATE:,.0f} reports/s into PostgreSQL on one process: {rate:,.0f}"
            f"{spread} — {_verdict(rate >= TARGET_RATE)}.\n- ≥ {TARGET_VS_BARE:g} of the "
            f"bare-subscriber rate (PostgreSQL): {ratio:.2f} — "
            f"{_verdict(ratio >= TARGET_VS_BARE)}; of the raw-socket rate: {raw:.2f}."
        )
    lines += [
        "\nCPU per report during the collector's drain (user + system, from `/proc`; "
        "PostgreSQL: every server process; the benchmark's own polling is a primary-key "
        "lookup every 50 ms), and the rate the machine's CPUs allow if all three were "
        "perfectly parallel:\n\n| database | collector µs | PostgreSQL µs | mosquitto µs | "
        "total µs | ceiling on "
        f"{os.cpu_count()} CPUs, reports/s |\n|---|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(rows):
        per = {k: v / r.n * 1e6 for k, v in r.cpu.items()}
        total = sum(per.values())
        cells = [label(r, i, rows), *(f"{per[k]:.1f}" if k in per else "-" for k in CPU_NAMES)]
        lines.append("| " + " | ".join([*cells, f"{total:.1f}", f"{ceiling(r):,.0f}"]) + " |")
    lines.append(
        "\nThe measured rate as a share of that ceiling: "
        + ", ".join(
            f"{label(r, i, rows)} {r.n / r.seconds / ceiling(r):.0%}" for i, r in enumerate(rows)
        )
        + ". The three processes share the machine: the collector's own CPU per report alone "
        "would allow "
        + ", ".join(
            f"{label(r, i, rows)} {r.n / r.cpu['collector']:,.0f}/s" for i, r in enumerate(rows)
        )
        + " on one core of its own."
    )
    lines += [
        "\nPublishing (paho, QoS 1, acknowledged): "
        + ", ".join(
            f"{r.publish_rate:,.0f} reports/s ({label(r, i, rows)})" for i, r in enumerate(rows)
        )
        + ". In flight = the most reports mosquitto had sent the collector without a PUBACK "
        "yet, from its packet log (`log_type debug`, on during the collector's drain only): "
        "mosquitto 2.0.11 moves up to a whole window from the queue into flight on every PUBACK "
        "(`db__message_delete_outgoing` counts the position of the acked message, not the "
        "messages in flight), so a backlog streams towards the collector whole; the collector "
        "therefore bounds itself (`collector/mqtt_read.py`: above 4 batches read but not "
        "stored it stops reading the socket, and TCP backpressure keeps the rest in the "
        "broker).\n",
        *notes,
    ]
    return "\n".join(lines) + "\n"


def write_section(section: str, doc: Path = DOC) -> None:
    """Replace (or append) the '## Collector ingest' section of ``doc``, nothing else."""
    replace_section("Collector ingest", section, doc)
