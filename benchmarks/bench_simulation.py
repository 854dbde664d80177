"""Simulation throughput against one-neuron-at-a-time scipy BDF, and statistics cost.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_simulation.py            # 1,000 members per model
    OMP_NUM_THREADS=1 python benchmarks/bench_simulation.py --n-members 200 --n-bdf 3   # quick

For each model, ``--n-members`` conductance sets are drawn from degenerate populations at
random targets of the training-data plane (spiking and bursting targets, the ranges of
``tests/fidelity.py``).  They are simulated for ``--transient`` plus ``--duration`` seconds
(``--duration`` is the recorded window, after the discarded transient) with
:func:`nwb_dicpop.simulate_population` (default method and step of the model, Brian2 cython
target, compile time excluded and reported apart), and ``--n-bdf`` of them one at a time with
scipy ``solve_ivp`` BDF as the original study did (same machine, same run), with both of its
settings:

* *generator*: rtol 1e-2, atol 1e-4, no Jacobian, samples on the model's noise grid
  (``simulation.noise_dt``: 0.1 ms for STG, 0.05 ms for DA; the dataset generator that
  produced the training data);
* *Spike2Pop*: rtol 1e-3, atol 1e-6, samples every 0.05 ms, analytical Jacobian for STG only.

The BDF time per neuron is extrapolated to the whole set.  Throughput is in simulated
neuron-seconds (transient included) per wall-clock second; the printed ratio is Brian2 / BDF
(target >= 200).
The 2 % fidelity of the same settings is checked by ``tests/test_simulation.py``
(``pytest -m slow -k fidelity``).

Then ``--n-trains`` spike trains (the simulated ones, repeated) go through
:func:`nwb_dicpop.compute_spike_statistics`, timed and with peak memory (tracemalloc),
against Elephant's ``cv``/``cv2``/``lv`` on Quantity ISIs per train (timed on a subset and
extrapolated).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import nwb_dicpop as ndp
from nwb_dicpop.models.dynamics import solve_reference

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fidelity import TARGET_LIMITS


def draw_members(model: str, n: int, rng: np.random.Generator) -> np.ndarray:
    rows: list[np.ndarray] = []
    while sum(r.shape[0] for r in rows) < n:
        g_s, g_u = rng.uniform(*TARGET_LIMITS[model][0]), rng.uniform(*TARGET_LIMITS[model][1])
        try:
            population = ndp.generate_population(model, g_s, g_u, n_models=16, thresholds=False, rng=rng)
        except ValueError:
            continue
        rows.append(population.conductances)
    return np.concatenate(rows)[:n]


def time_bdf(model: str, conductances: np.ndarray, duration: float, transient: float) -> dict[str, float]:
    """BDF seconds per neuron for ``transient + duration`` simulated seconds, per setting."""
    settings = {
        "generator": {"rtol": 1e-2, "atol": 1e-4, "use_jacobian": False,
                      "sample_dt": ndp.get_model(model).simulation.noise_dt},
        "spike2pop": {"rtol": 1e-3, "atol": 1e-6, "use_jacobian": model == "stg", "sample_dt": 5e-5},
    }
    out = {}
    for name, kwargs in settings.items():
        # warm-up: the right-hand side and Jacobian are compiled (sympy lambdify) on first use
        solve_reference(model, conductances[0], duration=0.01, transient=0.0, **kwargs)
        start = time.perf_counter()
        for row in conductances:
            # solve_reference takes the total simulated time, transient included
            solve_reference(model, row, duration=transient + duration, transient=transient, **kwargs)
        out[name] = (time.perf_counter() - start) / conductances.shape[0]
    return out


def bench_model(model: str, args: argparse.Namespace, rng: np.random.Generator) -> list[np.ndarray]:
    members = draw_members(model, args.n_members, rng)
    start = time.perf_counter()
    ndp.simulate_population(members[:2], model=model, duration=0.01, transient=0.0)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    result = ndp.simulate_population(members, model=model, duration=args.duration, transient=args.transient)
    wall = time.perf_counter() - start
    counts = np.array([t.size for t in result.spike_times])
    stats = ndp.compute_spike_statistics(result)
    classes = stats["firing_class"].value_counts().to_dict()
    simulated = args.transient + args.duration
    throughput = members.shape[0] * simulated / wall
    print(f"\n== {model.upper()}: {members.shape[0]} members x {simulated:g} s "
          f"({args.duration:g} s recorded after {args.transient:g} s) "
          f"(method {result.method}, dt {result.dt * 1e3:g} ms, target {result.code_target})")
    print(f"   classes {classes}, mean spikes per member {counts.mean():.1f}")
    print(f"   Brian2: {wall:.1f} s wall (+{warm:.1f} s start-up/compile) -> {throughput:.1f} neuron-s/s")
    bdf_rows = members[rng.choice(members.shape[0], args.n_bdf, replace=False)]
    per_neuron = time_bdf(model, bdf_rows, args.duration, args.transient)
    for name, seconds in per_neuron.items():
        bdf_throughput = simulated / seconds
        print(f"   BDF {name:9s}: {seconds:.2f} s per neuron ({args.n_bdf} timed, extrapolated "
              f"{seconds * members.shape[0]:.0f} s) -> {bdf_throughput:.2f} neuron-s/s; "
              f"ratio {throughput / bdf_throughput:.0f}x")
    return list(result.spike_times)


def bench_statistics(trains: list[np.ndarray], n_trains: int) -> None:
    import elephant.statistics as es
    import quantities as pq

    repeated = [trains[k % len(trains)] for k in range(n_trains)]
    tracemalloc.start()
    start = time.perf_counter()
    frame = ndp.compute_spike_statistics(repeated)
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    subset = [t for t in repeated[:500] if t.size >= 3]
    start = time.perf_counter()
    for train in subset:
        intervals = np.diff(train) * pq.s
        es.cv(intervals)
        es.cv2(intervals)
        es.lv(intervals)
    elephant = (time.perf_counter() - start) / max(len(subset), 1) * n_trains
    print(f"\n== statistics of {n_trains} trains ({int(frame['n_spikes'].sum())} spikes)")
    print(f"   compute_spike_statistics: {wall:.2f} s, peak memory {peak / 2**20:.1f} MiB")
    print(f"   Elephant cv+cv2+lv only (extrapolated from {len(subset)}): {elephant:.2f} s "
          f"-> ratio {elephant / wall:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-members", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=2.0, help="recorded window in s (default 2)")
    parser.add_argument("--transient", type=float, default=2.0, help="discarded initial time in s (default 2)")
    parser.add_argument("--n-bdf", type=int, default=8)
    parser.add_argument("--n-trains", type=int, default=10_000)
    parser.add_argument("--models", default="stg,da")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    trains: list[np.ndarray] = []
    for model in args.models.split(","):
        trains += bench_model(model, args, rng)
    bench_statistics(trains, args.n_trains)


if __name__ == "__main__":
    main()
