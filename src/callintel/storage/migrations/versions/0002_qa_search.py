"""QA review: search segments (embedded transcript windows), reported handling times, and a
PostgreSQL full-text index over ``calls.search_text``.

Revision ID: 0002_qa_search
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_qa_search"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("analysis_version", sa.Integer(), nullable=False),
        sa.Column("first_turn", sa.Integer(), nullable=False),
        sa.Column("last_turn", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedder", sa.String(length=40), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_search_segments_tenant_call", "search_segments", ["tenant_id", "call_id"])
    op.create_table(
        "call_handling",
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("hold_s", sa.Float(), nullable=True),
        sa.Column("after_call_work_s", sa.Float(), nullable=True),
        sa.Column("transferred", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id"),
    )
    op.create_index("ix_call_handling_tenant_id", "call_handling", ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_calls_search_tsv ON calls "
            "USING gin (to_tsvector('english', coalesce(search_text, '')))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_calls_search_tsv")
    op.drop_index("ix_call_handling_tenant_id", table_name="call_handling")
    op.drop_table("call_handling")
    op.drop_index("ix_search_segments_tenant_call", table_name="search_segments")
    op.drop_table("search_segments")
