"""Persons: one per UnionID, linking the users of several apps of one owner; merges by an
operator, audited and reversible.

Logins link users by UnionID themselves (:meth:`~wxauth.core.ports.Store.link_person`).
An operator joins two persons WeChat could not (no UnionID, or two of them for one human)
with :meth:`Persons.merge`: every user of the second person moves to the first, each move
leaves an account event ``person_merged`` naming the merge, and :meth:`Persons.undo` puts
them back from those events alone.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from wxauth.core.models import AccountEvent, User
from wxauth.core.ports import Clock, Store
from wxauth.errors import InvalidRequest, NotFound

MERGED = "person_merged"
UNMERGED = "person_unmerged"
DETAIL = re.compile(r"merge=(?P<merge>[0-9a-f]{12}) from=(?P<source>\w+) to=(?P<target>\w+)")


@dataclass(frozen=True, slots=True)
class MergePlan:
    """What merging person ``source`` into ``target`` changes, and what does not fit."""

    target: str
    source: str
    moving: list[User] = field(repr=False)
    staying: list[User] = field(repr=False)
    conflicts: list[str]
    merge_id: str | None = None


def conflicts(staying: list[User], moving: list[User]) -> list[str]:
    """What the two persons disagree on: phones, profiles, and two users of one app."""
    found = []
    phones = {u.phone for u in staying if u.phone}, {u.phone for u in moving if u.phone}
    if phones[0] and phones[1] and phones[0] != phones[1]:
        found.append("two phone numbers: each person has its own")
    names = {u.nickname for u in staying if u.nickname}, {u.nickname for u in moving if u.nickname}
    if names[0] and names[1] and names[0] != names[1]:
        found.append(f"two profiles: nicknames {sorted(names[0])} and {sorted(names[1])}")
    unions = {u.unionid for u in staying if u.unionid}, {u.unionid for u in moving if u.unionid}
    if unions[0] and unions[1] and unions[0] != unions[1]:
        found.append("two UnionIDs: WeChat sees two people")
    apps = {u.appid for u in staying} & {u.appid for u in moving}
    for appid in sorted(apps):
        found.append(f"both have a user of {appid}: that app would see one person twice")
    return found


class Persons:
    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def _user(self, user_id: str) -> User:
        user = await self._store.get_user(user_id)
        if user is None:
            raise NotFound(f"No user with id {user_id}.")
        return user

    async def plan(self, into_user: str, from_user: str) -> MergePlan:
        """What :meth:`merge` would do, changing nothing (``--dry-run``)."""
        target = (await self._user(into_user)).person
        source = (await self._user(from_user)).person
        if target == source:
            raise InvalidRequest("These users are already one person.")
        staying = await self._store.person_users(target)
        moving = await self._store.person_users(source)
        return MergePlan(target, source, moving, staying, conflicts(staying, moving))

    async def merge(self, into_user: str, from_user: str, *, actor: str = "operator") -> MergePlan:
        """Move every user of ``from_user``'s person to ``into_user``'s, audited per user."""
        plan = await self.plan(into_user, from_user)
        merge_id = secrets.token_hex(6)
        now = self._clock()
        ids = [u.id for u in plan.moving]
        await self._store.set_person(ids, plan.target, merged=plan.source, now=now)
        detail = f"merge={merge_id} from={plan.source} to={plan.target}"
        for user in plan.moving:
            event = AccountEvent(now, MERGED, user.id, user.appid, actor, None, detail)
            await self._store.add_account_event(event)
        return MergePlan(plan.target, plan.source, plan.moving, plan.staying, [], merge_id)

    async def undo(self, merge_id: str, *, person_of: str, actor: str = "operator") -> list[str]:
        """Put back the users a merge moved, from its audit events: ``person_of`` is any
        user now in the merged person. Returns the ids of those moved back."""
        target = (await self._user(person_of)).person
        moved, source = [], None
        for user in await self._store.person_users(target):
            for event in await self._store.list_account_events(limit=200, user_id=user.id):
                match = DETAIL.fullmatch(event.detail or "") if event.action == MERGED else None
                if match and match["merge"] == merge_id and match["target"] == target:
                    moved.append(user)
                    source = match["source"]
                    break
        if source is None:
            raise NotFound(f"No merge {merge_id} into this person.")
        now = self._clock()
        await self._store.set_person([u.id for u in moved], source, merged=None, now=now)
        detail = f"merge={merge_id} from={target} to={source}"
        for user in moved:
            event = AccountEvent(now, UNMERGED, user.id, user.appid, actor, None, detail)
            await self._store.add_account_event(event)
        return [u.id for u in moved]
