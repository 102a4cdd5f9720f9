"""Function calls: each answered once, the outputs held until the response that asked for them
is done, then sent together with one `response.create` (docs/protocol.md#tool-calls). A call
the server cancels is dropped from those in hand: its output is never sent."""

from __future__ import annotations


class ToolCalls:
    def __init__(self) -> None:
        self._handled: set[str] = set()
        self.waiting: list[str] = []  # call ids of this response, in call order
        self._outputs: dict[str, str] = {}
        self.end_requested = False  # the model called end_conversation

    def accept(self, call_id: str) -> bool:
        """A new call to run; False for one already handled (both done events name it)."""
        if not call_id or call_id in self._handled:
            return False
        self._handled.add(call_id)
        self.waiting.append(call_id)
        return True

    def expects(self, call_id: str) -> bool:
        return call_id in self.waiting and call_id not in self._outputs

    def answer(self, call_id: str, output: str) -> None:
        self._outputs[call_id] = output

    def all_answered(self) -> bool:
        return all(c in self._outputs for c in self.waiting)

    def ready_to_send(self) -> bool:
        return bool(self.waiting) and self.all_answered()

    def take(self) -> list[tuple[str, str]]:
        """The (call id, output) pairs to send now, in call order; the calls are then settled."""
        out = [(c, self._outputs[c]) for c in self.waiting]
        self.waiting.clear()
        self._outputs.clear()
        return out

    def cancel(self, call_id: str) -> bool:
        """Drop a call in hand that the server withdrew; False when none is (unknown, or its
        output already went). Its output, if it came, is forgotten; a late one is refused by
        `expects`, and the id stays handled, so the call is never run again."""
        if call_id not in self.waiting:
            return False
        self.waiting.remove(call_id)
        self._outputs.pop(call_id, None)
        return True

    def void(self) -> None:
        """Forget the calls in hand: their response failed, so no answer will follow them."""
        self.waiting.clear()
        self._outputs.clear()
