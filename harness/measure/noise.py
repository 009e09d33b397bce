"""A model of this machine's timing noise, fitted to measured processes, for simulating intervals.

Why: an interval that says "95%" must cover the truth in 95% of repeated experiments, and on a
small shared VM the noise is far from the normal, independent scatter textbook intervals
assume (`../shared/noise/README.md`). Its coverage can only be checked by simulating
experiments under noise that looks like the machine's. This module is that noise.

The model (per-call times):

- a **regime** shared by everything running at that moment: a continuous-time two-state
  Markov chain, fast (speed factor 1) and slow (factor ``slow``), leaving the fast state
  after an exponential dwell of mean ``dwell_fast`` seconds and the slow one after
  ``dwell_slow``. A call's time is its nominal duration times the time-average of the factor
  over the call, so calls much longer than a dwell average the regimes out;
- a per-process **offset**, lognormal with log-SD ``process_sd`` (memory layout, hash seed,
  core: what differs between fresh processes). It belongs to the code as laid out in that
  process: two different functions alternated inside one process (A and B) each get their
  own, with correlation ``offset_shared`` between them (0 fitted: see below);
- a per-call **jitter**, lognormal with log-SD ``call_sd``.

Calls are laid on the time axis at their nominal duration times the regime's mean factor (a
deterministic schedule): their windows do not stretch with the regime they meet. Each
process spends ``startup_s`` (interpreter start, imports) before its first call. Processes
run one after another, ``gap_s`` apart (other cases' processes run in between in a real run).

How it is fitted (`fit`), from one value per process (its median of ``repeats`` timed calls
after ``warmup``) and the time it ran, as `../shared/noise/processes-*.json` holds them:

1. a two-component normal mixture (common variance) on the log medians, by EM: the
   components' means give the fast time of the loop and the slow factor, the slow
   component's weight the chain's stationary share of the slow state, and the common
   within-component variance the process offset (less what the jitter of a median of
   ``repeats`` calls adds);
2. the chain's correlation time tau from the lag-1 autocorrelation r of each process's
   posterior probability of the slow component, in time order, at the typical spacing d of
   processes: tau = -d / ln r. With the slow share p, dwell_fast = tau / p and
   dwell_slow = tau / (1 - p) (a two-state chain's autocorrelation decays as exp(-t/tau),
   1/tau = 1/dwell_fast + 1/dwell_slow);
3. ``startup_s``: the mean spacing of processes less their calls' mean duration.

``call_sd`` is not identifiable from medians; it is a constant, 0.025, read from the README's
"60 calls ... read 20-22 ms and 36-38 ms" (a +-5% range within a regime over 60 calls). The
README's in-process ABAB figure (pair-ratio SD 0.096) follows from the model without being
fitted to, and fixes ``offset_shared``: an in-process pair ratio cancels the regime (A and B
calls run side by side) and the jitter almost (a median of 6 pairs), so what is left is the two
functions' own offsets, SD sqrt(2 (1 - offset_shared)) x process_sd = 0.095 at
offset_shared = 0, as measured. (A shared offset would cancel and leave about 0.02.)

`simulate` generates whole experiments, vectorised over replicates (thousands in a second or
two). numpy only; this module sits on floor 1 and imports nothing of the harness.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

#: Per-call log-SD within a regime: "calls read 20-22 ms and 36-38 ms" (README).
CALL_SD = 0.025


@dataclass(frozen=True)
class NoiseModel:
    #: Speed factor of the slow regime (the fast one is 1).
    slow: float
    #: Mean dwell times (seconds) of the fast and slow regimes.
    dwell_fast: float
    dwell_slow: float
    #: Log-SD of the per-process offset.
    process_sd: float
    #: Log-SD of the per-call jitter.
    call_sd: float
    #: Correlation of the offsets of two functions alternated inside one process.
    offset_shared: float
    #: Seconds a process spends before its first call.
    startup_s: float
    #: Fast-regime time of the loop the model was fitted on (seconds).
    reference_s: float

    @property
    def slow_share(self) -> float:
        return self.dwell_slow / (self.dwell_fast + self.dwell_slow)

    @property
    def mean_factor(self) -> float:
        return 1 + (self.slow - 1) * self.slow_share

    @property
    def tau(self) -> float:
        """Correlation time of the regime (seconds)."""
        return 1 / (1 / self.dwell_fast + 1 / self.dwell_slow)


#: Fitted by `refit()` to `processes-2026-12-07.json` (120 processes of a 26 ms loop).
MODEL = NoiseModel(
    slow=1.4774,
    dwell_fast=0.4535,
    dwell_slow=0.249,
    process_sd=0.06742,
    call_sd=CALL_SD,
    offset_shared=0.0,
    startup_s=0.05532,
    reference_s=0.024888,
)

#: The data the constants above come from (a copy of ../shared/noise/).
DATA = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "noise"
DATA = DATA / "processes-2026-12-07.json"


def _median_var(repeats: int, draws: int = 200_000) -> float:
    """Variance of the median of `repeats` standard normal values (simulated, seeded)."""
    rng = np.random.default_rng(0)
    return float(np.median(rng.standard_normal((draws, repeats)), axis=1).var())


def _mixture(y: np.ndarray, iterations: int = 500) -> tuple[float, float, float, float, np.ndarray]:
    """EM for two normal components with a common variance: (mu_fast, mu_slow, share_slow,
    sd, posterior of slow per value)."""
    lo, hi = np.quantile(y, [0.25, 0.9])
    mu = np.array([lo, hi])
    share, var = 0.5, float(y.var()) / 4
    for _ in range(iterations):
        dens = np.exp(-((y[:, None] - mu[None, :]) ** 2) / (2 * var))
        dens *= np.array([1 - share, share])
        post = dens[:, 1] / dens.sum(axis=1)
        w = np.stack([1 - post, post], axis=1)
        mu = (w * y[:, None]).sum(axis=0) / w.sum(axis=0)
        share = float(post.mean())
        var = float((w * (y[:, None] - mu[None, :]) ** 2).sum() / len(y))
    return float(mu[0]), float(mu[1]), share, math.sqrt(var), post


def _lag1(values: np.ndarray) -> float:
    v = values - values.mean()
    return float((v[:-1] * v[1:]).sum() / (v * v).sum())


def fit(
    records: Iterable[Mapping], repeats: int = 3, warmup: int = 1, call_sd: float = CALL_SD
) -> NoiseModel:
    """Fit the model to records shaped like the JSON's ``processes`` (``t``: seconds since the
    start, ``median``: the process's median call in seconds; ``slot``, ``side`` unused).
    How: see the module's docstring."""
    rows = sorted(records, key=lambda r: float(r["t"]))
    t = np.array([float(r["t"]) for r in rows])
    y = np.log([float(r["median"]) for r in rows])
    mu_f, mu_s, share, sd_w, post = _mixture(y)
    slow = math.exp(mu_s - mu_f)
    spacing = float(np.median(np.diff(t)))
    r = min(max(_lag1(post), 0.01), 0.99)
    tau = -spacing / math.log(r)
    share = min(max(share, 1e-3), 1 - 1e-3)
    process_var = sd_w**2 - _median_var(repeats) * call_sd**2
    fast_s = math.exp(mu_f)
    call_mean = fast_s * (1 + (slow - 1) * share)
    startup = float(np.mean(np.diff(t))) - (warmup + repeats) * call_mean
    return NoiseModel(
        slow=round(slow, 4),
        dwell_fast=round(tau / share, 4),
        dwell_slow=round(tau / (1 - share), 4),
        process_sd=round(math.sqrt(max(process_var, 0.0)), 5),
        call_sd=call_sd,
        offset_shared=0.0,
        startup_s=round(max(startup, 0.0), 5),
        reference_s=round(fast_s, 6),
    )


