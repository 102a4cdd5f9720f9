"""Turn-taking: user speech under server VAD, responses and their audio, barge-in with the
truncation point the user really heard (PROTOCOL.md §3), and function calls answered once,
after `response.done` (§7).
"""

from __future__ import annotations

from realtime_cli.audio.pcm import SAMPLES_PER_MS
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import END_CONVERSATION
from realtime_cli.core.conversation import (
    USER_ROLES,
    InterruptionKind,
    ItemState,
    ResponseState,
    is_stop_phrase,
    truncation_point,
)
from realtime_cli.core.records import InterruptionRecord, ItemKind, TurnRecord
from realtime_cli.core.session_base import Commands, CoreBase
from realtime_cli.core.states import Trigger
from realtime_cli.protocol import events as ev


class TurnFlow(CoreBase):
    def _speech_started(self, e: ev.SpeechStarted, now: float, out: Commands) -> None:
        self.last_activity = now
        self._speech_start_ms = e.audio_start_ms
        self._speech_started_at = now
        if self._assistant_audible():
            self._interrupt(InterruptionKind.SPEECH_OVERLAP, now, out)
        self._move(Trigger.SPEECH_STARTED, now, out, "user speaking")

    def _speech_stopped(self, e: ev.SpeechStopped, now: float, out: Commands) -> None:
        self.last_activity = now
        self._turn_end_at = now
        self._move(Trigger.SPEECH_STOPPED, now, out, "user stopped")
        if self.config.create_response and self.response is None:
            self._awaiting_response_since = now

    def _committed(self, e: ev.InputAudioBufferCommitted, now: float, out: Commands) -> None:
        if self._item_by_server(e.item_id) is not None:
            return
        item = self._add_item(ItemKind.USER_AUDIO, now, server_id=e.item_id)
        self._last_committed = item.local_id
        end_ms = self.sent.total_ms
        start_ms = min(self._speech_start_ms, end_ms)
        item.duration_ms = end_ms - start_ms
        if self.keep_audio:
            item.audio = bytearray(self.sent.slice(start_ms, end_ms))
        item.status = "completed"
        item.completed_at = self.wall(now)
        self.metrics.count_turn(ItemKind.USER_AUDIO)
        self._journal_item(item, out)

    def _user_transcript(self, e: ev.InputTranscriptionCompleted, now: float,
                         out: Commands) -> None:
        item = self._item_by_server(e.item_id)
        if item is None:
            return
        item.transcript, item.transcript_final = e.transcript, True
        self._journal_item(item, out)
        if not is_stop_phrase(e.transcript, self.config.stop_phrases):
            return
        if any(i.seq > item.seq for i in self.items.values() if i.kind in USER_ROLES):
            return  # the user has said something since: that newer turn is what counts now
        if self.response is not None and not self.response.suppressed:
            self._interrupt(InterruptionKind.CANCEL_REQUEST, now, out, user_text=e.transcript)
        elif self._assistant_audible():
            self._interrupt(InterruptionKind.CANCEL_REQUEST, now, out, user_text=e.transcript)
        elif (self.config.create_response and self.config.vad_enabled
              and self._answered != item.local_id):  # its answer may have come already (§5)
            self._suppress_next = True  # the answer to "stop" is silence

    def _response_created(self, e: ev.ResponseCreated, now: float, out: Commands) -> None:
        self._awaiting_response_since = None
        self.response = ResponseState(response_id=e.response_id, started_at=now,
                                      turn_end_at=self._turn_end_at, last_event_at=now)
        self._turn_end_at = None
        self._answered = self._last_committed
        if self._suppress_next:
            self._suppress_next = False
            self.response.suppressed = True
            out.append(cmd.Send(event=ev.ResponseCancel(response_id=e.response_id)))
            return
        self._move(Trigger.RESPONSE_STARTED, now, out, "assistant responding")

    def _output_item(self, response_id: str, raw: ev.Item, now: float, out: Commands,
                     *, done: bool) -> None:
        item = self._item_by_server(raw.id)
        if item is None:
            kind = ItemKind.TOOL_CALL if raw.type == "function_call" else ItemKind.ASSISTANT
            if raw.type not in ("message", "function_call"):
                return
            item = self._add_item(kind, now, server_id=raw.id)
            item.response_id = response_id
            item.call_id, item.name = raw.call_id, raw.name
            if self.response is not None and self.response.response_id == response_id:
                self.response.item_ids.append(item.local_id)
        if not done:
            return
        if item.kind is ItemKind.TOOL_CALL:
            self._function_call(raw.call_id or "", raw.id, raw.name or "", raw.arguments or "",
                                now, out)
            return
        if not item.transcript_final and raw.text():
            item.transcript, item.transcript_final = raw.text(), True
        item.status = raw.status or "completed"
        item.completed_at = self.wall(now)
        self._journal_item(item, out)

    def _audio_delta(self, e: ev.OutputAudioDelta, now: float, out: Commands) -> None:
        resp = self.response
        item = self._item_by_server(e.item_id)
        if item is None:
            item = self._add_item(ItemKind.ASSISTANT, now, server_id=e.item_id)
            item.response_id = e.response_id
            if resp is not None:
                resp.item_ids.append(item.local_id)
        if item.flushed or (resp is not None and resp.suppressed):
            return
        item.audio += e.pcm
        ms = len(e.pcm) / 2 / SAMPLES_PER_MS
        self.metrics.audio_ms_received += ms
        if resp is not None and resp.first_audio_at is None:
            resp.first_audio_at = now
            if resp.latency_ms is not None:
                self.metrics.latencies_ms.append(resp.latency_ms)
        self._playback_idle = False
        out.append(cmd.Play(item_id=e.item_id, pcm=e.pcm))

    def _truncated(self, e: ev.ConversationItemTruncated, now: float, out: Commands) -> None:
        item = self._item_by_server(e.item_id)
        if item is None:
            return
        item.truncated = True
        item.audio_end_ms = e.audio_end_ms  # the server's word is final (§3)
        self._journal_item(item, out)

    def _response_done(self, e: ev.ResponseDone, now: float, out: Commands) -> None:
        resp = self.response
        if resp is None or resp.response_id != e.response_id:
            return
        self.response = None
        self.last_activity = now
        usage = e.usage or ev.Usage()
        self.metrics.tokens = self.metrics.tokens + usage
        for local in resp.item_ids:
            item = self.items[local]
            if item.kind is ItemKind.ASSISTANT:
                if item.status == "in_progress":
                    item.status = "completed" if e.status == "completed" else "incomplete"
                item.audio_done = True
                item.completed_at = item.completed_at or self.wall(now)
                self._journal_item(item, out)
        if not resp.suppressed:
            if any(self.items[local].kind is ItemKind.ASSISTANT for local in resp.item_ids):
                self.metrics.count_turn(ItemKind.ASSISTANT)
                self._assistant_turns_done += 1
            self._responses_done += 1
            out.append(cmd.Journal(record=TurnRecord(
                session_id=self.session_id, response_id=resp.response_id,
                turn_index=self._responses_done, status=e.status,
                started_at=self.wall(resp.started_at), duration_ms=(now - resp.started_at) * 1e3,
                latency_ms=resp.latency_ms, input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens, cached_tokens=usage.cached_tokens,
                input_text_tokens=usage.input_text_tokens,
                input_audio_tokens=usage.input_audio_tokens,
                output_text_tokens=usage.output_text_tokens,
                output_audio_tokens=usage.output_audio_tokens, interrupted=resp.interrupted,
                cached_text_tokens=usage.cached_text_tokens,
                cached_audio_tokens=usage.cached_audio_tokens)))
        if self._tools_waiting and self._all_tools_answered():
            self._send_tool_outputs(out)
        elif self._pending_response_create:
            self._pending_response_create = False
            self._send_response_create(now, out)
        self._maybe_finish_turn(now, out)

    def _maybe_finish_turn(self, now: float, out: Commands) -> None:
        """RESPONDING ends once the response is done and its audio has been heard."""
        if self.response is not None or not self._playback_idle:
            return
        self._move(Trigger.RESPONSE_FINISHED, now, out, "turn finished")
        goodbye_due = self._awaiting_response_since is not None or self._pending_response_create
        if self._end_requested and not self._tools_waiting and not goodbye_due:
            self._close(now, "conversation ended by the assistant", 0, out)
        if self._rollover_wanted and self.lifecycle.can_accept_input():
            self._check_expiry(now, out)  # the deferred rollover, now that the turn is over

    def _send_response_create(self, now: float, out: Commands) -> None:
        if self.response is not None:
            self._pending_response_create = True
            return
        self._awaiting_response_since = now
        out.append(cmd.Send(event=ev.ResponseCreate(event_id=self._next_event_id("resp"))))

    def _interrupt(self, kind: InterruptionKind, now: float, out: Commands,
                   user_text: str | None = None) -> None:
        """Stop the voice at once; cancel where the server will not; truncate at what was heard."""
        self._move(Trigger.INTERRUPT, now, out, f"interrupted ({kind.value})")
        out.append(cmd.FlushPlayback())
        resp = self.response
        server_cancels = (kind is InterruptionKind.SPEECH_OVERLAP and self.config.vad_enabled
                          and self.config.interrupt_response)
        if resp is not None:
            resp.interrupted = True
            if not server_cancels:
                out.append(cmd.Send(event=ev.ResponseCancel(response_id=resp.response_id)))
        target: ItemState | None = None
        for item in self.items.values():
            if item.kind is not ItemKind.ASSISTANT or item.flushed:
                continue
            if item.audio_done and item.played_samples >= item.received_samples:
                continue  # fully heard already
            item.flushed = True
            point = truncation_point(item.played_samples, item.received_samples)
            if point is None and item.played_samples > 0 and not item.audio_done:
                point = item.received_samples // SAMPLES_PER_MS  # more was due: the rest unheard
            item.truncated = True
            item.audio_end_ms = point if point is not None else (
                0 if item.played_samples <= 0 else int(item.received_ms))
            if point is not None and item.server_id:
                out.append(cmd.Send(event=ev.ConversationItemTruncate(
                    item_id=item.server_id, content_index=0, audio_end_ms=point,
                    event_id=self._next_event_id("trunc"))))
            if target is None or item.played_samples > 0:
                target = item
            self._journal_item(item, out)
        self._playback_idle = True
        self._playing_item = None
        self.metrics.count_interruption(kind.value)
        position = target.audio_end_ms or 0 if target else 0
        out.append(cmd.Journal(record=InterruptionRecord(
            session_id=self.session_id, item_local_id=target.local_id if target else "",
            kind=kind.value, at=self.wall(now), position_ms=position,
            heard_chars=len(target.heard_text) if target else 0, user_text=user_text)))
        if self.response is None:
            self._move(Trigger.RESPONSE_FINISHED, now, out, "interrupted")

    def _function_call(self, call_id: str, server_item_id: str, name: str, arguments: str,
                       now: float, out: Commands) -> None:
        if not call_id or call_id in self._handled_calls:
            return  # each call is answered once (§7)
        self._handled_calls.add(call_id)
        item = self._item_by_server(server_item_id)
        if item is None:
            item = self._add_item(ItemKind.TOOL_CALL, now, server_id=server_item_id)
        item.call_id, item.name, item.arguments = call_id, name, arguments
        item.status, item.completed_at = "completed", self.wall(now)
        self.metrics.count_turn(ItemKind.TOOL_CALL)
        self._journal_item(item, out)
        self._tools_waiting.append(call_id)
        if name == END_CONVERSATION.name and self.config.builtin_end_tool:
            self._end_requested = True
            self._tool_result(call_id, '{"ok": true, "note": "say goodbye briefly"}', now, out)
            return
        self._note("info", f"tool call: {name}({arguments})", out)
        out.append(cmd.RunTool(call_id=call_id, name=name, arguments=arguments))

    def _tool_output(self, event: inp.ToolOutput, out: Commands) -> None:
        if event.call_id not in self._tools_waiting or event.call_id in self._tool_outputs:
            return
        self._tool_result(event.call_id, event.output, event.now, out)

    def _tool_result(self, call_id: str, output: str, now: float, out: Commands) -> None:
        self._tool_outputs[call_id] = output
        item = self._add_item(ItemKind.TOOL_RESULT, now)
        item.call_id, item.output = call_id, output
        item.status, item.completed_at = "completed", self.wall(now)
        self.metrics.count_turn(ItemKind.TOOL_RESULT)
        self._journal_item(item, out)
        if self.response is None and self._all_tools_answered() and self.connected \
                and self.lifecycle.can_accept_input():
            self._send_tool_outputs(out)

    def _all_tools_answered(self) -> bool:
        return all(c in self._tool_outputs for c in self._tools_waiting)

    def _send_tool_outputs(self, out: Commands) -> None:
        """Results go back only after `response.done`, then one `response.create` (§7)."""
        for call_id in self._tools_waiting:
            item = next(i for i in self.items.values()
                        if i.kind is ItemKind.TOOL_RESULT and i.call_id == call_id)
            out.append(cmd.Send(event=ev.ConversationItemCreate(item={
                "id": item.local_id, "type": "function_call_output", "call_id": call_id,
                "output": self._tool_outputs[call_id]})))
        self._tools_waiting.clear()
        self._tool_outputs.clear()
        self._send_response_create(self.lifecycle.entered_at, out)

    def _mic(self, event: inp.MicAudio, out: Commands) -> None:
        if not self.connected or not self.lifecycle.can_accept_input():
            return
        if not self.config.vad_enabled and not self.ptt_open:
            return
        pcm = bytes(len(event.pcm)) if self.muted else event.pcm
        self.metrics.audio_ms_sent += self.sent.append(pcm)
        out.append(cmd.Send(event=ev.InputAudioBufferAppend(audio=pcm)))

    def _playback(self, event: inp.Playback, out: Commands) -> None:
        if event.item_id is not None:
            item = self._item_by_server(event.item_id)
            if item is not None and not item.flushed:
                if self._playing_item and self._playing_item != item.local_id:
                    prev = self.items[self._playing_item]
                    prev.played_samples = prev.received_samples
                self._playing_item = item.local_id
                item.played_samples = max(item.played_samples,
                                          min(event.played_samples, item.received_samples))
        was_idle = self._playback_idle
        self._playback_idle = event.idle
        if event.idle and not was_idle:
            for item in self.items.values():
                if item.kind is ItemKind.ASSISTANT and not item.flushed and item.audio_done:
                    item.played_samples = item.received_samples
            self.last_activity = event.now
            self._maybe_finish_turn(event.now, out)
