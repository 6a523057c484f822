"""Prometheus metrics of the agent, served by a small asyncio HTTP endpoint.

Each agent owns its ``CollectorRegistry`` (no import-time globals) and serves
``GET /metrics`` from the event loop, so no thread is left running after ``run`` ends.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agent.messages import ProbeReport


class AgentMetrics:
    """The agent's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.probe_duration = Histogram(
            "camnet_agent_probe_duration_seconds",
            "Wall time of one probe, connect to verdict.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20),
            registry=self.registry,
        )
        self.probes = Counter(
            "camnet_agent_probes",
            "Probes by result (status) and cause.",
            ["status", "cause"],
            registry=self.registry,
        )
        self.faults = Counter(
            "camnet_agent_faults", "Picture faults found.", ["fault"], registry=self.registry
        )
        self.cameras = Gauge(
            "camnet_agent_cameras", "Cameras by last status.", ["status"], registry=self.registry
        )
        self.reports_written = Counter(
            "camnet_agent_reports_written", "Reports written out.", registry=self.registry
        )
        self.outbox_pending = Gauge(
            "camnet_agent_outbox_pending",
            "Messages in the outbox waiting for the broker.",
            registry=self.registry,
        )
        self.outbox_dropped = Counter(
            "camnet_agent_outbox_dropped",
            "Messages dropped because the outbox was full (oldest first).",
            registry=self.registry,
        )
        self.published = Counter(
            "camnet_agent_mqtt_published",
            "Outbox messages the broker acknowledged (PUBACK), by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.connected = Gauge(
            "camnet_agent_mqtt_connected",
            "1 while the agent is connected to the MQTT broker.",
            registry=self.registry,
        )
        self.reconnects = Counter(
            "camnet_agent_mqtt_reconnects",
            "Connections made to the broker after the first one.",
            registry=self.registry,
        )

    def observe(self, report: ProbeReport) -> None:
        """Count one probe report."""
        self.probe_duration.observe(report.timings.get("total", 0.0))
        self.probes.labels(report.status, report.cause or "").inc()
        for fault in report.faults:
            self.faults.labels(fault).inc()

    def render(self) -> bytes:
        """Return the text exposition of every metric."""
        return generate_latest(self.registry)


async def serve_metrics(metrics: AgentMetrics, host: str, port: int) -> asyncio.Server:
    """Start serving ``GET /metrics`` on ``host:port``; the caller closes the server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            async with asyncio.timeout(5):  # 3.11's wait_for can lose a cancel
                request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path.split(b"?")[0] == b"/metrics":
                body, status = metrics.render(), b"200 OK"
                ctype = CONTENT_TYPE_LATEST.encode()
            else:
                body, status, ctype = b"not found: try /metrics\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + ctype
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)
