"""An in-memory :class:`~wxauth.core.operators.OperatorStore`, for unit tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from wxauth.core.operators import Operator, OperatorEvent, OperatorSession


class MemoryOperatorStore:
    def __init__(self) -> None:
        self.operators: dict[str, Operator] = {}
        self.sessions: dict[str, OperatorSession] = {}
        self.events: list[OperatorEvent] = []

    async def add_operator(self, operator: Operator) -> None:
        self.operators[operator.name] = operator

    async def get_operator(self, name: str) -> Operator | None:
        return self.operators.get(name)

    async def remove_operator(self, name: str) -> bool:
        await self.delete_operator_sessions(name)
        return self.operators.pop(name, None) is not None

    async def list_operators(self) -> list[Operator]:
        return [self.operators[name] for name in sorted(self.operators)]

    async def add_operator_session(self, session: OperatorSession) -> None:
        self.sessions[session.token_hash] = session

    async def find_operator_session(self, token_hash: str) -> OperatorSession | None:
        return self.sessions.get(token_hash)

    async def touch_operator_session(self, token_hash: str, last_seen_at: datetime) -> None:
        session = self.sessions.get(token_hash)
        if session is not None:
            self.sessions[token_hash] = dataclasses.replace(session, last_seen_at=last_seen_at)

    async def delete_operator_session(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    async def delete_operator_sessions(self, operator: str) -> int:
        ended = [h for h, s in self.sessions.items() if s.operator == operator]
        for token_hash in ended:
            del self.sessions[token_hash]
        return len(ended)

    async def add_operator_event(self, event: OperatorEvent) -> None:
        self.events.append(dataclasses.replace(event, id=len(self.events) + 1))

    async def list_operator_events(
        self,
        *,
        limit: int,
        operator: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[OperatorEvent]:
        found = [
            e
            for e in reversed(self.events)
            if (operator is None or e.operator == operator)
            and (since is None or e.at >= since)
            and (until is None or e.at < until)
        ]
        return found[:limit]
