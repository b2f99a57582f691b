"""``wxauth webhooks``: who is told of what, and how their deliveries are going.

A subscription's signing secret is made by wxauth, printed once when it is added (or
rotated) and stored encrypted with the at-rest keys. Every running process sees a change
within ``WXAUTH_APP_REGISTRY_TTL`` seconds, without a restart.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Annotated
from urllib.parse import urlsplit

import typer

from wxauth.cli.common import fail, note
from wxauth.cli.store import table, when, with_wiring
from wxauth.config import check_appid
from wxauth.core.webhook_signing import new_secret
from wxauth.core.webhook_urls import address_refusal, check_url, literal_address
from wxauth.core.webhooks import (
    EVENT_TYPES,
    STATES,
    Delivery,
    Subscription,
    new_subscription_id,
)
from wxauth.errors import NotFound
from wxauth.wiring import Wiring

app = typer.Typer(
    help="Webhooks: add, list, disable, enable, remove, rotate-secret, deliveries, replay.",
    no_args_is_help=True,
)

SubscriptionId = Annotated[str, typer.Argument(help="The subscription's id (wh_...).")]


def parse_events(spec: str) -> tuple[str, ...]:
    """``user.created,user.updated`` (or ``*`` for every type) as a tuple, in
    :data:`EVENT_TYPES` order; one line naming the types there are otherwise."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if names == ["*"]:
        return EVENT_TYPES
    unknown = [n for n in names if n not in EVENT_TYPES]
    if unknown or not names:
        raise fail(
            f"unknown event type {', '.join(unknown) or '(none given)'}: choose from "
            f"{', '.join(EVENT_TYPES)} (or *)"
        )
    return tuple(e for e in EVENT_TYPES if e in names)


def checked_url(url: str, *, allow_private: bool) -> str:
    """The URL if webhooks may go there, resolving its host now (it is checked again at
    every send); one line saying why not otherwise."""
    try:
        check_url(url, allow_private=allow_private)
    except ValueError as exc:
        raise fail(f"refused webhook URL: {exc}") from None
    host = urlsplit(url).hostname or ""
    if literal_address(host) is None:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            note(f"warning: {host} does not resolve now; deliveries wait until it does")
            return url
        for *_, sockaddr in infos:
            refusal = address_refusal(str(sockaddr[0]), allow_private=allow_private)
            if refusal is not None:
                raise fail(f"refused webhook URL: {host} resolves to {sockaddr[0]}, {refusal}")
    return url


@app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Where to POST the events (https://...).")],
    events: Annotated[
        str, typer.Option("--events", help=f"Comma-separated: {', '.join(EVENT_TYPES)}, or *.")
    ],
    appid: Annotated[
        str | None, typer.Option("--appid", help="Only this app's events (default: every app).")
    ] = None,
) -> None:
    """Subscribe URL to events; prints its id and its signing secret (shown only now)."""
    types = parse_events(events)
    if appid is not None:
        try:
            appid = check_appid(appid)
        except ValueError as exc:
            raise fail(str(exc)) from None
    secret = new_secret()

    async def work(wiring: Wiring) -> Subscription:
        allow_private = wiring.settings.webhook_allow_private
        checked = await asyncio.to_thread(checked_url, url, allow_private=allow_private)
        now = wiring.clock()
        subscription = Subscription(
            id=new_subscription_id(),
            url=checked,
            events=types,
            appid=appid,
            secret_enc=wiring.keyring.encrypt(secret),
            created_at=now,
            updated_at=now,
        )
        await wiring.webhooks.add_subscription(subscription)
        return subscription

    added = with_wiring(work)
    typer.echo(f"id: {added.id}")
    typer.echo(f"secret: {secret}")
    note("note: the secret is shown only now: give it to the receiver (it verifies with it)")


@app.command("list")
def webhooks_list() -> None:
    """Every subscription (never its secret)."""
    found = with_wiring(lambda wiring: wiring.webhooks.list_subscriptions())
    if not found:
        typer.echo("no webhook subscriptions")
        return
    rows = [
        [
            s.id,
            s.url,
            ",".join(s.events),
            s.appid or "*",
            "enabled" if s.enabled else "disabled",
            when(s.created_at),
        ]
        for s in found
    ]
    typer.echo(table(["id", "url", "events", "appid", "status", "created (UTC)"], rows))


