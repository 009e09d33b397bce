"""How a case process speaks to its runner: events as JSON lines on a pipe of their own
(never pickle), so engine logs on stdout or stderr cannot corrupt them."""

from __future__ import annotations

import dataclasses
import time
from typing import TextIO

from harness.protocol import METRICS, Event, MetricEvent, PhaseEvent, encode


class Emitter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: Event) -> None:
        self.stream.write(encode(event))
        self.stream.flush()

    def phase(self, name: str, repeat: int | None = None) -> None:
        self(PhaseEvent(name, repeat, time.perf_counter()))

    def metric(
        self, metric: str, value: float, repeat: int | None = None, *, unit: str = ""
    ) -> None:
        """One value; its unit is the catalogue's (`unit` only for a metric it lacks, such
        as a program workload's own)."""
        known = METRICS.get(metric)
        self(MetricEvent(metric, float(value), known.unit if known else unit, repeat))


class PartnerEmitter(Emitter):
    """The partner case's events: its values marked as the partner's, its phases kept (the
    memory sampler reads them), what describes the process (baseline, workers) dropped:
    the case itself says that once."""

    def __init__(self, inner: Emitter) -> None:
        super().__init__(inner.stream)

    def __call__(self, event: Event) -> None:
        if isinstance(event, MetricEvent):
            super().__call__(dataclasses.replace(event, partner=True))
        elif isinstance(event, PhaseEvent):
            super().__call__(event)
