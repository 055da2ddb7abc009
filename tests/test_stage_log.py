"""StageLog: a stage's console output as a few labelled lines (fast, no Prefect)."""

from __future__ import annotations

import logging

from capo_pipelines.stage_log import StageLog


def _bar(desc: str, n: int, total: int, elapsed: str = "00:07") -> str:
    pct = 100 * n // total
    head = f"{desc}: " if desc else ""
    return f"{head}{pct:3d}%|{'█' * (pct // 10):<10}| {n}/{total} [{elapsed}<00:02, 1.2it/s]"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _stream() -> list[tuple[float, str]]:
    """What `dvc repro` of a training stage prints: (seconds, chunk) as the pipe delivers it."""
    now = 0.0
    chunks = ["Running stage 'train@capo':\n", "> python -m capo_pipelines.train --loss capo\n"]
    chunks.append(
        "/x/training_args.py:1541: FutureWarning: `gradient_checkpointing` is deprecated\n"
        "  warnings.warn(f'`{old}` is deprecated', FutureWarning)\n"
    )
    # a sub-second dataset map: 0%, 42%, 100% on one physical line joined by carriage returns
    chunks.append("\r".join(_bar("Tokenizing train dataset", n, 6210) for n in (0, 2583, 6210)))
    chunks.append("\n\n   \n")
    timed = [(now, chunk) for chunk in chunks]
    for step in range(99):  # a one-minute training loop, one update per step
        now += 0.65
        timed.append((now, "\r" + _bar("", step, 98)))
        if step and step % 20 == 0:
            timed.append((now, "\r" + " " * 45 + "{'loss': '0.62', 'grad_norm': '0.71'}\n"))
    timed.append((now, "\n04:17:48 train INFO capo: model saved to models/capo\n"))
    return timed


def test_progress_is_a_few_lines_per_stage_every_line_labelled_no_blanks():
    clock, seen = Clock(), []
    log = StageLog("train@capo", emit=lambda lvl, msg: seen.append((lvl, msg)), clock=clock)
    for clock.now, chunk in _stream():
        log.feed(chunk)
    messages = [m for _, m in seen]
    assert all(m.startswith("[train@capo] ") and m.strip() != "[train@capo]" for m in messages)
    assert not any("\r" in m or "\n" in m for m in messages)
    assert "[train@capo] Tokenizing train dataset: 6210/6210 done in 00:07" in messages
    assert not any("Tokenizing" in m and "%" in m for m in messages)  # fast bar: one line
    steps = [m for m in messages if "/98" in m]
    # 64 s at one line per >= 10 s and per 10% milestone, then the end
    assert 4 <= len(steps) <= 8, steps
    assert steps[-1] == "[train@capo] progress: 98/98 done in 00:07"
    assert sum("'loss'" in m for m in messages) == 4  # the trainer's metric lines are kept
    warnings = [(lvl, m) for lvl, m in seen if "FutureWarning" in m]
    assert warnings == [(logging.WARNING, warnings[0][1])]
    assert not any("warnings.warn(" in m for m in messages)
    assert len(messages) <= 20, messages  # from about 130 raw lines


def test_a_second_bar_with_the_same_description_is_reported_again():
    seen: list[str] = []
    log = StageLog("evaluate@capo", emit=lambda lvl, msg: seen.append(msg))
    for _ in range(2):
        for n in (0, 20, 20):  # tqdm prints the final state twice (refresh and close)
            log.feed(_bar("Loading weights", n, 20, "00:00") + "\r")
    assert seen == ["[evaluate@capo] Loading weights: 20/20 done in 00:00"] * 2


def test_dropped_lines_do_not_reach_the_log():
    import re

    seen: list[str] = []
    log = StageLog("s", emit=lambda lvl, msg: seen.append(msg), drop=re.compile(r"^git add "))
    log.feed("Updating lock file 'dvc.lock'\ngit add dvc.lock\n")
    assert seen == ["[s] Updating lock file 'dvc.lock'"]
