"""forum topics: the topic a subscription posts to, and the topic of each delivery

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-10 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # None: the chat itself (General, in a forum); existing rows are exactly that.
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_thread_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_thread_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("message_thread_id")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("message_thread_id")
