"""Contact-centre metrics over analysed calls, by period, queue or agent.

Rows come from one SQL query (``qa_repo.metric_rows``, portable across SQLite and PostgreSQL);
grouping and the JSON-derived figures (flags, sentiment change, QA items) are computed here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean
from typing import Any, Literal

from sqlalchemy.orm import Session

from callintel.storage import qa_repo
from callintel.storage.qa_repo import MetricRow

GroupBy = Literal["day", "week", "queue", "agent"]
REPEAT_WINDOW = timedelta(days=7)
_TRANSFER = re.compile(
    r"\b(transfer(ring)?|connect(ing)?|put(ting)?) you (through )?(to|with)\b|\bescalat(e|ing) (this|your)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MetricsQuery:
    start: datetime | None = None
    end: datetime | None = None
    queue: str | None = None
    agent_id: str | None = None
    group_by: GroupBy | None = None


def transferred(row: MetricRow, doc: dict[str, Any] | None) -> bool:
    """Reported by the platform when known, else the agent said they were transferring."""
    if row.transferred is not None:
        return row.transferred
    turns = (doc or {}).get("transcript", {}).get("turns", [])
    return any(t.get("speaker") == "agent" and _TRANSFER.search(t.get("text", "")) for t in turns)


def repeat_flags(rows: Sequence[MetricRow], contacts: dict[str, list[datetime]]) -> dict[str, bool]:
    """A call counts as a repeat contact when the same customer calls again within 7 days after it."""
    out: dict[str, bool] = {}
    for row in rows:
        times = contacts.get(row.customer_id or "", [])
        out[row.call_id] = any(row.at < t <= row.at + REPEAT_WINDOW for t in times)
    return out


def _rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def _avg(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(mean(present), 2) if present else None


def _top(counter: Counter[str], n: int = 5) -> list[dict[str, Any]]:
    return [{"label": k, "count": v} for k, v in counter.most_common(n)]


def _flag_topics(row: MetricRow) -> list[str]:
    return [f["topic"] if isinstance(f, dict) else str(f) for f in row.flags]


def _sentiment_change(docs: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    trends = [((d or {}).get("sentiment") or {}).get("trend") for d in docs]
    present = [t for t in trends if t]
    directions = Counter(str(t.get("direction")) for t in present)
    return {
        "improving": directions.get("improving", 0), "worsening": directions.get("worsening", 0),
        "stable": directions.get("stable", 0),
        "avg_delta": _avg([float(t.get("delta", 0.0)) for t in present]),
    }


def _qa_items(docs: Sequence[dict[str, Any] | None]) -> dict[str, float]:
    results: dict[str, list[bool]] = {}
    for doc in docs:
        for item in ((doc or {}).get("qa") or {}).get("items", []):
            if item.get("result") in ("pass", "fail"):
                results.setdefault(item["id"], []).append(item["result"] == "pass")
    return {k: round(sum(v) / len(v), 4) for k, v in results.items()}


def _handle_time(row: MetricRow) -> float | None:
    if row.duration_s is None:
        return None
    return row.duration_s + (row.hold_s or 0.0) + (row.after_call_work_s or 0.0)


def summarize_rows(
    rows: Sequence[MetricRow], docs: dict[str, dict[str, Any]], repeats: dict[str, bool]
) -> dict[str, Any]:
    """The metric block of one group of calls."""
    own_docs = [docs.get(r.call_id) for r in rows]
    sentiments = Counter(r.sentiment for r in rows if r.sentiment)
    n = len(rows)
    return {
        "volume": n,
        "avg_handle_time_s": _avg([_handle_time(r) for r in rows]),
        "avg_talk_time_s": _avg([r.duration_s for r in rows]),
        "avg_hold_s": _avg([r.hold_s for r in rows]),
        "avg_after_call_work_s": _avg([r.after_call_work_s for r in rows]),
        "transfer_rate": _rate([transferred(r, docs.get(r.call_id)) for r in rows]),
        "escalation_rate": _rate([r.escalation in ("suggest", "require") for r in rows]),
        "escalation_required_rate": _rate([r.escalation == "require" for r in rows]),
        "repeat_contact_rate": _rate([repeats.get(r.call_id, False) for r in rows]),
        "sentiment": {k: sentiments.get(k, 0) for k in ("negative", "neutral", "positive")},
        "sentiment_change": _sentiment_change(own_docs),
        "top_intents": _top(Counter(r.intent for r in rows if r.intent)),
        "top_flags": _top(Counter(t for r in rows for t in _flag_topics(r))),
        "qa": {"avg_score": _avg([r.qa_score for r in rows]),
               "scored_calls": sum(r.qa_score is not None for r in rows),
               "item_pass_rates": _qa_items(own_docs)},
    }


def group_key(group_by: GroupBy) -> Callable[[MetricRow], str]:
    if group_by == "day":
        return lambda r: r.at.date().isoformat()
    if group_by == "week":
        return lambda r: (r.at.date() - timedelta(days=r.at.weekday())).isoformat()
    if group_by == "queue":
        return lambda r: r.queue or "(none)"
    return lambda r: r.agent_id or "(none)"


def metrics_summary(session: Session, *, tenant_id: str, query: MetricsQuery) -> dict[str, Any]:
    """Totals and, with ``group_by``, one block per day / week (Monday) / queue / agent."""
    rows = qa_repo.metric_rows(session, tenant_id=tenant_id, start=query.start, end=query.end,
                               queue=query.queue, agent_id=query.agent_id)
    docs = {k: v[1] for k, v in qa_repo.latest_documents(session, [r.call_id for r in rows]).items()}
    customers = sorted({r.customer_id for r in rows if r.customer_id})
    end = query.end + REPEAT_WINDOW if query.end is not None else None
    contacts = qa_repo.customer_contacts(session, tenant_id=tenant_id, customer_ids=customers,
                                         start=query.start, end=end)
    repeats = repeat_flags(rows, contacts)
    out: dict[str, Any] = {
        "from": query.start.isoformat() if query.start else None,
        "to": query.end.isoformat() if query.end else None,
        "queue": query.queue, "agent_id": query.agent_id, "group_by": query.group_by,
        "totals": summarize_rows(rows, docs, repeats), "groups": [],
    }
    if query.group_by is not None:
        key = group_key(query.group_by)
        buckets: dict[str, list[MetricRow]] = {}
        for row in rows:
            buckets.setdefault(key(row), []).append(row)
        out["groups"] = [{"key": k, **summarize_rows(v, docs, repeats)} for k, v in sorted(buckets.items())]
    return out
