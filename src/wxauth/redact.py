"""Keep secrets out of logs.

httpx logs every request URL at INFO, and code2Session carries the app secret and the login
code in its query string. The filter installed here rewrites such values before any handler
sees them.
"""

from __future__ import annotations

import logging
import re

SENSITIVE_PARAMS = ("secret", "js_code", "access_token", "code", "signature", "session_key")
_PARAM = re.compile(r"(?P<key>" + "|".join(SENSITIVE_PARAMS) + r")=[^&\s'\"]*")


def redact(text: str) -> str:
    """Replace the values of sensitive query parameters in ``text`` with ``***``."""
    return _PARAM.sub(r"\g<key>=***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Arguments are redacted one by one, so formatters that read them (uvicorn's access
        # log does) keep working.
        record.msg = redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        return True


def _redact_arg(arg: object) -> object:
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    text = str(arg)  # httpx passes URL objects, whose text carries the query
    redacted = redact(text)
    return redacted if redacted != text or isinstance(arg, str) else arg


_FILTER = RedactingFilter()


def install(*logger_names: str) -> None:
    """Attach the redacting filter to the named loggers (idempotent)."""
    for name in logger_names or ("httpx", "httpcore", "aiohttp.client", "uvicorn.access"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
