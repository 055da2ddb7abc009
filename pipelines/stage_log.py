"""A DVC stage's console output as a few labelled log lines: progress bars throttled, no blanks.

    log = StageLog("train@capo", emit=lambda level, text: logger.log(level, text))
    for line in proc.stdout:        # text mode: tqdm's carriage returns arrive as lines
        log.feed(line)

Every line is prefixed with ``[stage]``. A tqdm bar is reported when it finishes (one line
with its total and elapsed time) and, while it runs, at most at every 10% milestone and not
more often than every ``min_interval`` seconds, so a one-minute training loop gives a handful
of lines and a sub-second dataset map gives one. A Python warning becomes one WARNING line
(its echoed source line is dropped). Blank lines, and lines matching ``drop``, are dropped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["StageLog"]

# "desc:  42%|████▏     | 2583/6210 [00:01<00:02, 253.08 examples/s]" (desc optional)
BAR = re.compile(
    r"^(?P<desc>.*?):?\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*(?P<n>[\d.]+[kMG]?)/(?P<total>[\d.]+[kMG]?)"
    r"(?:\s*\[(?P<times>[^\]]*)\])?"
)
WARNING = re.compile(r"^\S.*:\d+: \w*Warning: ")


@dataclass
class _Bar:
    pct: int
    logged_pct: int
    logged_at: float
    done: bool = False


class StageLog:
    """Filters and labels one stage's output; ``emit(level, text)`` receives each kept line."""

    def __init__(
        self,
        stage: str,
        emit: Callable[[int, str], None],
        *,
        min_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        drop: re.Pattern[str] | None = None,
    ) -> None:
        self.stage, self.emit, self.drop = stage, emit, drop
        self.min_interval, self.clock = min_interval, clock
        self.bars: dict[str, _Bar] = {}
        self.after_warning = False
        self.lines: list[str] = []  # everything kept, for error messages

    def _out(self, level: int, text: str) -> None:
        self.lines.append(text)
        self.emit(level, f"[{self.stage}] {text}")

    def feed(self, raw: str) -> None:
        """One line of output (a carriage return also ends a line)."""
        for part in raw.replace("\r", "\n").split("\n"):
            self._line(part.rstrip())

    def _line(self, text: str) -> None:
        stripped = text.strip()
        if not stripped or (self.drop is not None and self.drop.match(stripped)):
            return
        if self.after_warning and text[:1].isspace():  # the source line a warning echoes
            self.after_warning = False
            return
        self.after_warning = False
        bar = BAR.match(stripped)
        if bar:
            self._progress(bar)
        elif WARNING.match(stripped):
            self.after_warning = True
            self._out(logging.WARNING, stripped)
        else:
            self._out(logging.INFO, stripped)

    def _progress(self, bar: re.Match[str]) -> None:
        desc = bar["desc"].strip() or "progress"
        pct, now = min(int(bar["pct"]), 100), self.clock()
        state = self.bars.get(desc)
        if state is None or pct < state.pct or (state.done and pct < 100):
            state = self.bars[desc] = _Bar(pct=pct, logged_pct=0, logged_at=now)
        state.pct = pct
        elapsed = (bar["times"] or "").split("<")[0]
        if pct == 100 or bar["n"] == bar["total"]:
            if not state.done:
                state.done = True
                self._out(logging.INFO, f"{desc}: {bar['total']}/{bar['total']} done in {elapsed}")
            return
        milestone = pct // 10 * 10
        if milestone > state.logged_pct and now - state.logged_at >= self.min_interval:
            state.logged_pct, state.logged_at = milestone, now
            self._out(logging.INFO, f"{desc}: {pct}% ({bar['n']}/{bar['total']}, {elapsed})")
