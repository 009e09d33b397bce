"""A case: one point of a scenario's matrix, as plain data.

Its own module, on the ground floor: the case process receives one as JSON and needs
nothing of the spec's validation (pydantic models, TOML, the interpreter lookup) to
read it, which kept ~20 ms off every case process.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: A Python version as a spec or --python names it: 3.12, 3.12.1, 3.13t (free-threaded);
#: a case's `python` is one of these, or "" for the harness's own.
PYTHON_VERSION = re.compile(r"^3\.\d+(\.\d+)?t?$")


@dataclass(frozen=True)
class Case:
    """One point of a scenario's matrix: everything the runner needs, as plain data."""

    scenario: str
    workload: str
    backend: str
    workers: int
    tasks: int
    params: dict[str, Any]
    repeat: int
    warmup: int
    timeout_s: float
    backend_options: dict[str, Any] = field(default_factory=dict)
    #: The swept backend options of this case ("start_method=fork"), part of its id.
    variant: str = ""
    #: A user's own workload: its `inputs` and `check` references, and the files/folders of
    #: their code that the case process puts on sys.path and ships to workers.
    inputs: str = ""
    check: str = ""
    code: list[str] = field(default_factory=list)
    #: The interpreter the case process runs under ("3.12.1", "3.13.0t"); "" is the harness's
    #: own. Part of the case id when a run has more than one.
    python: str = ""
    python_in_id: bool = False
    #: Time the baseline's sequential loop on the same inputs beside every warm-up and
    #: repeat, in this process, the order alternating (`reference_wall_s`): a speedup
    #: paired in time, within one process, where the machine's speed swings in seconds.
    reference: bool = False
    #: Run the latency and timeline passes after the repeats. The first process of a case
    #: does; the extra processes a budget buys (`execute.budget`) only warm up and repeat.
    passes: bool = True
    #: "a" or "b" in an A/B run (`harness ab`), "" elsewhere: part of the case id.
    side: str = ""
    #: The other side's case (as `to_json` gives it), run in this same process with its
    #: repeats alternating with this case's on one engine: an A/B pair paired in time.
    partner: dict[str, Any] | None = None
    #: Seconds one warm-up or repeat batch after the first may run before the runner stops
    #: the case (status `timeout`); 0: no limit but the case's timeout. `harness tune` sets
    #: it where a batch that long would leave the race anyway.
    batch_limit_s: float = 0.0
    #: On a cluster given by address, a node sweep (`--nodes`): the number of nodes the
    #: case's workers span, `workers / nodes` on each; 0 outside a node sweep. Part of the id.
    nodes: int = 0
    #: In a node sweep: "strong" (the same tasks at every node count) or "weak" (tasks grow
    #: with the nodes); "" outside one.
    node_scaling: str = ""

    @property
    def params_key(self) -> str:
        return json.dumps(self.params, sort_keys=True)

    @property
    def case_id(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        backend = f"{self.backend}[{self.variant}]" if self.variant else self.backend
        if self.python_in_id:
            backend += f"@{self.python}"
        found = f"{self.scenario}/{backend}/w{self.workers}"
        if self.nodes:
            found += f"/n{self.nodes}-{self.node_scaling}"
        found += f"/{params}" if params else ""
        return f"{self.side}:{found}" if self.side else found

    def partner_case(self) -> Case | None:
        return Case(**self.partner) if self.partner else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Case:
        return cls(**json.loads(text))
