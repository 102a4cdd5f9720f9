"""The real dashboard in a real terminal: `rt talk` (no --plain) inside tmux, against `rt serve`.

tmux gives the process a real pty of 120 x 40. The test reads the screen with
`tmux capture-pane -p` (polling with a deadline, no fixed sleeps) and types with
`tmux send-keys`. The pane runs a small `sh` script: `rt talk ...`, then it records the exit
code and `stty -a` (the terminal as rt left it), then `read`s a line we type, which only works
(and only shows what we typed) if canonical mode and echo are back.

The input WAV is speech, a pause, more speech, then a minute of silence (so the file never
"ends" the run: only our keys do). The offline server answers each turn with espeak-ng speech
of a few seconds, which the WAV sink plays in real time, so there is time to interrupt.

Three runs: a conversation driven by keys (i, m, q -> exit 0, stored as manual_cancel); a
resize to 70 x 16 and back, then Ctrl-C (-> 130); SIGTERM from outside (-> 143). After each, the
terminal must be usable again.

Set RT_DASHBOARD_CAPTURE=path to save the screen mid-conversation (after the interrupted
turn, while the second answer plays): that is how docs/dashboard.txt was made.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None,
                       reason="tmux is not installed (make system-deps installs it)"),
]

RT = Path(sys.executable).parent / "rt"
WIDTH, HEIGHT = 120, 40
RATE = 24_000
SPEECH_1 = "What is the weather like in Paris today and what should I wear outside"
SPEECH_2 = "And what about London tomorrow morning"


# ------------------------------------------------------------------ fixtures


def _pcm(text: str) -> bytes:
    """24 kHz mono PCM16 speech: espeak-ng through rt serve's own engine (which falls back
    to a voice-like synthetic signal if espeak-ng is missing)."""
    from realtime_cli.server.speech import SpeechEngine

    return asyncio.run(SpeechEngine("auto", warn=lambda _line: None).synthesize(text))


def _silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * RATE)


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Speech, 4.5 s of silence, speech, 60 s of silence."""
    path = tmp_path_factory.mktemp("wav") / "conversation.wav"
    pcm = (_silence(0.3) + _pcm(SPEECH_1) + _silence(4.5) + _pcm(SPEECH_2) + _silence(60))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return path


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `rt serve --port 0`; its first stdout line names the URL."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([str(RT), "serve", "--port", "0", "--quiet"],
                                stdout=subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"listening on (ws://\S+)", line)
        assert match, f"rt serve said {line!r}; stderr: {log.read_text()}"
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass
class Pane:
    """One tmux server (private socket) with one 120 x 40 session running `script`."""

    socket: str
    workdir: Path
    env: dict[str, str]

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", "-u", *args],
                             capture_output=True, text=True, env=self.env, timeout=10)
        assert out.returncode == 0, f"tmux {args}: {out.stderr}"
        return out.stdout

    def start(self, script: str) -> None:
        self.tmux("new-session", "-d", "-s", "rt", "-x", str(WIDTH), "-y", str(HEIGHT),
                  "sh", "-c", script)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "rt")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "rt", *keys)

    def wait_for(self, what: str, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:
        """Poll the screen until `predicate(screen)`; fail showing the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if (self.workdir / "exit.txt").exists() and "AFTER-RT" not in what:
                pytest.fail(f"rt exited while waiting for {what}; screen:\n{screen}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; screen:\n{screen}")
            time.sleep(0.05)

    def wait_file(self, name: str, timeout: float = 15.0) -> str:
        path = self.workdir / name
        deadline = time.monotonic() + timeout
        while not (path.exists() and path.read_text().endswith("\n")):
            if time.monotonic() > deadline:
                pytest.fail(f"{name} never written; screen:\n{self.screen()}")
            time.sleep(0.05)
        return path.read_text()

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       env=self.env, timeout=10)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RT_", "TMUX"))}
    config = tmp_path / "config.toml"  # an empty config: the user's own must not leak in
    config.write_text("")
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color", RT_CONFIG=str(config))
    p = Pane(socket=f"rt-tui-{os.getpid()}-{tmp_path.name}", workdir=tmp_path, env=env)
    yield p
    p.kill()


def _script(pane: Pane, url: str, wav: Path) -> str:
    """rt talk, then: exit code and terminal modes to files, then echo a typed line back."""
    talk = shlex.join([str(RT), "talk", "--url", url, "--input", str(wav),
                       "--output", str(pane.workdir / "out.wav"),
                       "--data-dir", str(pane.workdir / "data")])
    return (f"cd {shlex.quote(str(pane.workdir))}; {talk}; echo EXIT=$? > exit.txt; "
            "stty -a > stty.txt; echo AFTER-RT; read line; echo \"GOT:$line\"; sleep 60")


# ------------------------------------------------------------------ screen parsing


def header_state(screen: str) -> str:
    """The state label at the right end of the header's first row."""
    lines = screen.splitlines()
    if len(lines) < 2:
        return ""
    match = re.search(r"\b([A-Z]+)\s*│\s*$", lines[1])
    return match.group(1) if match else ""


def transcript(screen: str) -> list[str]:
    """The transcript panel's rows, box-drawing stripped."""
    rows, inside = [], False
    for line in screen.splitlines():
        if "─ transcript ─" in line:
            inside = True
            continue
        if inside:
            if line.startswith("╰"):
                break
            rows.append(line.strip("│ ").rstrip())
    return [r for r in rows if r]


def cut_count(screen: str) -> str:
    match = re.search(r"│ cut\s+(\d+[^│]*?)\s*│", screen)
    return match.group(1) if match else ""


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc/*/stat: the field after the name)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def assert_terminal_restored(pane: Pane) -> None:
    """The modes rt switched off are on again, and a line typed now is echoed and read."""
    modes = pane.wait_file("stty.txt").split()
    for mode in ("icanon", "echo", "isig", "icrnl", "ixon", "iexten"):
        assert mode in modes, f"{mode} still off after rt exited: {' '.join(modes)}"
    pane.wait_for("AFTER-RT: the shell after rt", lambda s: "AFTER-RT" in s)
    pane.keys("typed-after-exit", "Enter")
    screen = pane.wait_for("AFTER-RT: the typed line read back",
                           lambda s: "GOT:typed-after-exit" in s)
    lines = [line.strip() for line in screen.splitlines()]
    assert "typed-after-exit" in lines, f"the tty did not echo the typed line:\n{screen}"
    assert "─ transcript ─" not in screen, f"the alternate screen was not left:\n{screen}"


# ------------------------------------------------------------------ tests


def test_dashboard_conversation_interrupt_mute_quit(pane: Pane, server_url: str,
                                                    speech_wav: Path) -> None:
    pane.start(_script(pane, server_url, speech_wav))

    # the dashboard comes up and listens; the first answer arrives (pace 4: a few times
    # faster than it plays) and is still playing
    pane.wait_for("LISTENING in the header", lambda s: header_state(s) == "LISTENING")
    screen = pane.wait_for("the whole first answer received, still playing",
                           lambda s: header_state(s) == "RESPONDING"
                           and any(r.startswith("asst") and r.endswith("rt serve.")
                                   for r in transcript(s)))
    rows = transcript(screen)
    assert rows[0].startswith("you") and rows[1].startswith("asst  Turn 1."), screen
    answer = rows[1].removeprefix("asst").strip()

    # `i` while the assistant speaks: cut by key; the transcript shows where
    pane.keys("i")
    screen = pane.wait_for("the key interruption", lambda s: "key 1" in cut_count(s)
                           and any("✂" in r for r in transcript(s)))
    assert cut_count(screen).startswith("1"), screen
    cut_row = next(r for r in transcript(screen) if "✂" in r).removeprefix("asst").strip()
    heard, _, unheard = cut_row.partition("✂")
    assert heard + unheard == answer and unheard, screen

    # the second spoken turn gets its own answer
    screen = pane.wait_for("the whole second answer received, still playing",
                           lambda s: header_state(s) == "RESPONDING"
                           and len(transcript(s)) == 4
                           and transcript(s)[3].startswith("asst  Turn 2.")
                           and transcript(s)[3].endswith("rt serve."),
                           timeout=20)
    if os.environ.get("RT_DASHBOARD_CAPTURE"):
        Path(os.environ["RT_DASHBOARD_CAPTURE"]).write_text(screen)
    screen = pane.wait_for("the second answer done",
                           lambda s: "asst 2" in s and header_state(s) in ("LISTENING", "READY"),
                           timeout=20)
    rows = transcript(screen)
    assert [r.split()[0] for r in rows] == ["you", "asst", "you", "asst"], screen
    assert "✂" not in rows[3], screen  # only the first answer was cut

    # `p` pauses (the header says so) and `p` again resumes
    pane.keys("p")
    pane.wait_for("PAUSED in the header", lambda s: header_state(s) == "PAUSED")
    pane.keys("p")
    pane.wait_for("resumed", lambda s: header_state(s) in ("LISTENING", "READY"))

    # `m` mutes
    pane.keys("m")
    pane.wait_for("MUTED", lambda s: "MUTED" in s)

    # `q` quits with 0 and prints the summary on the normal screen
    pane.keys("q")
    assert pane.wait_file("exit.txt").strip() == "EXIT=0", pane.screen()
    assert_terminal_restored(pane)
    summary = re.search(r"rt: session ([0-9a-f]{8}) ended after [0-9:]+: quit by user",
                        pane.screen())
    assert summary, pane.screen()
    assert re.search(r"rt: +Turns +you \d+ · assistant 2 · tool calls 0", pane.screen()), \
        pane.screen()
    assert re.search(r"rt: +Interrupted +1 \(key 1\)", pane.screen()), pane.screen()

    # the journal has the key press as a manual_cancel interruption
    shown = subprocess.run([str(RT), "sessions", "show", summary.group(1), "--json",
                            "--data-dir", str(pane.workdir / "data")],
                           capture_output=True, text=True, env=pane.env, timeout=30)
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert [i["kind"] for i in stored["interruptions"]] == ["manual_cancel"], stored["interruptions"]
    assert stored["session"]["end_reason"] == "quit by user"
    assert stored["session"]["responses"] == 2
    cut = [i for i in stored["items"] if i["kind"] == "assistant" and i["truncated"]]
    assert len(cut) == 1 and cut[0]["transcript"] == answer, cut
    assert cut[0]["heard_text"].strip() == heard.strip(), (cut, heard)


def test_resize_then_ctrl_c_exits_130(pane: Pane, server_url: str, speech_wav: Path) -> None:
    """The layout follows the terminal's size; Ctrl-C reaches rt as a key (ISIG is off in the
    dashboard) and must still mean SIGINT."""
    pane.start(_script(pane, server_url, speech_wav))
    pane.wait_for("LISTENING in the header", lambda s: header_state(s) == "LISTENING")
    pane.tmux("resize-window", "-t", "rt", "-x", "70", "-y", "16")
    pane.wait_for("the compact layout", lambda s: "LISTENING" in s.splitlines()[0]
                  and "╭" not in s and s.rstrip().endswith("q quit"))
    pane.tmux("resize-window", "-t", "rt", "-x", str(WIDTH), "-y", str(HEIGHT))
    pane.wait_for("the full layout again", lambda s: header_state(s) == "LISTENING"
                  and "─ transcript ─" in s)
    pane.keys("C-c")
    assert pane.wait_file("exit.txt").strip() == "EXIT=130", pane.screen()
    assert_terminal_restored(pane)


def test_sigterm_exits_143_and_restores_the_terminal(pane: Pane, server_url: str,
                                                     speech_wav: Path) -> None:
    """SIGTERM while the dashboard owns the terminal: KeyReader restores the modes and the
    runner still closes the session (exit 128 + 15)."""
    pane.start(_script(pane, server_url, speech_wav))
    pane.wait_for("LISTENING in the header", lambda s: header_state(s) == "LISTENING")
    shell = int(pane.tmux("list-panes", "-t", "rt", "-F", "#{pane_pid}").strip())
    children = _children(shell)
    assert len(children) == 1, children
    os.kill(children[0], signal.SIGTERM)  # rt talk, started by our own pane's shell
    assert pane.wait_file("exit.txt").strip() == "EXIT=143", pane.screen()
    assert_terminal_restored(pane)
