"""Tables of ``camnet alerts``: contacts, the outbox (which is also the delivery log).

Written by ``camnet alerts`` (notifications, their attempts, its cursor) and by people
through the CLI (contacts); read by the API (the delivery log). They live beside the
collector's tables so one Alembic history builds the whole database.

An ``alert_notification`` row is written *before* anything is sent, in the same
transaction that moves the cursor over the events it came from; its ``dedup_key`` is
unique, so an event read twice never makes a second row. States:

* ``pending`` — waiting for ``next_attempt_at`` (quiet hours, a rate limit and retries
  with backoff all just move that time);
* ``sending`` — committed just before the request goes out; a process that dies here
  leaves the row ``sending`` and the next start marks it ``uncertain``: never sent twice;
* ``sent``, ``failed`` (the channel refused it for good, or attempts ran out),
  ``uncertain`` (the request left but no answer came: not retried, at most once).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from collector.models import utc_column

CONTACT_CHANNELS = ("email", "telegram", "zalo")
NOTIFICATION_STATES = ("pending", "sending", "sent", "failed", "uncertain")


class AlertContact(SQLModel, table=True):
    """Where one user receives notifications: an e-mail, a Telegram chat, a Zalo user."""

    __tablename__ = "alert_contact"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    channel: str = Field(max_length=16)  # one of CONTACT_CHANNELS
    address: str = Field(max_length=300)  # e-mail, Telegram chat id, Zalo user id
    active: bool = True
    created_at: datetime = Field(sa_column=utc_column())

    __table_args__ = (UniqueConstraint("user_id", "channel", "address"),)


class AlertNotification(SQLModel, table=True):
    """One message to one recipient on one channel: the outbox row and its delivery log."""

    __tablename__ = "alert_notification"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=32)  # camera_down, camera_recovered, site_offline, ...
    commune_code: str | None = Field(default=None, max_length=5, index=True)
    task_id: int | None = Field(default=None, index=True)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    channel: str = Field(max_length=16)  # email | telegram | zalo | webhook
    address: str = Field(max_length=300)  # the contact, or the webhook's name
    priority: str = Field(default="normal", max_length=16)
    subject: str = Field(default="", max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    state: str = Field(max_length=16)  # one of NOTIFICATION_STATES
    attempts: int = 0
    created_at: datetime = Field(sa_column=utc_column())
    next_attempt_at: datetime = Field(sa_column=utc_column())
    held: str = Field(default="", max_length=32)  # why it waits: quiet_hours | rate_limit
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str = Field(default="", max_length=500)
    updated_at: datetime = Field(sa_column=utc_column())

    __table_args__ = (Index("ix_alert_notification_due", "state", "next_attempt_at"),)


class AlertCursor(SQLModel, table=True):
    """How far ``camnet alerts`` has read a stream (``task_event``), and small state."""

    __tablename__ = "alert_cursor"

    name: str = Field(primary_key=True, max_length=64)
    value: int = 0
    updated_at: datetime = Field(sa_column=utc_column())


class AlertRatio(SQLModel, table=True):
    """A commune's working ratio as the ratio rule last saw it (below since when, told)."""

    __tablename__ = "alert_ratio"

    commune_code: str = Field(primary_key=True, max_length=5)
    below_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    alerted: bool = False
    updated_at: datetime = Field(sa_column=utc_column())
