"""the schedule's own words per language: a case's title and description, a hearing's court,
city and address

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-12 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # {}: one text for everyone, the plain columns; existing rows are exactly that.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("translations", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("hearings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("translations", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later), not a batch copy: a copy drops the old
    # table, which SQLite refuses with foreign keys on while hearings point at it (a postponed
    # hearing names its new one) and hearings at their cases.
    op.drop_column("hearings", "translations")
    op.drop_column("cases", "translations")
