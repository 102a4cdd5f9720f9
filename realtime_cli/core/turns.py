"""Turn-taking: user speech under server VAD, responses and their audio, barge-in with the
truncation point the user really heard (docs/protocol.md#truncation), and function calls
answered once, after `response.done` (docs/protocol.md#tool-calls).

`Turns` owns the items and their audio ledger, the response in flight, the tool calls and the
microphone's sent audio. It never touches the connection: `SessionCore` tells it whether one is
up, and reads `turn_over` to act when a turn has just ended.
"""

from __future__ import annotations

from dataclasses import replace

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import END_CONVERSATION
from realtime_cli.core.context import Context, Outbox
from realtime_cli.core.flight import Flight
from realtime_cli.core.items import (
    USER_ROLES,
    InterruptionKind,
    ItemLedger,
    ItemState,
    truncation_point,
)
from realtime_cli.core.records import InterruptionRecord, ItemKind, TurnRecord
from realtime_cli.core.sent_audio import SentAudio
from realtime_cli.core.states import Cause, Trigger
from realtime_cli.core.stop_phrases import is_stop_phrase
from realtime_cli.core.tool_calls import ToolCalls
from realtime_cli.protocol import events as ev
from realtime_cli.protocol.audio_format import SAMPLES_PER_MS
from realtime_cli.usage import TokenUsage

BUILTIN_END_OUTPUT = '{"ok": true, "note": "say goodbye briefly"}'


