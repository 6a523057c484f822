"""camera_state without last_report_at / last_report_status (read from health_report).

A camera's row was rewritten for every report only to move these two columns: half of
the database's work per report. The time of the last report is the newest
``health_report`` row of the camera (``ix_health_report_camera_probed``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("camera_state", schema=None) as batch_op:
        batch_op.drop_column("last_report_status")
        batch_op.drop_column("last_report_at")


def downgrade() -> None:
    """Revert this revision (the columns come back empty: the collector fills them no more)."""
    with op.batch_alter_table("camera_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_report_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_report_status", sa.String(), nullable=True))
