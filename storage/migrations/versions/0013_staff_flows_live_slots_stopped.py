"""guided staff flows, one live hearing per case and local slot, stopped broadcasts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 07:00:00

- ``staff_flows``: a staff member half-way through a guided command (one row each);
- ``ix_hearings_live_slot``: a partial unique index, so that two staff acting at the same
  moment cannot give a case two scheduled hearings at one date and time (the rule was checked
  in Python only, which two transactions pass together on PostgreSQL);
- ``broadcasts.stopped``: how many deliveries a Stop left unsent, kept with the other figures.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status = 'scheduled'")


def upgrade() -> None:
    op.create_table(
        "staff_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("command", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("offered", sa.JSON(), nullable=False),
        sa.Column("reply_keyboard", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped", sa.Integer(), nullable=True))
    with op.batch_alter_table("hearings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hearings_live_slot",
            ["case_id", "starts_at", "time_tba"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("hearings", schema=None) as batch_op:
        batch_op.drop_index("ix_hearings_live_slot", sqlite_where=LIVE, postgresql_where=LIVE)
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("stopped")
    op.drop_table("staff_flows")
