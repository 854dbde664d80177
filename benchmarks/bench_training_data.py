"""Benchmark: training-data generation with and without the fixed-point screen of silent members.

Generates the same small training set twice in one process, once simulating every member
(``silent_screen=False``, the baseline) and once labelling the members that the screen finds
surely silent (exactly one fixed point, and it is stable) without simulating them.  It prints
the trains per core-second of both runs (core-seconds: this process's CPU time; the simulation
runs in this process with ``--processes 1``), the speed-up, and how the labels of the two
datasets compare (the screen is correct for a member when the baseline simulation of that
member is silent too).  Brian2's code is compiled once before either run.

Run:  python benchmarks/bench_training_data.py [--model da] [--n-targets 25] [--n-per-target 16] [--seed 21]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import nwb_dicpop as ndp
from nwb_dicpop.inference.data import load_training_data, make_training_data


def generate(model: str, folder: Path, args: argparse.Namespace, screen: bool) -> tuple[float, float, Path]:
    """Wall and CPU seconds of one generation, and its dataset."""
    wall, cpu = time.perf_counter(), time.process_time()
    path = make_training_data(model, folder, n_targets=args.n_targets, n_per_target=args.n_per_target, seed=args.seed,
                              chunk_size=args.chunk_size, silent_screen=screen)
    return time.perf_counter() - wall, time.process_time() - cpu, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="da")
    parser.add_argument("--n-targets", type=int, default=25)
    parser.add_argument("--n-per-target", type=int, default=16)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    spec = ndp.get_model(args.model)
    # compile the model's simulation code and the screen's functions outside the timings
    ndp.simulate_population(ndp.generate_spiking_population(spec, n_models=1, rng=0), duration=0.01, transient=0.0)
    from nwb_dicpop.models.fixed_points import screen_silent

    screen_silent(spec, ndp.generate_spiking_population(spec, n_models=2, rng=0).conductances)
    with tempfile.TemporaryDirectory() as tmp:
        base_wall, base_cpu, base_path = generate(args.model, Path(tmp) / "all", args, screen=False)
        fast_wall, fast_cpu, fast_path = generate(args.model, Path(tmp) / "screened", args, screen=True)
        base, fast = load_training_data(base_path), load_training_data(fast_path)
        with np.load(fast_path) as saved:
            screened = saved["screened_silent"].astype(bool)
        with np.load(base_path) as saved:
            conductances = saved["conductances"]
    n = len(base)
    if len(fast) != n:
        raise SystemExit(f"the two datasets differ in size: {n} and {len(fast)} trains")
    silent = base.labels == 0
    wrong = screened & ~silent
    simulated = ~screened
    same_simulated = all(
        np.array_equal(base.train(i), fast.train(i)) for i in np.flatnonzero(simulated)
    )
    print(f"{args.model.upper()}: {n} trains ({args.n_targets} targets x {args.n_per_target}), "
          f"{silent.sum()} silent ({silent.mean():.1%}) by simulation")
    print(f"every member simulated : {base_wall:7.1f} s wall, {base_cpu:7.1f} core-s, {n / base_cpu:6.2f} trains per core-second")
    print(f"with the silent screen : {fast_wall:7.1f} s wall, {fast_cpu:7.1f} core-s, {n / fast_cpu:6.2f} trains per core-second "
          f"({screened.sum()} members not simulated, {screened.mean():.1%})")
    print(f"speed-up: x{base_cpu / fast_cpu:.2f} in core-seconds, x{base_wall / fast_wall:.2f} in wall time")
    print(f"screen against simulation: precision {1 - wrong.sum() / max(screened.sum(), 1):.4f} "
          f"({wrong.sum()} screened members spike), recall of silent members {(screened & silent).sum() / max(silent.sum(), 1):.4f}")
    print(f"labels equal: {int((base.labels == fast.labels).sum())} of {n}; simulated members' trains identical: {same_simulated}")
    print_rules(spec, conductances, silent)


def print_rules(spec, conductances: np.ndarray, silent: np.ndarray) -> None:
    """Precision and recall of candidate screening rules against the baseline's simulation."""
    from nwb_dicpop.models.fixed_points import find_fixed_points

    points = find_fixed_points(spec, conductances)
    slowest = np.nanmax(np.where(np.isfinite(points.max_real_eigenvalue), points.max_real_eigenvalue, -np.inf), axis=1)
    one_stable = (points.n_fixed_points == 1) & (points.n_stable == 1)
    settle = spec.training.transient * 1000.0 / 3.0
    rules = {
        "exactly one fixed point, stable": one_stable,
        f"same, attracting within {settle:.0f} ms (used)": one_stable & (slowest * settle <= -1.0),
        "any stable fixed point": points.n_stable >= 1,
    }
    print(f"\n{'rule':<44}{'flagged':>9}{'share':>8}{'precision':>11}{'spiking':>9}{'recall':>8}")
    for name, flag in rules.items():
        hit = int((flag & silent).sum())
        print(f"{name:<44}{int(flag.sum()):9d}{flag.mean():8.1%}{hit / max(int(flag.sum()), 1):11.4f}"
              f"{int(flag.sum()) - hit:9d}{hit / max(int(silent.sum()), 1):8.3f}")
    if (one_stable & ~silent).any():
        times = -1.0 / slowest[one_stable & ~silent]
        print("relaxation times (ms) of flagged members that spike:", np.round(np.sort(times), 0).tolist())
    quiet = one_stable & silent
    if quiet.any():
        print(f"slowest relaxation of a flagged silent member: {float(np.max(-1.0 / slowest[quiet])):.0f} ms")


if __name__ == "__main__":
    main()
