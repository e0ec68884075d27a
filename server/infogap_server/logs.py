"""Structured (JSON lines) logs. Callers pass fields through ``extra={"fields": {...}}``; customer text is never
passed, only its length."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries below the store log their statements with the bound values (pseudonyms, redacted notes) at DEBUG
    # and INFO; the server's log must carry neither, whatever its level. Alembic narrates every migration step.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


#: Loggers held at WARNING or above: they would write customer data (SQL parameters) or noise into the log.
QUIET_LIBRARIES = ("aiosqlite", "sqlalchemy", "asyncpg", "alembic")
