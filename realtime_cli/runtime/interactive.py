"""The terminal front end of a conversation: the Rich dashboard and raw keys around a Runner.

Rendering reads an immutable view swapped in 8 times a second; keys become UserCommands fed
on the event loop. The terminal is restored on every way out (KeyReader owns that).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
from realtime_cli.core import inputs as inp
from realtime_cli.core.snapshot import CoreSnapshot
from realtime_cli.pricing import price_table, session_cost
from realtime_cli.runtime.output import SessionOutcome

if TYPE_CHECKING:
    from realtime_cli.runtime.launch import TalkPlan
    from realtime_cli.runtime.runner import Runner
    from realtime_cli.ui.dashboard import Dashboard


class DashboardPresenter:
    """Runner view sink: projects each core snapshot, with the core's figures and the server's
    rate limits read at the same moment on the event loop, into a DashboardView."""

    def __init__(self, dashboard: Dashboard, plan: TalkPlan, runner: Runner) -> None:
        self.dashboard = dashboard
        self.runner = runner
        self.host = plan.endpoint.host
        self.mode = "push-to-talk" if not plan.config.vad_enabled else plan.config.turn_detection
        self.prices = price_table(plan.prices)
        self.transcription_model = plan.config.transcription_model
        self.last: CoreSnapshot | None = None

    def update(self, core: CoreSnapshot, mic: SourceLevels | None, sink: SinkStatus | None) -> None:
        from realtime_cli.ui.view import DashboardView

        session = self.runner.core
        cost = session_cost(core.model, core.tokens, table=self.prices,
                            transcription_model=self.transcription_model,
                            transcription=core.transcription)
        self.last = core
        self.dashboard.update(DashboardView.build(
            core, mic, sink, figures=session.figures(self.runner.clock.monotonic()),
            endpoint_host=self.host, cost_usd=cost, mode=self.mode,
            rate_limits=session.rate_limits))


async def key_loop(runner: Runner, dashboard: Dashboard, push_to_talk: bool) -> None:
    from realtime_cli.ui.keys import KeyReader

    async with KeyReader(push_to_talk=push_to_talk, on_input_line=dashboard.set_input_line) as keys:
        async for press in keys:
            if press.force:
                runner.force_stop(press.exit_code)
                return
            action = pause_or_resume(press.action, runner.core.ctx.paused)
            runner.feed(inp.UserCommand(now=runner.clock.monotonic(), action=action,
                                        text=press.text, exit_code=press.exit_code))


def pause_or_resume(action: inp.Action, paused: bool) -> inp.Action:
    """`p` pauses, and resumes a session the user paused (also while it reconnects)."""
    return inp.Action.RESUME if action is inp.Action.PAUSE and paused else action


def run_with_dashboard(runner: Runner, plan: TalkPlan) -> int:
    from realtime_cli.ui.dashboard import Dashboard

    dashboard = Dashboard()
    presenter = DashboardPresenter(dashboard, plan, runner)
    outcome = SessionOutcome()
    runner.view = presenter
    runner.observers.append(outcome)
    runner.background.append(lambda: key_loop(runner, dashboard, not plan.config.vad_enabled))
    dashboard.start()
    try:
        code = asyncio.run(runner.run())
    finally:
        dashboard.stop()
        _summary(presenter.last, outcome)
    return code


def _summary(core: CoreSnapshot | None, outcome: SessionOutcome) -> None:
    """One paragraph on the normal screen after the dashboard's alternate screen is gone: why
    the session ended and its figures, as `rt sessions show` words them."""
    if core is None:
        return
    from realtime_cli.ui.figures import summary_lines

    for line in summary_lines(core.session_id, core.elapsed_s, outcome.reason, outcome.figures):
        print(f"rt: {line}")
