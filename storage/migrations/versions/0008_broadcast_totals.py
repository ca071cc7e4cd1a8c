"""a broadcast's figures, kept after its delivery rows are purged

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Broadcasts finished before this revision get their figures from their delivery rows when
    # the purge first reaches them (storage/privacy.py), before the rows go.
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("unreachable", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("failed", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("failure_reasons", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("failure_reasons")
        batch_op.drop_column("failed")
        batch_op.drop_column("unreachable")
        batch_op.drop_column("sent")
