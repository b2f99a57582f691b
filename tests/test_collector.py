"""The garbage collector as a wxauth server process sets it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from wxauth import collector


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored")
def test_settling_freezes_what_lives_and_collects_the_young_less_often() -> None:
    middle, oldest = gc.get_threshold()[1:]
    kept = [object() for _ in range(3)]  # alive now: frozen with the rest
    collector.settle()
    assert gc.get_freeze_count() > len(kept)
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, middle, oldest)
