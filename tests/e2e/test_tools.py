"""A declared function tool, end to end: the model (rt serve --tool-call) calls it, rt runs the
user's command with the arguments on stdin, sends the result back after `response.done`, and
the spoken answer uses it. The call and its result are printed and journaled."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .conftest import Wavs
from .support import no_traceback, run_rt, session_json, sessions_json

pytestmark = pytest.mark.slow

TOOL = """
import json, sys
args = json.load(sys.stdin)
print(json.dumps({"time": "12:34", "city": args.get("city", "nowhere")}))
"""


def test_a_declared_tool_is_called_answered_once_and_journaled(
    serve, wavs: Wavs, env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "get_time.py"
    script.write_text(TOOL)
    config = tmp_path / "rt.toml"
    config.write_text(
        "[[tools]]\n"
        'name = "get_time"\n'
        'description = "The time in a city."\n'
        f'command = ["{sys.executable}", "{script}"]\n'
        "timeout_s = 5\n"
        'parameters = {type = "object", properties = {city = {type = "string"}}}\n'
    )
    srv = serve("--tool-call", "get_time")
    res = run_rt(["talk", "--url", srv.url, "--input", str(wavs.question), "--output",
                  str(tmp_path / "a.wav"), "--max-turns", "1", "--json"],
                 {**env, "RT_CONFIG": str(config)})
    assert res.code == 0, res
    no_traceback(res)
    events = res.json_lines()
    kinds = [e.get("kind") for e in events if e["event"] == "transcript"]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("assistant"), kinds
    result = next(e for e in events if e.get("kind") == "tool_result")
    assert json.loads(result["text"])["time"] == "12:34"

    outputs = srv.received("conversation.item.create")
    calls = [e for e in outputs if e["item"]["type"] == "function_call_output"]
    assert len(calls) == 1, "each call is answered exactly once"
    assert json.loads(calls[0]["item"]["output"])["time"] == "12:34"
    creates = [e["event"]["type"] for e in srv.lines()]
    # the result goes back before the response that uses it is asked for
    after = creates[len(creates) - creates[::-1].index("conversation.item.create"):]
    assert "response.create" in after, creates

    (row,) = sessions_json(env)
    stored = session_json(env, row["id"])
    assert [i["kind"] for i in stored["items"]][:4] == [
        "user_audio", "tool_call", "tool_result", "assistant"], stored["items"]
