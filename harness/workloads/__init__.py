"""Workloads: the functions a case runs, importable by every worker."""

from harness.workloads.registry import (
    WORKLOADS,
    ProgramResult,
    Workload,
    WorkloadParams,
    get,
    names,
)

__all__ = ["WORKLOADS", "ProgramResult", "Workload", "WorkloadParams", "get", "names"]
