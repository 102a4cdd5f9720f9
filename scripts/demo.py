"""`make demo`: a full spoken exchange with `rt serve`, offline, no microphone and no key.

Starts `rt serve` on a free port, speaks a question into a WAV with espeak-ng, runs `rt talk`
with that WAV as the microphone and another WAV as the speaker, then shows the stored session.
Then the same conversation goes on with the other provider: `rt serve --protocol gemini` and
`rt resume --provider gemini` (the history replayed as text, exactly as it was heard).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
RT = [sys.executable, "-m", "realtime_cli"]
QUESTION = "Hello there! Could you tell me something about this turn?"


def start_server(*flags: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str | None]:
    server = subprocess.Popen([*RT, "serve", "--port", "0", *flags], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    assert server.stdout is not None
    line = server.stdout.readline()
    match = re.search(r"(ws://\S+)", line)
    if match is None:
        print(f"demo: rt serve did not start: {line.strip()}", file=sys.stderr)
    return server, match.group(1) if match else None


def stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.wait(timeout=10)
    if server.stdout is not None:
        server.stdout.close()


def main() -> int:
    OUT.mkdir(exist_ok=True)
    question = OUT / "question.wav"
    if shutil.which("espeak-ng") is None:
        print("demo: espeak-ng is missing; run `make install` (it installs it)", file=sys.stderr)
        return 1
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(question), QUESTION],
                   check=True)
    env = {**os.environ, "RT_DATA_DIR": str(OUT / "data")}
    env.pop("OPENAI_API_KEY", None)
    server, url = start_server(env=env)
    try:
        if url is None:
            return 1
        print(f"$ rt serve --port 0     -> {url}")
        print(f"$ rt talk --url {url} --input {question.name} --output answer.wav --max-turns 1\n")
        talk = subprocess.run(
            [*RT, "talk", "--url", url, "--input", str(question), "--output",
             str(OUT / "answer.wav"), "--max-turns", "1", "--plain"], env=env)
        if talk.returncode != 0:
            return talk.returncode
    finally:
        stop(server)
    latest = subprocess.run([*RT, "sessions", "list", "--json", "--limit", "1"], env=env,
                            capture_output=True, text=True, check=True)
    found = re.search(r'"id":\s*"([0-9a-f]+)"', latest.stdout)
    if found is None:
        print("demo: the session was not stored", file=sys.stderr)
        return 1
    short = found.group(1)[:8]
    server, url = start_server("--protocol", "gemini", env=env)
    try:
        if url is None:
            return 1
        print(f"\n$ rt serve --protocol gemini --port 0     -> {url}")
        print(f"$ rt resume {short} --provider gemini --url {url} --input {question.name} "
              "--output answer-gemini.wav --max-turns 1\n")
        resumed = subprocess.run(
            [*RT, "resume", short, "--provider", "gemini", "--url", url, "--input",
             str(question), "--output", str(OUT / "answer-gemini.wav"), "--max-turns", "1",
             "--plain"], env={**env, "GEMINI_API_KEY": "offline-demo"})
        if resumed.returncode != 0:
            return resumed.returncode
    finally:
        stop(server)
    print("\n$ rt sessions show (the journaled conversation, both providers)\n")
    subprocess.run([*RT, "sessions", "show", short], env=env, check=True)
    print(f"\nHeard audio: {OUT / 'answer.wav'}, {OUT / 'answer-gemini.wav'}   "
          f"Sessions: {OUT / 'data'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