def _set_enabled(subscription_id: str, enabled: bool) -> None:
    async def work(wiring: Wiring) -> None:
        await wiring.webhooks.update_subscription(subscription_id, wiring.clock(), enabled=enabled)

    try:
        with_wiring(work)
    except NotFound:
        raise fail(f"no webhook subscription {subscription_id}") from None


@app.command("disable")
def webhooks_disable(subscription_id: SubscriptionId) -> None:
    """Stop recording and sending its events; those already queued wait until it is
    enabled again."""
    _set_enabled(subscription_id, False)
    typer.echo(f"disabled {subscription_id}")


@app.command("enable")
def webhooks_enable(subscription_id: SubscriptionId) -> None:
    """Record and send its events again (its queued deliveries go out too)."""
    _set_enabled(subscription_id, True)
    typer.echo(f"enabled {subscription_id}")


@app.command("remove")
def webhooks_remove(
    subscription_id: SubscriptionId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a subscription and every delivery of it (sent or not)."""
    if not yes:
        typer.confirm(f"Remove {subscription_id} and its deliveries?", abort=True)
    removed = with_wiring(lambda wiring: wiring.webhooks.remove_subscription(subscription_id))
    if not removed:
        raise fail(f"no webhook subscription {subscription_id}")
    typer.echo(f"removed {subscription_id}")


@app.command("rotate-secret")
def webhooks_rotate_secret(subscription_id: SubscriptionId) -> None:
    """Sign with a new secret from now on (printed once); the old one stops at once, so
    give the receiver both for the changeover (it may try each)."""
    secret = new_secret()

    async def work(wiring: Wiring) -> None:
        await wiring.webhooks.update_subscription(
            subscription_id, wiring.clock(), secret_enc=wiring.keyring.encrypt(secret)
        )

    try:
        with_wiring(work)
    except NotFound:
        raise fail(f"no webhook subscription {subscription_id}") from None
    typer.echo(f"secret: {secret}")


def _delivery_row(d: Delivery) -> list[str]:
    return [
        str(d.id),
        d.subscription_id,
        d.event_type,
        d.event_id,
        d.state,
        str(d.attempts),
        d.last_error or ("-" if d.last_status is None else str(d.last_status)),
        when(d.delivered_at if d.state == "delivered" else d.next_attempt_at),
    ]


@app.command("deliveries")
def webhooks_deliveries(
    subscription_id: Annotated[
        str | None, typer.Argument(help="Only this subscription's (default: all).")
    ] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="pending, delivered or dead.")
    ] = None,
    limit: Annotated[int, typer.Option("-n", min=1, max=10_000, help="How many.")] = 50,
) -> None:
    """The newest deliveries: their state, attempts and last outcome."""
    if state is not None and state not in STATES:
        raise fail(f"--state is one of {', '.join(STATES)}")

    async def work(wiring: Wiring) -> list[Delivery]:
        return await wiring.webhooks.list_deliveries(
            subscription_id=subscription_id, state=state, limit=limit
        )

    found = with_wiring(work)
    if not found:
        typer.echo("no deliveries")
        return
    headers = ["id", "subscription", "type", "event", "state", "tries", "last", "at (UTC)"]
    typer.echo(table(headers, [_delivery_row(d) for d in found]))


@app.command("replay")
def webhooks_replay(
    delivery_ids: Annotated[
        list[int] | None, typer.Argument(help="Deliveries to send again (by id).")
    ] = None,
    dead: Annotated[
        str | None, typer.Option("--dead", help="Every dead delivery of this subscription.")
    ] = None,
) -> None:
    """Queue deliveries again, from their first attempt (the receiver sees the same
    webhook-id, so it can tell a repeat)."""
    if not delivery_ids and dead is None:
        raise fail("name deliveries to replay, or --dead SUBSCRIPTION_ID")

    async def work(wiring: Wiring) -> int:
        return await wiring.webhooks.replay_deliveries(
            wiring.clock(), ids=delivery_ids or (), dead_of=dead
        )

    count = with_wiring(work)
    typer.echo(f"queued {count} deliveries again")
