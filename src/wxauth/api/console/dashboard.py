"""The dashboard's numbers, from the store's counts, shaped for the charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup

from wxauth.api.console.charts import Line, Series, bar_chart, line_chart, lines_chart
from wxauth.core.insights import DAY, HOUR, LatencyCount, bucket_start, percentile
from wxauth.core.ports import Store

# What counts as WeChat failing (as opposed to a client's mistake).
WECHAT_ERRORS = frozenset({"wechat_error", "wechat_unavailable"})


@dataclass(frozen=True, slots=True)
class Dashboard:
    logins_chart: Markup
    new_users_chart: Markup
    wechat_chart: Markup
    latency_chart: Markup
    logins: int
    failed: int
    new_users: int
    active_sessions: int
    wechat_failed: int
    latency_p50: int | None  # over the 24 hours
    latency_p95: int | None


def hours(now: datetime, count: int) -> list[datetime]:
    last = bucket_start(now, HOUR)
    return [last - timedelta(hours=count - 1 - i) for i in range(count)]


def days(now: datetime, count: int) -> list[datetime]:
    last = bucket_start(now, DAY)
    return [last - timedelta(days=count - 1 - i) for i in range(count)]


def latency_lines(counts: list[LatencyCount], slots: list[datetime]) -> list[Line]:
    """The p50 and p95 of code2Session's milliseconds in each slot (None: none timed)."""
    per_slot: dict[datetime, list[tuple[int, int]]] = {}
    for c in counts:
        per_slot.setdefault(c.start, []).append((c.ms, c.count))
    return [
        Line(name, [percentile(per_slot.get(s, []), fraction) for s in slots], color)
        for name, fraction, color in (("p50", 0.5, "#1565c0"), ("p95", 0.95, "#ef6c00"))
    ]


async def build(
    store: Store, now: datetime, appid: str | None, titles: dict[str, str]
) -> Dashboard:
    slots = hours(now, 24)
    counts = await store.login_counts(slots[0], bucket_s=HOUR, appid=appid)
    outcomes = sorted({c.error_code or "ok" for c in counts}, key=lambda o: (o != "ok", o))
    table = {(c.start, c.error_code or "ok"): c.count for c in counts}
    index = {start: i for i, start in enumerate(slots)}
    series = [
        Series(o, [table.get((s, o), 0) for s in slots], "#2e7d32" if o == "ok" else None)
        for o in outcomes or ["ok"]
    ]
    labels = [s.strftime("%H:00") for s in slots]
    totals = [0] * len(slots)
    wechat = [0] * len(slots)
    for c in counts:
        if c.start in index:
            totals[index[c.start]] += c.count
            if c.error_code in WECHAT_ERRORS:
                wechat[index[c.start]] += c.count
    rates = [w / t if t else None for w, t in zip(wechat, totals, strict=True)]
    day_slots = days(now, 14)
    created = {c.start: c.count for c in
               await store.new_user_counts(day_slots[0], bucket_s=DAY, appid=appid)}  # fmt: skip
    new_users = [created.get(d, 0) for d in day_slots]
    latency = await store.latency_counts(slots[0], bucket_s=HOUR, appid=appid)
    histogram = [(c.ms, c.count) for c in latency]
    return Dashboard(
        logins_chart=bar_chart(titles["logins_per_hour"], labels, series),
        new_users_chart=bar_chart(
            titles["new_users_per_day"],
            [d.strftime("%m-%d") for d in day_slots],
            [Series(titles["new_users_14d"], new_users, "#1565c0")],
        ),
        wechat_chart=line_chart(titles["wechat_error_rate"], labels, rates),
        latency_chart=lines_chart(
            titles["wechat_latency"], labels, latency_lines(latency, slots), unit=" ms"
        ),
        logins=sum(totals),
        failed=sum(c.count for c in counts if c.result != "ok"),
        new_users=sum(new_users),
        active_sessions=await store.count_live_sessions(now, appid=appid),
        wechat_failed=sum(wechat),
        latency_p50=percentile(histogram, 0.5),
        latency_p95=percentile(histogram, 0.95),
    )
