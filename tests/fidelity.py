"""Compare the Brian2 simulator with the scipy BDF reference (tests and benchmarks).

Test helpers used by ``tests/test_simulation.py`` (and importable by the benchmarks with the
``tests`` folder on ``sys.path``): reference spike trains from
:func:`~nwb_dicpop.models.dynamics.solve_reference` (optionally in worker processes) and a
per-member comparison of the firing statistics that matter for the science: firing class,
tonic spiking frequency, spikes per burst and burst frequency.  Times follow the simulator:
``duration`` is the recorded window, after ``transient`` discarded seconds.  The models'
training-data protocols are their declarations' ``training`` settings.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop.models.dynamics import solve_reference
from nwb_dicpop.statistics import compute_spike_statistics

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EXAMPLE_NEURONS",
    "FIDELITY_METRICS",
    "TARGET_LIMITS",
    "compare_trains",
    "random_members",
    "reference_trains",
]

EXAMPLE_NEURONS = {
    "stg_spiking": ("stg", (6600.82, 125.961, 4.14918, 18.3416, 159.678, 413.833, 0.321589, 0.00957712)),
    "stg_bursting": ("stg", (2817.51, 145.853, 8.42704, 14.5819, 106.575, 151.625, 0.367656, 0.00947268)),
    "da_spiking": ("da", (34.1176, 13.2287, 0.021568, 0.056028, 0.209517, 0.0115522, 0.0123704)),
    "da_bursting": ("da", (25.1759, 7.03265, 0.112492, 0.0482002, 0.0777861, 0.00848305, 0.00908393)),
}
"""The example neurons of science.md section 15 (conductances in mS/cm^2)."""

FIDELITY_METRICS = {
    "spiking": ("spiking_frequency",),
    "bursting": ("spikes_per_burst", "interburst_frequency"),
    "silent": (),
}
"""Statistics compared per firing class (firing rate, spikes per burst, burst frequency)."""


TARGET_LIMITS = {"stg": ((-15.0, 10.0), (1.0, 15.0)), "da": ((-8.0, 12.0), (0.5, 10.0))}
"""``(g_s, g_u)`` ranges of the random targets: both signs of g_s, i.e. spiking and bursting."""


def random_members(model: str, n_members: int, *, seed: int) -> np.ndarray:
    """One member of each of ``n_members`` populations at random targets (shape (n, n_cond))."""
    from nwb_dicpop.compensation import generate_population

    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < n_members:
        g_s = rng.uniform(*TARGET_LIMITS[model][0])
        g_u = rng.uniform(*TARGET_LIMITS[model][1])
        try:
            population = generate_population(
                model, g_s, g_u, n_models=4, thresholds=False, rng=int(rng.integers(1 << 30))
            )
        except ValueError:  # unreachable target
            continue
        rows.append(population.conductances[0])
    return np.array(rows)


def _one(arguments: tuple[Any, ...]) -> np.ndarray:
    model, conductances, duration, transient, rtol, atol = arguments
    # solve_reference takes the total simulated time, transient included
    return solve_reference(
        model, np.asarray(conductances), duration=transient + duration, transient=transient, rtol=rtol, atol=atol
    ).spike_times


def reference_trains(
    model: str,
    conductances: np.ndarray,
    *,
    duration: float,
    transient: float,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    n_workers: int = 1,
) -> list[np.ndarray]:
    """BDF reference spike times (s after the transient) of each conductance set.

    ``duration`` is the recorded window, after ``transient`` simulated and discarded seconds.
    """
    jobs = [(model, row, duration, transient, rtol, atol) for row in np.asarray(conductances)]
    if n_workers <= 1:
        return [_one(job) for job in jobs]
    with ProcessPoolExecutor(n_workers) as pool:
        return list(pool.map(_one, jobs))


def compare_trains(reference: list[np.ndarray], simulated: list[np.ndarray], *, duration: float) -> pd.DataFrame:
    """Per-member comparison: classes, the class's key statistics and their relative errors.

    Returns
    -------
    pandas.DataFrame
        Columns ``reference_class``, ``simulated_class``, ``same_class``, for each metric of
        :data:`FIDELITY_METRICS` ``reference_<m>``, ``simulated_<m>``, ``error_<m>``
        (relative), and ``max_error`` (the largest relative error of the member's class
        metrics; 0 for silent members, inf when the classes differ or a metric is only
        defined in one of the two).
    """
    ref = compute_spike_statistics(list(reference), t_start=0.0, t_stop=duration)
    sim = compute_spike_statistics(list(simulated), t_start=0.0, t_stop=duration)
    frame = ref[["firing_class"]].rename(columns={"firing_class": "reference_class"})
    frame["simulated_class"] = sim["firing_class"].to_numpy()
    frame["same_class"] = frame["reference_class"] == frame["simulated_class"]
    names = sorted({m for metrics in FIDELITY_METRICS.values() for m in metrics})
    for name in names:
        frame[f"reference_{name}"] = ref[name].to_numpy()
        frame[f"simulated_{name}"] = sim[name].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            frame[f"error_{name}"] = np.abs(sim[name].to_numpy() / ref[name].to_numpy() - 1.0)
    worst = []
    for _, row in frame.iterrows():
        if not row["same_class"]:
            worst.append(np.inf)
            continue
        errors = [row[f"error_{m}"] for m in FIDELITY_METRICS[row["reference_class"]]]
        both_nan = [np.isnan(row[f"reference_{m}"]) and np.isnan(row[f"simulated_{m}"])
                    for m in FIDELITY_METRICS[row["reference_class"]]]
        values = [np.inf if (np.isnan(e) and not b) else (0.0 if b else e)
                  for e, b in zip(errors, both_nan, strict=True)]
        worst.append(max(values, default=0.0))
    frame["max_error"] = worst
    return frame