def load(path: Path | str = DATA) -> dict:
    return json.loads(Path(path).read_text())


def refit(path: Path | str = DATA) -> NoiseModel:
    """The model fitted afresh from a JSON like ``processes-2026-12-07.json``."""
    data = load(path)
    return fit(
        data["processes"],
        repeats=int(data.get("summary", {}).get("repeats", 3)),
    )


# --- simulation ----------------------------------------------------------------------------


def _regime_cumulative(
    rng: np.random.Generator, model: NoiseModel, horizon: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Time spent in the slow regime from 0 to each query time, per replicate.

    ``horizon``: (R,) last time needed per replicate; ``queries``: (R, Q) times. Each
    replicate's regime path is an alternating sequence of exponential dwells starting in
    the stationary distribution.
    """
    reps = len(horizon)
    tmax = float(horizon.max())
    k = int(math.ceil(2 * tmax / min(model.dwell_fast, model.dwell_slow) + 16))
    slow0 = rng.random(reps) < model.slow_share
    while True:
        # dwell j is slow when (j even) == slow0
        parity = (np.arange(k)[None, :] % 2 == 0) == slow0[:, None]
        means = np.where(parity, model.dwell_slow, model.dwell_fast)
        dwells = rng.exponential(1.0, (reps, k)) * means
        ends = np.cumsum(dwells, axis=1)
        if (ends[:, -1] > horizon).all():
            break
        k *= 2
    starts = np.concatenate([np.zeros((reps, 1)), ends[:, :-1]], axis=1)
    slow_before = np.cumsum(np.where(parity, dwells, 0.0), axis=1) - np.where(parity, dwells, 0.0)
    # one sorted array for all replicates: offset each row past the previous one
    offset = (np.arange(reps) * (ends[:, -1].max() + 1.0))[:, None]
    flat = (starts + offset).ravel()
    idx = np.searchsorted(flat, (queries + offset).ravel(), side="right") - 1
    idx = idx.reshape(queries.shape)
    seg_start = starts.ravel()[idx]
    in_slow = parity.ravel()[idx]
    return slow_before.ravel()[idx] + np.where(in_slow, queries - seg_start, 0.0)


def _timeline(
    rng: np.random.Generator,
    model: NoiseModel,
    nominal: np.ndarray,
    process_of_call: np.ndarray,
    n_processes: int,
    gap_s: float,
    side_of_call: np.ndarray | None = None,
) -> np.ndarray:
    """Times of calls laid out process after process.

    ``nominal``: (R, C) nominal seconds of every call (warm-ups included) in time order;
    ``process_of_call``: (C,) index of the process each call runs in (non-decreasing).
    Returns (R, C) measured seconds.
    """
    reps, calls = nominal.shape
    first = np.r_[True, process_of_call[1:] != process_of_call[:-1]]
    pause = np.where(first, model.startup_s + gap_s, 0.0)[None, :]
    length = nominal * model.mean_factor
    ends = np.cumsum(pause + length, axis=1)
    starts = ends - length
    cum = _regime_cumulative(rng, model, ends[:, -1], np.concatenate([starts, ends], axis=1))
    slow_time = cum[:, calls:] - cum[:, :calls]
    factor = 1 + (model.slow - 1) * slow_time / length
    shared = rng.standard_normal((reps, n_processes))
    offsets = model.process_sd * shared[:, process_of_call]
    if side_of_call is not None:  # two functions in one process: each its own offset
        own = rng.standard_normal((reps, n_processes))[:, process_of_call]
        c = model.offset_shared
        mixed = c * shared[:, process_of_call] + math.sqrt(1 - c * c) * own
        offsets = np.where(side_of_call[None, :], model.process_sd * mixed, offsets)
    jitter = model.call_sd * rng.standard_normal((reps, calls))
    return nominal * factor * np.exp(offsets + jitter)


@dataclass(frozen=True)
class Simulated:
    """Timed calls (warm-ups dropped) of every replicate: ``a`` and ``b`` are (R, slots,
    repeats) seconds; ``a_order`` and ``b_order`` the position of each side's process in
    time, (R, slots) (equal for both sides when alternated inside one process)."""

    a: np.ndarray
    b: np.ndarray
    a_order: np.ndarray
    b_order: np.ndarray

    def medians(self) -> tuple[np.ndarray, np.ndarray]:
        """One value per process: the median of its repeats, (R, slots) a side."""
        return np.median(self.a, axis=2), np.median(self.b, axis=2)

    def pair_log_ratios(self) -> np.ndarray:
        """log(b / a) per slot: the median of repeat-matched log ratios, (R, slots)."""
        return np.median(np.log(self.b) - np.log(self.a), axis=2)


LAYOUTS = ("separate", "alternate", "runs")


def simulate(
    slots: int,
    repeats: int,
    duration: float,
    *,
    ratio: float = 1.0,
    layout: str = "separate",
    warmup: int = 1,
    replicates: int = 1,
    rng: np.random.Generator | int | None = None,
    model: NoiseModel = MODEL,
    gap_s: float = 0.0,
) -> Simulated:
    """Simulate `replicates` experiments of side A (nominal `duration` seconds a call) against
    side B (`ratio` times as long), `slots` processes a side, `repeats` timed calls each after
    `warmup` untimed ones.

    Layouts: ``separate``: each slot runs a process of A and one of B back to back, in a
    random order per slot (the README's design); ``alternate``: each slot is one process that
    alternates A and B calls (warm-ups A, B first; then A B A B ...); ``runs``: the sides are
    two independent runs (minutes apart, so no regime in common), each process of a side
    after the other. ``gap_s`` puts idle time (other cases) between processes.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: one of {LAYOUTS}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    per = warmup + repeats
    da, db = duration, duration * ratio
    if layout == "runs":
        proc = np.repeat(np.arange(slots), per)
        timed = np.tile(np.arange(per) >= warmup, slots)
        out = []
        for d in (da, db):
            times = _timeline(rng, model, np.full((replicates, slots * per), d), proc, slots, gap_s)
            out.append(times[:, timed].reshape(replicates, slots, repeats))
        order = np.broadcast_to(np.arange(slots), (replicates, slots))
        return Simulated(out[0], out[1], order, order)
    if layout == "alternate":
        n_calls = 2 * per
        proc = np.repeat(np.arange(slots), n_calls)
        side_b = np.tile(np.arange(n_calls) % 2 == 1, slots)
        timed = np.tile(np.arange(n_calls) >= 2 * warmup, slots)
        nominal = np.where(side_b, db, da)[None, :].repeat(replicates, axis=0)
        times = _timeline(rng, model, nominal, proc, slots, gap_s, side_b)
        a = times[:, timed & ~side_b].reshape(replicates, slots, repeats)
        b = times[:, timed & side_b].reshape(replicates, slots, repeats)
        order = np.broadcast_to(np.arange(slots), (replicates, slots))
        return Simulated(a, b, order, order)
    # separate: two processes a slot, order random per slot
    b_first = rng.random((replicates, slots)) < 0.5
    proc = np.repeat(np.arange(2 * slots), per)
    first_calls = np.where(b_first, db, da)
    second_calls = np.where(b_first, da, db)
    per_process = np.stack([first_calls, second_calls], axis=2).reshape(replicates, 2 * slots)
    nominal = np.repeat(per_process, per, axis=1)
    times = _timeline(rng, model, nominal, proc, 2 * slots, gap_s)
    timed = np.tile(np.arange(per) >= warmup, 2 * slots)
    calls = times[:, timed].reshape(replicates, slots, 2, repeats)
    pick = b_first[:, :, None]
    a = np.where(pick, calls[:, :, 1], calls[:, :, 0])
    b = np.where(pick, calls[:, :, 0], calls[:, :, 1])
    base = 2 * np.arange(slots)[None, :]
    return Simulated(a, b, base + b_first, base + ~b_first)


def summary(sim: Simulated) -> dict[str, float]:
    """The README's statistics of simulated ``separate`` experiments, averaged over replicates:
    SD of log process medians, lag-1 autocorrelation of medians in time order (as
    ``anatomy.py`` computes it: on the medians themselves), rho of paired logs within slots,
    and the SD of the per-slot log ratio (for ``alternate``: the in-process ratio's SD)."""
    ma, mb = sim.medians()
    reps, slots = ma.shape
    seq = np.empty((reps, 2 * slots))
    rows = np.arange(reps)[:, None]
    seq[rows, sim.a_order] = ma
    seq[rows, sim.b_order] = mb
    logs = np.log(seq)
    sd = logs.std(axis=1, ddof=1)
    centred = seq - seq.mean(axis=1, keepdims=True)
    lag1 = (centred[:, :-1] * centred[:, 1:]).sum(axis=1) / (centred**2).sum(axis=1)
    d = np.log(mb) - np.log(ma)
    sd_d = d.std(axis=1, ddof=1)
    ratio_sd = sim.pair_log_ratios().std(axis=1, ddof=1)
    return {
        "sd_log": float(sd.mean()),
        "lag1": float(lag1.mean()),
        "rho": float(np.mean(1 - sd_d**2 / (2 * sd**2))),
        "pair_ratio_sd": float(ratio_sd.mean()),
    }


def with_(model: NoiseModel = MODEL, **changes) -> NoiseModel:
    """A copy of `model` with some constants changed (for what-if simulations)."""
    return replace(model, **changes)
