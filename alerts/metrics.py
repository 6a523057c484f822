"""Prometheus figures of ``camnet alerts``, in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AlertsMetrics:
    """What the alerts service stored, sent and failed to send."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.enqueued = Counter(
            "camnet_alerts_notifications", "Notifications stored in the outbox.", registry=r
        )
        self.delivered = Counter(
            "camnet_alerts_deliveries",
            "Delivery attempts by channel and resulting state (sent, pending = retry later, "
            "failed, uncertain).",
            ["channel", "state"],
            registry=r,
        )
        self.pending = Gauge(
            "camnet_alerts_pending", "Notifications waiting to be sent.", registry=r
        )
        self.age = Histogram(
            "camnet_alerts_send_delay_seconds",
            "Time from storing a notification to the channel accepting it.",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 6 * 3600),
            registry=r,
        )
        self.events = Counter(
            "camnet_alerts_events", "Task events received from camnet jobs (MQTT).", registry=r
        )
        self.errors = Counter("camnet_alerts_errors", "Passes that failed (database).", registry=r)
