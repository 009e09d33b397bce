"""The typed contracts between the parts: case events, a backend's self-description, metrics.

Every other module imports these names instead of spelling strings: the case process
encodes events, the runner decodes them, and reports, compare and exports read a metric's
unit, direction and meaning from the catalogue. The catalogue itself is `harness.metrics`
(its names are handed out here too, where the rest of the package imports them). Standard
library only, because the case process imports it before any engine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

from harness.metrics import METRICS as METRICS
from harness.metrics import Better as Better
from harness.metrics import Metric as Metric
from harness.metrics import MetricInfo as MetricInfo
from harness.metrics import Per as Per
from harness.metrics import metric_info as metric_info
from harness.metrics import register_metric as register_metric

# --- what a backend says about itself, as run ---------------------------------------------


@dataclass
class BackendDescription:
    """Filled by a backend after start; the runner stores it in run.json and on every row."""

    strategy: str
    remote: bool = False
    #: Comma-separated addresses of the cluster nodes the case's workers ran on.
    nodes_used: str = ""
    warnings: list[str] = field(default_factory=list)
    #: Engine versions, scheduler address, per-node facts: free-form, for run.json.
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "remote": self.remote,
            "nodes_used": self.nodes_used,
            "warnings": list(self.warnings),
            **self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackendDescription:
        own = {"strategy", "remote", "nodes_used", "warnings"}
        return cls(
            strategy=data.get("strategy", ""),
            remote=bool(data.get("remote", False)),
            nodes_used=data.get("nodes_used", ""),
            warnings=list(data.get("warnings", [])),
            details={k: v for k, v in data.items() if k not in own},
        )


# --- events from the case process to the runner -------------------------------------------

Phase = Literal["startup", "warmup", "steady", "between", "latency", "teardown"]


@dataclass(frozen=True)
class PhaseEvent:
    kind: ClassVar[str] = "phase"
    phase: str
    repeat: int | None = None
    t: float = 0.0


@dataclass(frozen=True)
class MetricEvent:
    kind: ClassVar[str] = "metric"
    metric: str
    value: float
    unit: str
    repeat: int | None = None
    #: One node of a cluster for the per-node metrics; None means the case as a whole.
    node: str | None = None
    #: A value of the partner case that shared the process (`Case.partner`, harness ab).
    partner: bool = False


@dataclass(frozen=True)
class BaselineEvent:
    """The driver's memory after imports, before the backend starts."""

    kind: ClassVar[str] = "baseline"
    uss_bytes: int
    rss_bytes: int
    pid: int
    pss_bytes: int = 0


@dataclass(frozen=True)
class WorkersEvent:
    kind: ClassVar[str] = "workers"
    pids: list[int]
    description: BackendDescription
    #: Pids of engine services (gcs, raylet, scheduler, nannies): not counted as workers.
    service_pids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class BatchCompletionEvent:
    """A thinned sample of the batch completion times, for the distribution figure."""

    kind: ClassVar[str] = "batch_completion"
    values: list[float]


@dataclass(frozen=True)
class TasksEvent:
    """The timeline pass's task records, column by column (`measure.timeline.COLUMNS`)."""

    kind: ClassVar[str] = "tasks"
    columns: dict[str, list[Any]]


@dataclass(frozen=True)
class FailedEvent:
    kind: ClassVar[str] = "failed"
    status: str
    error: str


@dataclass(frozen=True)
class DoneEvent:
    kind: ClassVar[str] = "done"


Event = (
    PhaseEvent
    | MetricEvent
    | BaselineEvent
    | WorkersEvent
    | BatchCompletionEvent
    | TasksEvent
    | FailedEvent
    | DoneEvent
)
_KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        PhaseEvent,
        MetricEvent,
        BaselineEvent,
        WorkersEvent,
        BatchCompletionEvent,
        TasksEvent,
        FailedEvent,
        DoneEvent,
    )
}


class ProtocolError(ValueError):
    """A line on the event pipe that is not an event of this protocol."""


def encode(event: Event) -> str:
    """One JSON line: never pickle, so a line from a broken case cannot run code."""
    data = asdict(event)
    if isinstance(event, WorkersEvent):
        data["description"] = event.description.as_json()
    return json.dumps({"event": event.kind, **data}) + "\n"


def decode(line: str) -> Event:
    try:
        data = json.loads(line)
        cls = _KINDS[data.pop("event")]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"not an event: {line[:80]!r}") from exc
    if cls is WorkersEvent:
        data["description"] = BackendDescription.from_json(data.get("description", {}))
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise ProtocolError(f"bad {cls.kind} event: {exc}") from exc


# --- case statuses --------------------------------------------------------------------------

Status = Literal["ok", "error", "crashed", "timeout", "interrupted", "skipped"]
STATUSES: tuple[str, ...] = ("ok", "error", "crashed", "timeout", "interrupted", "skipped")
