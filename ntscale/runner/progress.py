"""Driver-side progress: a live bar (windows or variants, Mbp/s, ETA) and the final summary.

On a terminal the CLI gets a rich bar. Without one (batch logs, Ray job logs, `2> file`)
a bar would be invisible or garbage, so a plain line goes to stderr instead, every
NTSCALE_PROGRESS_SECONDS seconds (default 30) by the clock (a background thread: a long
unit does not silence the log), and the final count once at the end: units and rows done,
rows/s, Mbp/s, elapsed and ETA.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections import Counter
from datetime import timedelta

from ntscale.runner.job import Job, UnitResult

log = logging.getLogger(__name__)

DEFAULT_LINE_SECONDS = 30.0


def line_interval_s() -> float:
    """Seconds between progress lines without a terminal (NTSCALE_PROGRESS_SECONDS)."""
    value = os.environ.get("NTSCALE_PROGRESS_SECONDS")
    try:
        return max(0.0, float(value)) if value else DEFAULT_LINE_SECONDS
    except ValueError:
        log.warning(
            "NTSCALE_PROGRESS_SECONDS=%r is not a number; using %s", value, DEFAULT_LINE_SECONDS
        )
        return DEFAULT_LINE_SECONDS


def _hms(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class Progress:
    """Tracks finished units; shows progress when `enabled` (a bar on a terminal, else lines).

    The library never prints; the CLI asks for progress with `enabled=True`. Without it the
    tracker still accumulates the numbers used for the run summary.
    """

    def __init__(self, *, total_rows: int, total_bp: int, label: str, enabled: bool) -> None:
        self.total_rows = total_rows
        self.total_bp = total_bp
        self.rows = 0
        self.bp = 0
        self.model_seconds = 0.0
        self.bytes_written = 0
        self.status_counts: Counter[str] = Counter()
        self.results: list[UnitResult] = []
        self._start = time.perf_counter()
        self._bar = None
        self.label = label
        self.units = 0
        # line mode: no terminal to draw a bar on
        self._lines = enabled and not sys.stderr.isatty()
        self._every_s = line_interval_s()
        self._last_line = self._start
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._printed: tuple[int, int] | None = None  # (rows, units) of the last line
        self._clock = None
        if self._lines:
            # The thread holds only a weak reference: a tracker dropped without close()
            # (an exception in the caller) does not keep a clock printing forever.
            self._clock = threading.Thread(
                target=_tick, args=(weakref.ref(self), self._stop, self._every_s),
                name="ntscale-progress", daemon=True,
            )  # fmt: skip
            self._clock.start()
        if enabled and not self._lines:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task(label, total=total_rows, rate="")
            self._bar.start()

    def skip(self, rows: int, bp: int) -> None:
        """Account for rows already done by an earlier (resumed) run."""
        self.total_rows -= rows
        self.total_bp -= bp
        if self._bar is not None:
            self._bar.update(self._task, total=self.total_rows)

    def update(self, result: UnitResult) -> None:
        with self._lock:  # the clock thread reads these
            self.results.append(result)
            self.rows += result.n_rows
            self.bp += result.bp
            self.model_seconds += result.model_seconds
            self.bytes_written += result.bytes_written
            self.status_counts.update(result.status_counts)
            self.units += 1
            if self._lines and time.perf_counter() - self._last_line >= self._every_s:
                self._line()
        if self._bar is not None:
            mbps = self.bp / 1e6 / max(self.elapsed, 1e-9)
            self._bar.update(self._task, completed=self.rows, rate=f"{mbps:.2f} Mbp/s")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def _clock_tick(self, every: float) -> None:
        with self._lock:
            if self._lines and time.perf_counter() - self._last_line >= every:
                self._line()

    def _line(self) -> None:
        """One progress line on stderr (only in line mode, which the CLI asked for)."""
        secs = max(self.elapsed, 1e-9)
        rate = self.rows / secs
        pct = 100.0 * self.rows / self.total_rows if self.total_rows else 100.0
        left = self.total_rows - self.rows
        eta = _hms(left / rate) if rate > 0 else "unknown"
        print(
            f"[ntscale] {self.label} {self.rows:,}/{self.total_rows:,} ({pct:.1f}%), "
            f"{self.units} units, {rate:.2f} {self.label}/s, {self.bp / 1e6 / secs:.3f} Mbp/s, "
            f"elapsed {_hms(secs)}, ETA {eta}",
            file=sys.stderr,
            flush=True,
        )
        self._last_line = time.perf_counter()
        self._printed = (self.rows, self.units)

    def close(self) -> None:
        self._stop.set()
        if self._clock is not None:
            self._clock.join()
            self._clock = None
        if self._lines:
            if self._printed != (self.rows, self.units):
                self._line()  # the final count, once (not again if the clock just said it)
            self._lines = False
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def summary(self) -> dict:
        secs = self.elapsed
        return {
            "rows_done": self.rows,
            "units_done": len(self.results),
            "bp_done": self.bp,
            "seconds": round(secs, 3),
            "rows_per_second": round(self.rows / secs, 3) if secs > 0 else None,
            "mbp_per_second": round(self.bp / 1e6 / secs, 4) if secs > 0 else None,
            "model_seconds": round(self.model_seconds, 3),
            "bytes_written": self.bytes_written,
            "status_counts": dict(sorted(self.status_counts.items())),
        }


def _tick(ref: weakref.ref, stop: threading.Event, every_s: float) -> None:
    """The clock: a line every interval while the run lasts (line mode only), whether a
    unit finished or not; ends with close() or with the tracker."""
    every = max(every_s, 0.05)
    while not stop.wait(min(every, 1.0) / 2):
        tracker = ref()
        if tracker is None:
            return
        tracker._clock_tick(every)
        del tracker


def start_progress(job: Job, pending: list[int], *, enabled: bool, label: str) -> Progress:
    """A tracker over the whole job, with units done by an earlier run already counted out."""
    n_units = job.n_units()
    tracker = Progress(
        total_rows=sum(job.unit_rows(u) for u in range(n_units)),
        total_bp=sum(job.unit_bp(u) for u in range(n_units)),
        label=label,
        enabled=enabled,
    )
    done = sorted(set(range(n_units)) - set(pending))
    tracker.skip(sum(job.unit_rows(u) for u in done), sum(job.unit_bp(u) for u in done))
    log.info("%d of %d units to run (%d already done)", len(pending), n_units, len(done))
    return tracker
