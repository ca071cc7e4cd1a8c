"""hearing keys: how a schedule file names a hearing within its case

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-25 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hearings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
    # Hearings there already are known by their id; unique, and what /hearings shows as #N.
    op.execute("UPDATE hearings SET key = 'h' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("hearings", schema=None) as batch_op:
        batch_op.alter_column(
            "key", existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False
        )
        batch_op.create_index("ix_hearings_case_key", ["case_id", "key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("hearings", schema=None) as batch_op:
        batch_op.drop_index("ix_hearings_case_key")
        batch_op.drop_column("key")
