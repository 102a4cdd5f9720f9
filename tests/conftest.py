"""Shared fixtures for the whole suite. Keep it small: helpers live in `helpers.py` and
`conformance.py` (importable as top-level modules because this directory is on `sys.path`)."""

from __future__ import annotations

import pytest
from helpers import Harness, ScriptedPeer

from realtime_cli.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only on `advance` (monotonic starts at 1000.0)."""
    return ManualClock()


@pytest.fixture
def peer(clock: ManualClock) -> ScriptedPeer:
    """A scripted GA server on the `clock` fixture."""
    return ScriptedPeer(clock)


@pytest.fixture
def harness() -> Harness:
    """A SessionCore with default SessionConfig, not yet begun (call `harness.ready()`)."""
    return Harness()
