"""Ground-truth neuromodulation scenarios: known conductance changes, simulated before and after.

:func:`generate_scenarios` draws base neurons the way the package builds populations (a
member of the model's spiking base population, moved by the compensating pair of the model's
rule to a random ``(g_s, g_u)`` target), multiplies one or two of its conductances by known
factors, simulates both neurons with Brian2 under the model's training protocol (transient,
recorded window) and keeps the pairs whose trains both fire and differ visibly: a change of
firing class ("class-changing") or a change of at least ``min_change`` in the key statistic
of the class (spiking frequency, or the burst statistics; "rate-only").  The benchmark
``benchmarks/bench_neuromodulation.py`` and the tests run the analysis on them from the spike
times alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from nwb_dicpop._validation import check_positive, normalize_rng
from nwb_dicpop.containers import SpikeTrains
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.kernel import kernel_for

__all__ = ["BASE_TARGETS", "Scenario", "generate_scenarios"]

BASE_TARGETS = {"stg": ((-10.0, 8.0), (3.0, 10.0)), "da": ((-6.0, 6.0), (3.0, 10.0))}
"""Per model: the box ``((g_s_min, g_s_max), (g_u_min, g_u_max))`` of base-neuron targets,
covering tonic and bursting neurons."""
FACTOR_RANGE = (0.3, 3.0)
"""Factors are drawn log-uniformly in this range (and inside the modulation limits), with at
least a 25 % change."""
MIN_FACTOR_CHANGE = 1.25


@dataclass(frozen=True)
class Scenario:
    """One known neuromodulation and the spike trains it produces.

    Attributes
    ----------
    model_name : str
    subset : tuple of str
        The conductances changed, in the model's order.
    factors : ndarray of float, shape (len(subset),)
        ``g_after / g_before`` of each.
    before_conductances, after_conductances : ndarray of float, shape (n_conductances,)
        mS/cm^2.
    before_dics, after_dics : ndarray of float, shape (3,)
        ``(g_f, g_s, g_u)`` at the model's threshold.
    before_times, after_times : ndarray of float
        Spike times in seconds over ``[0, duration]``.
    duration : float
        Recorded window in seconds.
    before_class, after_class : str
        Firing classes.
    kind : {"class-changing", "rate-only"}
    """

    model_name: str
    subset: tuple[str, ...]
    factors: np.ndarray
    before_conductances: np.ndarray
    after_conductances: np.ndarray
    before_dics: np.ndarray
    after_dics: np.ndarray
    before_times: np.ndarray
    after_times: np.ndarray
    duration: float
    before_class: str
    after_class: str
    kind: str

    @property
    def subset_name(self) -> str:
        """The true subset, names joined by "+"."""
        return "+".join(self.subset)

    @property
    def shift(self) -> float:
        """Euclidean norm of the true ``(g_s, g_u)`` change."""
        return float(np.linalg.norm(self.after_dics[1:] - self.before_dics[1:]))

    @property
    def before(self) -> SpikeTrains:
        """The "before" train as a one-unit SpikeTrains over ``[0, duration]``."""
        return SpikeTrains([self.before_times], t_start=0.0, t_stop=self.duration, source="scenario before")

    @property
    def after(self) -> SpikeTrains:
        """The "after" train as a one-unit SpikeTrains over ``[0, duration]``."""
        return SpikeTrains([self.after_times], t_start=0.0, t_stop=self.duration, source="scenario after")


def _subsets(spec: NeuronModel) -> list[tuple[str, ...]]:
    names = [n for n in spec.conductance_names if n != spec.leak]
    return [(n,) for n in names] + list(itertools.combinations(names, 2))


def _factor(spec: NeuronModel, name: str, rng: np.random.Generator) -> float:
    low, high = spec.modulation_limit(name)
    lo, hi = np.log(max(FACTOR_RANGE[0], low)), np.log(min(FACTOR_RANGE[1], high))
    while True:
        x = rng.uniform(lo, hi)
        if abs(x) >= np.log(MIN_FACTOR_CHANGE):
            return float(np.exp(x))


def _changed(stats_b: Any, stats_a: Any, min_change: float) -> str | None:
    from nwb_dicpop.validation import KEY_STATISTICS

    if stats_b["firing_class"] != stats_a["firing_class"]:
        return "class-changing"
    for key in KEY_STATISTICS[str(stats_b["firing_class"])]:
        b, a = float(stats_b[key]), float(stats_a[key])
        if np.isfinite(a) and np.isfinite(b) and b > 0 and abs(a / b - 1.0) >= min_change:
            return "rate-only"
    return None


def generate_scenarios(
    model: str | NeuronModel,
    n_scenarios: int,
    *,
    class_changing_fraction: float = 0.5,
    sizes: tuple[int, ...] = (1, 2),
    min_change: float = 0.1,
    min_spikes: int = 5,
    batch_size: int = 32,
    max_batches: int = 200,
    rng: int | np.random.Generator | None = None,
) -> list[Scenario]:
    """Known neuromodulations of random neurons, simulated before and after.

    Parameters
    ----------
    model : str or NeuronModel
        A model with a training protocol (its transient and recorded window are used).
    n_scenarios : int
        Scenarios returned.
    class_changing_fraction : float
        Share of class-changing scenarios (the rest are rate-only); the generator draws until
        both quotas are met, in the order drawn.
    sizes : tuple of int
        Numbers of conductances changed, drawn with equal probability (1, 2 or both).
    min_change : float
        Smallest relative change of the key statistic of a rate-only scenario.
    min_spikes : int
        Fewest spikes in each train.
    batch_size : int
        Candidates simulated per Brian2 call.
    max_batches : int
        Give up (RuntimeError) after this many batches.
    rng : None, int or numpy.random.Generator
        Same seed, same scenarios.

    Returns
    -------
    list of Scenario
        The subsets are drawn uniformly among the model's single conductances and pairs
        (leak excluded), each size in ``sizes`` equally often; factors log-uniformly in
        ``FACTOR_RANGE`` within the model's ``modulation_limits``, at least a 25 % change.
    """
    from nwb_dicpop import compute_spike_statistics, generate_population
    from nwb_dicpop._solver import dics_at
    from nwb_dicpop.neuromodulation._simulate import simulate_recorded

    spec = get_model(model)
    check_positive("n_scenarios", n_scenarios, integer=True)
    if not 0.0 <= class_changing_fraction <= 1.0:
        msg = f"`class_changing_fraction` must be in [0, 1]; got {class_changing_fraction!r}."
        raise ValueError(msg)
    if spec.training is None:
        msg = f"Model {spec.name!r} has no training protocol (transient, recorded window) to simulate with."
        raise ValueError(msg)
    if not sizes or any(size not in (1, 2) for size in sizes):
        msg = f"`sizes` must hold 1, 2 or both (conductances changed per scenario); got {sizes!r}."
        raise ValueError(msg)
    generator = normalize_rng(rng)
    (s_lo, s_hi), (u_lo, u_hi) = BASE_TARGETS.get(spec.name, (spec.training.g_s_range, spec.training.g_u_range))
    subsets = _subsets(spec)
    singles = [s for s in subsets if len(s) == 1]
    pairs = [s for s in subsets if len(s) == 2]
    quota = {"class-changing": round(n_scenarios * class_changing_fraction)}
    quota["rate-only"] = n_scenarios - quota["class-changing"]
    kernel = kernel_for(spec)
    out: list[Scenario] = []
    for _ in range(max_batches):
        if all(sum(s.kind == k for s in out) >= q for k, q in quota.items()):
            break
        bases, chosen, factors = [], [], []
        for _ in range(batch_size):
            g_s, g_u = generator.uniform(s_lo, s_hi), generator.uniform(u_lo, u_hi)
            try:
                population = generate_population(spec, g_s, g_u, n_models=1, thresholds=False, rng=generator)
            except ValueError:
                continue
            if len(set(sizes)) == 2:
                pool = singles if generator.random() < 0.5 else pairs
            else:
                pool = singles if sizes[0] == 1 else pairs
            subset = pool[generator.integers(len(pool))]
            bases.append(np.array(population.conductances[0]))
            chosen.append(subset)
            factors.append(np.array([_factor(spec, n, generator) for n in subset]))
        if not bases:
            continue
        before = np.array(bases)
        after = before.copy()
        for i, (subset, factor) in enumerate(zip(chosen, factors, strict=True)):
            after[i, [spec.index(n) for n in subset]] *= factor
        result, diverged = simulate_recorded(spec, np.concatenate([before, after]), recorded=spec.training.duration,
                                             transient=spec.training.transient)
        stats = compute_spike_statistics(result)
        n = before.shape[0]
        d_before, d_after = dics_at(kernel, before, spec.threshold), dics_at(kernel, after, spec.threshold)
        for i in range(n):
            times_b, times_a = np.asarray(result.spike_times[i]), np.asarray(result.spike_times[n + i])
            if times_b.size < min_spikes or times_a.size < min_spikes or diverged[i] or diverged[n + i]:
                continue
            kind = _changed(stats.iloc[i], stats.iloc[n + i], min_change)
            if kind is None or sum(s.kind == kind for s in out) >= quota[kind]:
                continue
            out.append(Scenario(
                model_name=spec.name, subset=chosen[i], factors=factors[i], before_conductances=before[i],
                after_conductances=after[i], before_dics=d_before[i], after_dics=d_after[i],
                before_times=times_b, after_times=times_a, duration=float(result.duration),
                before_class=str(stats.iloc[i]["firing_class"]), after_class=str(stats.iloc[n + i]["firing_class"]),
                kind=kind,
            ))
    if len(out) < n_scenarios:
        msg = (
            f"Could not draw {n_scenarios} scenarios of model {spec.name!r} in {max_batches} batches "
            f"({len(out)} found); raise max_batches or lower class_changing_fraction."
        )
        raise RuntimeError(msg)
    return out
