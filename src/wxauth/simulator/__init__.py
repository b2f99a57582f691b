"""A fake WeChat for development, tests, demos and benchmarks.

It serves WeChat's server paths at its root (only the base URL differs from the real thing)
and, under ``/sim/``, plays the phone so that tests can act as a user.
"""

from wxauth.simulator.app import beside, create_simulator_app
from wxauth.simulator.component import SimPlatform
from wxauth.simulator.state import SimApp, SimulatorState

__all__ = ["SimApp", "SimPlatform", "SimulatorState", "beside", "create_simulator_app"]
