"""the language of a broadcast's preview in a column of its own, out of the payload

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 12:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

broadcasts = sa.table(
    "broadcasts",
    sa.column("id", sa.Integer()),
    sa.column("payload", sa.JSON()),
    sa.column("preview_language", sa.String(8)),
)


def _payload(value: object) -> dict[str, object]:
    if isinstance(value, str):  # a driver that hands JSON back as text
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preview_language", sa.String(length=8), nullable=True))
    connection = op.get_bind()
    for row in connection.execute(sa.select(broadcasts.c.id, broadcasts.c.payload)).all():
        payload = _payload(row.payload)
        language = payload.pop("language", None)
        if language is not None:
            connection.execute(
                broadcasts.update()
                .where(broadcasts.c.id == row.id)
                .values(preview_language=str(language)[:8], payload=payload)
            )


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(broadcasts.c.id, broadcasts.c.payload, broadcasts.c.preview_language).where(
            broadcasts.c.preview_language.is_not(None)
        )
    ).all()
    for row in rows:
        payload = _payload(row.payload) | {"language": row.preview_language}
        connection.execute(
            broadcasts.update().where(broadcasts.c.id == row.id).values(payload=payload)
        )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("preview_language")
