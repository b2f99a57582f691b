"""What the operator console asks of the store: searches and counts over time.

Counts are grouped in buckets of ``bucket_s`` seconds counted from the Unix epoch (an hour:
3600, a day: 86400, both in UTC), so that every store cuts time at the same places.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

HOUR = 3600
DAY = 86400


@dataclass(frozen=True, slots=True)
class LoginCount:
    """Login attempts in one bucket with one outcome (``error_code`` None for ``ok``)."""

    start: datetime
    result: str
    error_code: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Count:
    start: datetime
    count: int


@dataclass(frozen=True, slots=True)
class LatencyCount:
    """Logins in one bucket whose code2Session took ``ms`` milliseconds: a histogram, from
    which percentiles are read exactly (see :func:`percentile`)."""

    start: datetime
    ms: int
    count: int


@dataclass(frozen=True, slots=True)
class AppCounts:
    """One app's users, and its sessions live at the time asked."""

    appid: str
    users: int
    live_sessions: int


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters on the login events; each one left None does not filter."""

    since: datetime | None = None
    until: datetime | None = None
    appid: str | None = None
    user_id: str | None = None
    result: str | None = None
    limit: int = 100


def bucket_start(at: datetime, bucket_s: int) -> datetime:
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % bucket_s, tz=UTC)


def percentile(histogram: Iterable[tuple[int, int]], fraction: float) -> int | None:
    """The nearest-rank percentile (``fraction`` 0.5: the median) of values given as
    (value, how many) pairs; None when there are none."""
    pairs = sorted((value, count) for value, count in histogram if count > 0)
    total = sum(count for _, count in pairs)
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for value, count in pairs:
        seen += count
        if seen >= rank:
            return value
    return pairs[-1][0]


def phone_tail(query: str) -> str | None:
    """The digits a phone number search looks for at the end of numbers: 4 or more."""
    digits = query.strip()
    return digits if len(digits) >= 4 and digits.isdigit() else None
