"""Logging for the commands that serve: one format for wxauth's lines and uvicorn's, in the
parent and in every worker process (uvicorn applies ``log_config`` in each worker it starts,
so ``serve --workers N`` logs exactly as one worker does).

Every line goes through :class:`wxauth.redact.RedactingFilter`. Libraries whose DEBUG or INFO
output quotes SQL parameters or request bodies (aiosqlite logs each call with its arguments,
SQLAlchemy echoes statements with their parameters once its logger allows INFO: phone numbers,
openids) are held at WARNING whatever the level asked for.
"""

from __future__ import annotations

import logging
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_FORMAT = (
    '%(asctime)s %(levelname)s %(name)s: %(client_addr)s "%(request_line)s" %(status_code)s'
)
# Loggers held at WARNING: below it they print statement parameters and bodies.
CHATTY = ("aiosqlite", "sqlalchemy", "asyncpg", "asyncmy", "multipart", "python_multipart", "hpack")


def logging_config(level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for ``level`` (debug, info, warning, error)."""
    level = level.upper()
    floor = max(logging.getLevelName(level), logging.WARNING)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "wxauth.redact.RedactingFilter"}},
        "formatters": {
            "plain": {"format": FORMAT},
            "access": {"()": "uvicorn.logging.AccessFormatter", "fmt": ACCESS_FORMAT},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            **{name: {"level": logging.getLevelName(floor)} for name in CHATTY},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def setup_logging(level: str) -> None:
    """Apply :func:`logging_config` in this process."""
    import logging.config

    logging.config.dictConfig(logging_config(level))
