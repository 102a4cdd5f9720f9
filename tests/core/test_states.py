"""The lifecycle transition table: every state x every trigger, exhaustively."""

from __future__ import annotations

import itertools

import pytest

from realtime_cli.core.states import TRANSITIONS, Lifecycle, SessionState, Trigger
from realtime_cli.errors import InvalidTransition

S, T = SessionState, Trigger
PAIRS = list(itertools.product(SessionState, Trigger))

# The table, written out independently of states.py, so a change to either shows up here.
EXPECTED: dict[tuple[SessionState, Trigger], SessionState] = {
    (S.INITIALIZING, T.OPENED): S.CONNECTED,
    (S.CONNECTED, T.SESSION_CREATED): S.CONFIGURING,
    (S.CONFIGURING, T.CONFIGURED): S.READY,
    (S.READY, T.SPEECH_STARTED): S.LISTENING,
    (S.LISTENING, T.SPEECH_STARTED): S.LISTENING,
    (S.PROCESSING, T.SPEECH_STARTED): S.LISTENING,
    (S.INTERRUPTED, T.SPEECH_STARTED): S.LISTENING,
    (S.LISTENING, T.SPEECH_STOPPED): S.PROCESSING,
    (S.READY, T.RESPONSE_STARTED): S.RESPONDING,
    (S.LISTENING, T.RESPONSE_STARTED): S.RESPONDING,
    (S.PROCESSING, T.RESPONSE_STARTED): S.RESPONDING,
    (S.INTERRUPTED, T.RESPONSE_STARTED): S.RESPONDING,
    (S.RESPONDING, T.RESPONSE_STARTED): S.RESPONDING,
    (S.RESPONDING, T.RESPONSE_FINISHED): S.READY,
    (S.INTERRUPTED, T.RESPONSE_FINISHED): S.READY,
    (S.PROCESSING, T.RESPONSE_FINISHED): S.READY,
    (S.RESPONDING, T.INTERRUPT): S.INTERRUPTED,
    (S.PAUSED, T.RESUME): S.READY,
    (S.CLOSING, T.CLOSED): S.CLOSED,
    (S.ERROR, T.CLOSED): S.CLOSED,
}
_CONVERSATIONAL = (S.READY, S.LISTENING, S.PROCESSING, S.RESPONDING, S.INTERRUPTED)
_CONNECTED = (S.CONNECTED, S.CONFIGURING, *_CONVERSATIONAL, S.PAUSED)
EXPECTED.update({(s, T.PAUSE): S.PAUSED for s in _CONVERSATIONAL})
EXPECTED.update({(s, T.DISCONNECTED): S.INITIALIZING for s in _CONNECTED})
EXPECTED.update({(s, T.CLOSE): S.CLOSING for s in (S.INITIALIZING, *_CONNECTED)})
EXPECTED.update({(s, T.FAIL): S.ERROR for s in (S.INITIALIZING, *_CONNECTED, S.CLOSING)})


def at(state: SessionState, now: float = 5.0) -> Lifecycle:
    """A lifecycle put in `state` directly (the table is what is under test, not the path)."""
    life = Lifecycle(now=0.0)
    life.state, life.entered_at = state, now
    return life


def test_the_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("state", "trigger"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_every_state_and_trigger(state: SessionState, trigger: Trigger) -> None:
    life = at(state)
    legal = (state, trigger) in EXPECTED
    assert life.can(trigger) is legal
    if legal:
        change = life.apply(trigger, now=7.0)
        assert life.state is EXPECTED[(state, trigger)]
        assert (change.old, change.new, change.trigger, change.at) == (
            state, EXPECTED[(state, trigger)], trigger, 7.0)
        assert life.history == [change]
        assert life.entered_at == 7.0
    else:
        with pytest.raises(InvalidTransition, match=trigger.value):
            life.apply(trigger, now=7.0)
        assert life.state is state
        assert life.history == []
        assert life.entered_at == 5.0


def test_closed_is_terminal_and_error_only_closes() -> None:
    assert [t for t in Trigger if at(S.CLOSED).can(t)] == []
    assert [t for t in Trigger if at(S.ERROR).can(t)] == [T.CLOSED]


def test_every_state_is_reachable_from_initializing() -> None:
    seen, frontier = {S.INITIALIZING}, [S.INITIALIZING]
    while frontier:
        state = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is state and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(SessionState)


@pytest.mark.parametrize("state", list(SessionState))
def test_is_active_and_can_accept_input(state: SessionState) -> None:
    life = at(state)
    assert life.is_active() is (state not in (S.CLOSED, S.ERROR))
    assert life.can_accept_input() is (state in _CONVERSATIONAL)


def test_history_records_a_whole_path_with_times_and_state_duration() -> None:
    life = Lifecycle(now=1.0)
    path = [(T.OPENED, 2.0), (T.SESSION_CREATED, 3.0), (T.CONFIGURED, 4.0),
            (T.SPEECH_STARTED, 10.0), (T.SPEECH_STOPPED, 12.0), (T.RESPONSE_STARTED, 12.5),
            (T.INTERRUPT, 13.0), (T.SPEECH_STARTED, 13.0), (T.CLOSE, 20.0), (T.CLOSED, 20.5)]
    for trigger, now in path:
        life.apply(trigger, now)
    assert [c.new for c in life.history] == [
        S.CONNECTED, S.CONFIGURING, S.READY, S.LISTENING, S.PROCESSING, S.RESPONDING,
        S.INTERRUPTED, S.LISTENING, S.CLOSING, S.CLOSED]
    assert [c.at for c in life.history] == [now for _, now in path]
    assert life.state_duration(now=21.0) == pytest.approx(0.5)
    with pytest.raises(InvalidTransition):
        life.apply(T.OPENED, 22.0)
    assert len(life.history) == len(path)
