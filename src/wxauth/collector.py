"""The garbage collector, set for a server process that wxauth owns (``wxauth serve``, its
workers, ``wxauth simulator``); never for an application that merely mounts wxauth.

Two things, each measured under 200 concurrent logins on one worker (``bench/``):

- **What lives as long as the process is frozen** (:func:`gc.freeze`, once the app is
  built): Python's full collections walk every tracked object, and with the service's few
  hundred thousand long-lived ones each took 160 ms on average (258 ms at worst) while
  every request in flight waited for it.
- **The youngest generation is collected after 50,000 net allocations, not 700.** Objects
  freed by their reference count never reach the collector; what it walks is what is still
  alive, and under load that is mostly the requests in flight (each waits some 50 ms for
  WeChat). With CPython's default of 700, a PostgreSQL worker collected its young
  generations about 80 times a second, walking those same live requests each time: 950
  collections, 1.15 s of CPU, in two 5 s runs and their set-up, beside 8 full collections
  of 56 ms each. With 50,000: 5 young collections (0.1 s) and one full one. Cycles still
  go soon enough: 50,000 objects are a few megabytes at most.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # net allocations between collections of the youngest generation


def settle() -> None:
    """Collect what building the app left behind, freeze what stays, and collect the
    young generations less often (see the module's docstring)."""
    gc.collect()  # what building left behind goes first, not into the frozen generation
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
