"""Output guards on streamed answers: hold text back until the chain has passed it.

A streamed token, once sent, cannot be recalled, so an output guard that only
sees the assembled answer after the stream can record but never block or
redact. `WindowedOutput` closes that gap for one choice of a stream: upstream
deltas are buffered; every `window` new characters the output chain runs on
the whole answer so far, and only its sanitised text up to `holdback`
characters before the end is released (a value still arriving, e.g. half an
e-mail address, sits in that margin until it is complete and the guard can
see it). At the end of the choice the rest is checked and released. A block
at any check raises `StreamBlocked`: the gateway then ends the stream with an
error event instead of the rest of the answer. If a later check sanitises text
that was already released (a value longer than the margin), the stream is
also ended (fail closed) rather than continuing with text that no longer
lines up.

The cost is latency to the first token (about `window + holdback`
characters) and one chain run per window over the answer so far.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bastion.gateway._guards.chain import ChainResult
from bastion.gateway._guards.pii import StreamRestorer


class StreamBlocked(Exception):
    """The output chain refused streamed text; `guard` names the link (or the reason)."""

    def __init__(self, guard: str) -> None:
        super().__init__(guard)
        self.guard = guard


class WindowedOutput:
    def __init__(
        self,
        check: Callable[[str], Awaitable[ChainResult]],
        restorer: StreamRestorer,
        *,
        window: int,
        holdback: int,
    ) -> None:
        self._check_fn = check
        self._restorer = restorer
        self.window = max(1, window)
        self.holdback = max(0, holdback)
        self._raw: list[str] = []
        self._raw_len = 0
        self._checked_len = 0
        self._sent = ""  # sanitised text released so far (before placeholders are restored)
        self._last_clean = ""
        self.checks = 0

    @property
    def text(self) -> str:
        return "".join(self._raw)

    async def feed(self, delta: str) -> str:
        """Take a delta; return whatever text is now safe to send (often "")."""
        if not delta:
            return ""
        self._raw.append(delta)
        self._raw_len += len(delta)
        if self._raw_len - self._checked_len < self.window:
            return ""
        return await self._release(final=False)

    async def finish(self) -> str:
        """End of this choice: check everything and release the rest."""
        if self._raw_len > self._checked_len or self.checks == 0:
            out = await self._release(final=True)
        else:  # nothing new since the last check: release the rest of its verdict
            out = self._emit(self._last_clean, len(self._last_clean))
        return out + self._restorer.flush()

    async def _release(self, *, final: bool) -> str:
        text = "".join(self._raw)
        if len(self._raw) > 1:
            self._raw = [text]
        self._checked_len = self._raw_len
        self.checks += 1
        result = await self._check_fn(text)
        if not result.allowed:
            raise StreamBlocked(result.blocked_by or "guard")
        clean = result.text if result.text is not None else text
        if not clean.startswith(self._sent):
            raise StreamBlocked("released_text_changed")
        self._last_clean = clean
        return self._emit(clean, len(clean) if final else max(len(self._sent), len(clean) - self.holdback))

    def _emit(self, clean: str, end: int) -> str:
        piece = clean[len(self._sent) : end]
        if not piece:
            return ""
        self._sent = clean[:end]
        return self._restorer.feed(piece)
