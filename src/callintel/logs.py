"""JSON log lines carrying ``call_id`` and ``task_id`` from context variables.

``configure_logging(settings)`` is called by composition roots (serve, worker, API factory);
code sets the context with ``log_context(call_id=..., task_id=...)``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

call_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_VARS = {"call_id": call_id_var, "task_id": task_id_var, "request_id": request_id_var}
_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Attach ``call_id`` / ``task_id`` / ``request_id`` to every log line inside the block."""
    tokens = [(_VARS[k], _VARS[k].set(v)) for k, v in values.items() if k in _VARS]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context ids, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _VARS.items():
            value = var.get()
            if value is not None:
                doc[name] = value
        for key, value in vars(record).items():
            if key not in _STD and not key.startswith("_"):
                doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(*, json_lines: bool = True, level: str = "INFO") -> None:
    """Replace the root handlers with one stderr handler (JSON or plain)."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