class Turns:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ledger = ItemLedger()
        self.flight = Flight()
        self.tools = ToolCalls()
        self.sent = SentAudio()
        self.muted = False
        self.ptt_open = False
        self.speech_start_ms = 0.0
        self.assistant_turns = 0  # responses that said something (not tool calls only)
        self.responses_done = 0
        self.turn_over = False  # set when a turn just ended; SessionCore clears it
        self.overlap: InterruptionRecord | None = None  # by the user's current speech
        # Answers a pause cut short: once heard to the end of what arrived, the server's copy
        # is truncated there (earlier, the truncate would claim more than was heard).
        self._cut_when_heard: list[ItemState] = []
        self._overlap_by_item: dict[str, InterruptionRecord] = {}  # ... once it is an item

    # ------------------------------------------------------------------ items

    def add_item(self, kind: ItemKind, now: float, server_id: str | None = None) -> ItemState:
        local = self.ctx.new_local_id()
        return self.ledger.add(ItemState(local_id=local, seq=self.ctx.seq, kind=kind,
                                         created_at=self.ctx.wall(now), server_id=server_id,
                                         connection=self.ctx.connection))

    def journal(self, item: ItemState, out: Outbox) -> None:
        out.journal(item.record(self.ctx.session_id))
        if item.settled():
            item.release_audio()

    def audible(self) -> bool:
        """The user can hear the assistant now, or is about to (a response is streaming)."""
        return self.flight.audible() or not self.ledger.playback_idle

    def quiet(self) -> bool:
        f = self.flight
        return (f.response is None and self.ledger.playback_idle and not self.ptt_open
                and f.awaiting_since is None and not self.tools.waiting)

    def goodbye_due(self) -> bool:
        """The model asked to end the conversation and has nothing left to say or run."""
        f = self.flight
        return (self.tools.end_requested and not self.tools.waiting
                and f.awaiting_since is None and not f.pending_create)

    # ------------------------------------------------------------------ user speech

    def speech_started(self, e: ev.SpeechStarted, now: float, out: Outbox) -> None:
        self.speech_start_ms = e.audio_start_ms
        self.overlap = None
        if not self.audible():
            self.ctx.move(Trigger.SPEECH_STARTED, now, out, "user speaking")
        elif self.ctx.config.barge_in:
            self.interrupt(InterruptionKind.SPEECH_OVERLAP, now, out)
            self.ctx.move(Trigger.SPEECH_STARTED, now, out, "user speaking")
        else:  # barge-in off: the assistant goes on; the user's words wait their turn
            self.ctx.move(Trigger.SPEECH_STARTED, now, out, "user speaking", Cause.FOLLOW)

    def speech_stopped(self, now: float, out: Outbox) -> None:
        self.flight.turn_end_at = now
        cause = Cause.PEER if self.ctx.config.barge_in else Cause.FOLLOW
        self.ctx.move(Trigger.SPEECH_STOPPED, now, out, "user stopped", cause)
        if self.ctx.config.create_response and self.flight.response is None:
            self.flight.expect(now)

    def committed(self, e: ev.InputAudioBufferCommitted, now: float, out: Outbox) -> None:
        if self.ledger.by_server(e.item_id) is not None:
            return
        item = self.add_item(ItemKind.USER_AUDIO, now, server_id=e.item_id)
        self.flight.last_committed = item.local_id
        if self.overlap is not None:
            self._overlap_by_item[item.local_id], self.overlap = self.overlap, None
        end_ms = self.sent.total_ms
        start_ms = min(self.speech_start_ms, end_ms)
        item.duration_ms = end_ms - start_ms
        if self.ctx.keep_audio:
            item.audio = bytearray(self.sent.slice(start_ms, end_ms))
        item.status = "completed"
        item.completed_at = self.ctx.wall(now)
        self.ctx.metrics.count_turn(ItemKind.USER_AUDIO)
        self.journal(item, out)

    def user_transcript(self, e: ev.InputTranscriptionCompleted, now: float, out: Outbox) -> None:
        item = self.ledger.by_server(e.item_id)
        if item is None:
            return
        item.transcript, item.transcript_final = e.transcript, True
        if e.usage is not None:
            self.ctx.metrics.transcription = self.ctx.metrics.transcription + e.usage
        self.journal(item, out)
        cfg = self.ctx.config
        if not is_stop_phrase(e.transcript, cfg.stop_phrases):
            return
        if any(i.seq > item.seq for i in self.ledger.values() if i.kind in USER_ROLES):
            return  # the user has said something since: that newer turn is what counts now
        overlap = self._overlap_by_item.pop(item.local_id, None)
        if overlap is not None:  # the stop already cut the assistant: it was a cancel request
            self.ctx.metrics.reclassify_interruption(overlap.kind, InterruptionKind.CANCEL_REQUEST)
            out.journal(replace(overlap, kind=InterruptionKind.CANCEL_REQUEST.value,
                                user_text=e.transcript))
        answer = self.flight.response
        if answer is not None and self.flight.answered == item.local_id and overlap is not None:
            if not answer.suppressed:
                self.interrupt(None, now, out)  # the answer to "stop" is silence
        elif self.audible():
            kind = None if overlap is not None else InterruptionKind.CANCEL_REQUEST
            self.interrupt(kind, now, out, user_text=e.transcript)
        elif cfg.create_response and cfg.vad_enabled and self.flight.answered != item.local_id:
            self.flight.suppress_next = True  # its answer has not started: make it silence

    def send_text(self, text: str, now: float, out: Outbox) -> None:
        if self.audible():
            self.interrupt(InterruptionKind.MANUAL_CANCEL, now, out)
        item = self.add_item(ItemKind.USER_TEXT, now)
        self.ledger.alias(item, item.local_id)
        item.transcript, item.transcript_final = text, True
        item.status, item.completed_at = "completed", self.ctx.wall(now)
        self.ctx.metrics.count_turn(ItemKind.USER_TEXT)
        self.journal(item, out)
        out.send(ev.ConversationItemCreate(item={
            "id": item.local_id, "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}]}))
        self.flight.turn_end_at = now
        self.request_response(now, out)

    def push_to_talk(self, now: float, out: Outbox) -> None:
        """Open a turn, or close the open one and ask for the answer (turn detection off)."""
        if not self.ptt_open:
            if self.audible():
                self.interrupt(InterruptionKind.MANUAL_CANCEL, now, out)
            out.send(ev.InputAudioBufferClear())
            self.sent.reset()
            self.ptt_open = True
            self.speech_start_ms = 0.0
            self.ctx.move(Trigger.SPEECH_STARTED, now, out, "push-to-talk", Cause.LOCAL)
            return
        self.ptt_open = False
        if self.sent.total_ms < 100:
            out.send(ev.InputAudioBufferClear())
            self.ctx.move(Trigger.SPEECH_STOPPED, now, out, "too short", Cause.LOCAL)
            self.ctx.move(Trigger.RESPONSE_FINISHED, now, out, "too short", Cause.LOCAL)
            out.note("info", "too short: hold the turn open for at least 0.1 s")
            return
        out.send(ev.InputAudioBufferCommit(event_id=self.ctx.next_event_id("commit")))
        self.ctx.move(Trigger.SPEECH_STOPPED, now, out, "push-to-talk released", Cause.LOCAL)
        self.flight.turn_end_at = now
        self.request_response(now, out)

    def mic(self, pcm: bytes, out: Outbox) -> None:
        if not self.ctx.config.vad_enabled and not self.ptt_open:
            return
        if self.muted:
            pcm = bytes(len(pcm))
        self.ctx.metrics.audio_ms_sent += self.sent.append(pcm)
        out.send(ev.InputAudioBufferAppend(audio=pcm))

    # ------------------------------------------------------------------ responses

    def request_response(self, now: float, out: Outbox) -> None:
        """Ask for an answer now, or as soon as the response in flight is done."""
        if self.flight.response is not None:
            self.flight.pending_create = True
            return
        self.flight.expect(now)
        out.send(ev.ResponseCreate(event_id=self.ctx.next_event_id("resp")))

    def response_created(self, e: ev.ResponseCreated, now: float, out: Outbox) -> None:
        resp = self.flight.start(e.response_id, now)
        if self.flight.suppress_next or self.ctx.paused:
            self.flight.suppress_next = False
            resp.suppressed = True
            self._cancel(out)
            return
        self.ctx.move(Trigger.RESPONSE_STARTED, now, out, "assistant responding")

    def output_item(self, response_id: str, raw: ev.Item, now: float, out: Outbox, *,
                    done: bool) -> None:
        item = self.ledger.by_server(raw.id)
        if item is None:
            if raw.type not in ("message", "function_call"):
                return
            kind = ItemKind.TOOL_CALL if raw.type == "function_call" else ItemKind.ASSISTANT
            item = self.add_item(kind, now, server_id=raw.id)
            item.response_id = response_id
            item.call_id, item.name = raw.call_id, raw.name
            resp = self.flight.response
            if resp is not None and resp.response_id == response_id:
                resp.item_ids.append(item.local_id)
        if not done:
            return
        if item.kind is ItemKind.TOOL_CALL:
            self.function_call(raw.call_id or "", raw.id, raw.name or "", raw.arguments or "",
                               now, out)
            return
        if not item.transcript_final and raw.text():
            item.transcript, item.transcript_final = raw.text(), True
        item.status = raw.status or "completed"
        item.completed_at = self.ctx.wall(now)
        self.journal(item, out)

    def audio_delta(self, e: ev.OutputAudioDelta, now: float, out: Outbox) -> None:
        resp = self.flight.response
        item = self.ledger.by_server(e.item_id)
        if item is None:
            item = self.add_item(ItemKind.ASSISTANT, now, server_id=e.item_id)
            item.response_id = e.response_id
            if resp is not None:
                resp.item_ids.append(item.local_id)
        if item.flushed or item.audio_done or (resp is not None and resp.suppressed):
            return  # cut, complete (a pause cut it at what had arrived) or never to be heard
        item.add_audio(e.pcm, keep=self.ctx.keep_audio)
        self.ctx.metrics.audio_ms_received += len(e.pcm) / 2 / SAMPLES_PER_MS
        if resp is not None and resp.first_audio_at is None:
            resp.first_audio_at = now
            if resp.latency_ms is not None:
                self.ctx.metrics.latencies_ms.append(resp.latency_ms)
        self.ledger.playback_idle = False
        out.add(cmd.Play(item_id=e.item_id, pcm=e.pcm))

    def audio_done(self, item_id: str, out: Outbox) -> None:
        item = self.ledger.by_server(item_id)
        if item is None or item.kind is not ItemKind.ASSISTANT or item.audio_done:
            return
        item.audio_done = True
        out.add(cmd.EndOfAudio(item_id=item_id))

    def truncated(self, e: ev.ConversationItemTruncated, out: Outbox) -> None:
        item = self.ledger.by_server(e.item_id)
        if item is None:
            return
        item.truncated = True
        item.audio_end_ms = e.audio_end_ms  # the server's word is final
        self.journal(item, out)

    def response_done(self, e: ev.ResponseDone, now: float, out: Outbox) -> None:
        for raw in e.output:  # no more audio will come for these: let the speaker play out
            self.audio_done(raw.id, out)
        resp = self.flight.response
        if resp is None or resp.response_id != e.response_id:
            return
        self.flight.response = None
        usage = e.usage or TokenUsage()
        metrics = self.ctx.metrics
        metrics.tokens = metrics.tokens + usage
        assistant = [self.ledger[local] for local in resp.item_ids
                     if self.ledger[local].kind is ItemKind.ASSISTANT]
        for item in assistant:
            if item.status == "in_progress":
                item.status = "completed" if e.status == "completed" else "incomplete"
            self.audio_done(item.server_id or "", out)
            item.audio_done = True
            item.completed_at = item.completed_at or self.ctx.wall(now)
            self.journal(item, out)
        if not resp.suppressed:
            if assistant:
                metrics.count_turn(ItemKind.ASSISTANT)
                self.assistant_turns += 1
            self._journal_turn(resp.response_id, resp.started_at, now, e.status, out,
                               latency_ms=resp.latency_ms, usage=usage,
                               interrupted=resp.interrupted, error=_error_text(e))
        if e.status == "failed":
            self.tools.void()  # a failed response's calls lead nowhere: no answer to ask for
        if self.tools.ready_to_send():
            self.send_tool_outputs(now, out)
        elif self.flight.pending_create:
            self.flight.pending_create = False
            self.request_response(now, out)
        self.finish_turn(now, out)

    def finish_turn(self, now: float, out: Outbox) -> None:
        """RESPONDING ends once the response is done and its audio has been heard."""
        if self.flight.response is not None or not self.ledger.playback_idle:
            return
        self.ctx.move(Trigger.RESPONSE_FINISHED, now, out, "turn finished", Cause.FOLLOW)
        self.turn_over = True

    def response_timeouts(self, now: float, out: Outbox) -> None:
        limit = self.ctx.config.response_timeout_s
        f = self.flight
        if f.awaiting_since is not None and now >= f.awaiting_since + limit:
            since, f.awaiting_since = f.awaiting_since, None
            reason = f"no response from the server within {limit:g} s"
            out.note("warning", reason)
            self._timed_out(f"no-response-{self.responses_done + 1}", since, now, reason, out)
            self.ctx.move(Trigger.RESPONSE_FINISHED, now, out, "response timeout", Cause.FOLLOW)
            self.finish_turn(now, out)
        resp = f.response
        if resp is not None and now >= resp.last_event_at + limit:
            reason = f"response stalled for {limit:g} s; cancelling it"
            out.note("warning", reason)
            self._cancel(out)
            f.response = None
            self._timed_out(resp.response_id, resp.started_at, now, reason, out,
                            latency_ms=resp.latency_ms)
            self.finish_turn(now, out)

    def _timed_out(self, response_id: str, since: float, now: float, reason: str, out: Outbox,
                   *, latency_ms: float | None = None) -> None:
        """A response that never came, or stopped coming, is an error and a failed turn with
        its reason, so `rt sessions show` says what happened where the answer should be."""
        self.ctx.metrics.errors += 1
        self._journal_turn(response_id, since, now, "failed", out, latency_ms=latency_ms,
                           error=f"timeout: {reason}")

    def _journal_turn(self, response_id: str, since: float, now: float, status: str, out: Outbox,
                      *, latency_ms: float | None, usage: TokenUsage | None = None,
                      interrupted: bool = False, error: str | None = None) -> None:
        """Count the response as done and store its turn (`since`, `now`: monotonic)."""
        self.responses_done += 1
        out.journal(TurnRecord(
            session_id=self.ctx.session_id, response_id=response_id,
            turn_index=self.responses_done, status=status, started_at=self.ctx.wall(since),
            duration_ms=(now - since) * 1e3, latency_ms=latency_ms, usage=usage or TokenUsage(),
            interrupted=interrupted, error=error))

    def _cancel(self, out: Outbox) -> None:
        cancel = self.flight.cancel()
        if cancel is not None:
            out.send(cancel)

    # ------------------------------------------------------------------ pause

    def pause(self, now: float, out: Outbox) -> None:
        """Hold everything where it is: what was received stays queued and plays on resume, so
        a response still being generated is cancelled and truncated at the audio received (all
        of it will have been heard); one not yet started will be cancelled when it starts."""
        self.ptt_open = False
        out.add(cmd.PausePlayback())
        out.send(ev.InputAudioBufferClear())
        resp = self.flight.response
        if resp is not None and not resp.suppressed:
            resp.interrupted = True
            self._cancel(out)
            for local in resp.item_ids:
                item = self.ledger[local]
                if item.kind is not ItemKind.ASSISTANT or item.audio_done:
                    continue
                self.audio_done(item.server_id or "", out)  # nothing more comes: play it all
                item.truncated = True
                item.audio_end_ms = item.received_samples // SAMPLES_PER_MS
                if item.received_samples:
                    self._cut_when_heard.append(item)  # the server may hold more than arrived
                else:
                    self._forget_unheard(item, None, out)  # none of it will ever be heard
                self.journal(item, out)
        elif self.flight.awaiting_since is not None or self.flight.pending_create:
            self.flight.suppress_next = True  # the answer on its way would play while paused
            self.flight.awaiting_since = None
            self.flight.pending_create = False

    def resume(self, now: float, out: Outbox) -> None:
        out.add(cmd.ResumePlayback())
        if not self.ledger.playback_idle:  # the rest of a paused answer plays now
            self.ctx.move(Trigger.RESPONSE_STARTED, now, out, "resumed playback", Cause.FOLLOW)

    # ------------------------------------------------------------------ barge-in

    def interrupt(self, kind: InterruptionKind | None, now: float, out: Outbox,
                  user_text: str | None = None) -> None:
        """Stop the voice at once; cancel where the server will not; truncate at what was heard.

        `kind` None silences the answer to a stop phrase: the interruption that phrase made was
        counted when the user started speaking over the assistant, and is not counted twice."""
        cfg = self.ctx.config
        why = f"interrupted ({kind.value})" if kind else "the answer to a stop phrase, silenced"
        self.ctx.move(Trigger.INTERRUPT, now, out, why, Cause.FOLLOW)
        out.add(cmd.FlushPlayback())
        resp = self.flight.response
        server_cancels = (kind is InterruptionKind.SPEECH_OVERLAP and cfg.vad_enabled
                          and cfg.interrupt_response)
        if resp is not None:
            resp.interrupted = True
            if not server_cancels:
                self._cancel(out)
        target: ItemState | None = None
        unheard = False  # some of an answer, received or still due, will never be heard
        for item in self.ledger.assistant_unflushed():
            if item.fully_heard():
                continue
            unheard = unheard or item.played_samples < item.received_samples or not item.audio_done
            item.flushed = True
            point = truncation_point(item.played_samples, item.received_samples)
            if point is None and item.played_samples > 0 and not item.audio_done:
                point = item.received_samples // SAMPLES_PER_MS  # more was due: the rest unheard
            item.truncated = True
            item.audio_end_ms = point if point is not None else (
                0 if item.played_samples <= 0 else int(item.received_ms))
            self._forget_unheard(item, point, out)
            if target is None or item.played_samples > 0:
                target = item
            self.journal(item, out)
        self.ledger.playback_idle = True
        self.ledger.playing = None
        if unheard and cfg.keeps_unheard:
            out.note("info", f"interrupted: {cfg.keeps_unheard} keeps all it generated, so the "
                             "model may remember more than you heard")
        if kind is not None:
            self.ctx.metrics.count_interruption(kind.value)
            if target is not None and target.received_samples:
                heard = (target.audio_end_ms or 0) / target.received_ms
                self.ctx.metrics.heard_fractions.append(min(1.0, heard))
            position = target.audio_end_ms or 0 if target else 0
            record = InterruptionRecord(
                session_id=self.ctx.session_id, item_local_id=target.local_id if target else "",
                kind=kind.value, at=self.ctx.wall(now), position_ms=position,
                heard_chars=len(target.heard_text) if target else 0, user_text=user_text)
            out.journal(record)
            if kind is InterruptionKind.SPEECH_OVERLAP:
                self.overlap = record  # made by the speech being heard now: see user_transcript
        if self.flight.response is None:
            self.ctx.move(Trigger.RESPONSE_FINISHED, now, out, "interrupted", Cause.FOLLOW)

    def _forget_unheard(self, item: ItemState, point: int | None, out: Outbox) -> None:
        """Make the server's copy of a cut answer what the user heard: truncated at the point
        heard, or deleted when none of it was (a truncate at 0 ms is refused). Only the server
        session the item lives in knows its id; an older one's item was replayed as text."""
        if not item.server_id or item.connection != self.ctx.connection:
            return
        if point is not None:
            out.send(ev.ConversationItemTruncate(
                item_id=item.server_id, content_index=0, audio_end_ms=point,
                event_id=self.ctx.next_event_id("trunc")))
        elif item.played_samples <= 0 and "audio" in self.ctx.config.output_modalities:
            out.send(ev.ConversationItemDelete(item_id=item.server_id,
                                               event_id=self.ctx.next_event_id("del")))

    def playback(self, item_id: str | None, played_samples: int, idle: bool, now: float,
                 out: Outbox) -> bool:
        """Playback progress; True when the speaker has just gone idle."""
        self.ledger.played(item_id, played_samples)
        was_idle = self.ledger.playback_idle
        self.ledger.playback_idle = idle
        went_idle = idle and not was_idle
        if went_idle:
            self.ledger.played_out()
        if self._cut_when_heard:
            self._cut_heard(out)
        if went_idle:
            self.finish_turn(now, out)
        return went_idle

    def _cut_heard(self, out: Outbox) -> None:
        for item in list(self._cut_when_heard):
            if item.flushed:  # a barge-in cut it at what was heard instead
                self._cut_when_heard.remove(item)
            elif item.played_samples >= item.received_samples:
                self._cut_when_heard.remove(item)
                if item.server_id and item.connection == self.ctx.connection:
                    out.send(ev.ConversationItemTruncate(
                        item_id=item.server_id, content_index=0,
                        audio_end_ms=item.received_samples // SAMPLES_PER_MS,
                        event_id=self.ctx.next_event_id("trunc")))

    # ------------------------------------------------------------------ tools

    def function_call(self, call_id: str, server_item_id: str, name: str, arguments: str,
                      now: float, out: Outbox) -> None:
        if not self.tools.accept(call_id):
            return  # each call is answered once
        item = self.ledger.by_server(server_item_id)
        if item is None:
            item = self.add_item(ItemKind.TOOL_CALL, now, server_id=server_item_id)
        item.call_id, item.name, item.arguments = call_id, name, arguments
        item.status, item.completed_at = "completed", self.ctx.wall(now)
        self.ctx.metrics.count_turn(ItemKind.TOOL_CALL)
        self.journal(item, out)
        if name == END_CONVERSATION.name and self.ctx.config.builtin_end_tool:
            self.tools.end_requested = True
            self.tool_result(call_id, BUILTIN_END_OUTPUT, now, out, can_send=False)
            return
        out.note("info", f"tool call: {name}({arguments})")
        out.add(cmd.RunTool(call_id=call_id, name=name, arguments=arguments))

    def tool_result(self, call_id: str, output: str, now: float, out: Outbox, *,
                    can_send: bool) -> None:
        """A tool's output; sent at once when nothing else is in flight and a session is up."""
        if not self.tools.expects(call_id):
            return
        self.tools.answer(call_id, output)
        item = self.add_item(ItemKind.TOOL_RESULT, now)
        item.call_id, item.output = call_id, output
        item.status, item.completed_at = "completed", self.ctx.wall(now)
        self.ctx.metrics.count_turn(ItemKind.TOOL_RESULT)
        self.journal(item, out)
        if can_send and self.flight.response is None and self.tools.all_answered():
            self.send_tool_outputs(now, out)

    def calls_cancelled(self, call_ids: tuple[str, ...], now: float, out: Outbox, *,
                        can_send: bool) -> None:
        """The server withdrew calls it made (docs/protocol.md#gemini-live): each still in hand
        is dropped (its output, now or later, is never sent), kept in the journal marked
        cancelled, and its tool stopped if it still runs. The outputs of the other calls go
        once they are all in, as ever."""
        for call_id in call_ids:
            running = self.tools.expects(call_id)
            if not self.tools.cancel(call_id):
                continue
            name = "?"
            for item in self.ledger.values():
                if item.call_id != call_id or item.kind not in (ItemKind.TOOL_CALL,
                                                                ItemKind.TOOL_RESULT):
                    continue
                item.status = "cancelled"
                self.journal(item, out)
                if item.kind is ItemKind.TOOL_CALL:
                    name = item.name or name
            if name == END_CONVERSATION.name and self.ctx.config.builtin_end_tool:
                self.tools.end_requested = False
            elif running:
                out.add(cmd.CancelTool(call_id=call_id))
            out.note("info", f"the server cancelled the tool call {name}")
        if can_send and self.flight.response is None and self.tools.ready_to_send():
            self.send_tool_outputs(now, out)

    def outputs_replayed(self, now: float, out: Outbox) -> None:
        """A new server session got the tool outputs with the replayed history: only the
        answer to them is still owed."""
        self.tools.take()
        self.request_response(now, out)

    def send_tool_outputs(self, now: float, out: Outbox) -> None:
        """Results go back only after `response.done`, then one `response.create`."""
        results = {i.call_id: i for i in self.ledger.values() if i.kind is ItemKind.TOOL_RESULT}
        for call_id, output in self.tools.take():
            out.send(ev.ConversationItemCreate(item={
                "id": results[call_id].local_id, "type": "function_call_output",
                "call_id": call_id, "output": output}))
        self.request_response(now, out)

    # ------------------------------------------------------------------ connection loss

    def abandon(self, now: float, out: Outbox) -> None:
        """The server session is gone: settle the response in flight as far as it was heard."""
        self.ptt_open = False
        resp = self.flight.response
        if resp is not None:
            for local in resp.item_ids:
                item = self.ledger[local]
                if item.kind is ItemKind.ASSISTANT and not item.audio_done:
                    self.audio_done(item.server_id or "", out)  # play out what arrived
                    item.truncated = True
                    item.audio_end_ms = int(item.received_ms)
                    item.status = "incomplete"
                    item.completed_at = self.ctx.wall(now)
                    self.journal(item, out)
        self.flight.forget()

    def settle_heard(self, now: float, out: Outbox) -> None:
        """The session ends: answers cut short keep what was played, the rest is marked unheard."""
        for item in self.ledger.assistant_unflushed():
            still_playing = (not self.ledger.playback_idle
                             and item.played_samples < item.received_samples)
            if item.status != "in_progress" and not still_playing:
                continue
            heard = min(item.played_samples, item.received_samples)
            if heard < item.received_samples or not item.audio_done:
                item.truncated = True
                item.audio_end_ms = heard // SAMPLES_PER_MS
            if item.status == "in_progress":
                item.status = "incomplete"
            item.completed_at = item.completed_at or self.ctx.wall(now)
            self.journal(item, out)


def _error_text(e: ev.ResponseDone) -> str | None:
    if e.status != "failed" or e.error is None:
        return None
    code = e.error.code or e.error.type or "error"
    return f"{code}: {e.error.message}" if e.error.message else code
