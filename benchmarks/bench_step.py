"""Benchmark: accuracy and cost of the integration step, against the BDF reference.

For ``--model``, the example neurons and ``--n-members`` random members (one per population at
random spiking and bursting targets, as in the slow fidelity test) are integrated once with
scipy's BDF at rtol 1e-6 (the reference, in ``--workers`` processes), then simulated with
Brian2 at every ``--step`` (``METHOD@DT``, DT in seconds).  Each member's firing class and key
statistics (tonic frequency; spikes per burst and burst frequency) are compared with the
reference as in ``tests/test_simulation.py``: the fidelity test asks for the same class in at
least 97 % of members and every statistic within 2 % in at least 95 %.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_step.py --model stg --n-members 30 \\
        --step rush_larsen2@2.5e-5 --step rush_larsen2@5e-5 --step rush_larsen2@1e-4

The simulations of each step run twice, alternately with the other steps, and the faster of
the two is printed, so that the ratios compare like with like on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import nwb_dicpop as ndp
from nwb_dicpop.simulation import _engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fidelity import EXAMPLE_NEURONS, compare_trains, random_members, reference_trains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stg", choices=("stg", "da"))
    parser.add_argument("--n-members", type=int, default=30)
    parser.add_argument("--duration", type=float, default=None, help="recorded s (default: the training window)")
    parser.add_argument("--transient", type=float, default=None, help="discarded s (default: the model's)")
    parser.add_argument("--step", action="append", required=True, help="METHOD@DT, e.g. rush_larsen2@1e-4")
    parser.add_argument("--workers", type=int, default=1, help="processes for the BDF reference")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    training = ndp.get_model(args.model).training
    duration = training.duration if args.duration is None else args.duration
    transient = training.transient if args.transient is None else args.transient
    examples = [np.array(g) for m, g in EXAMPLE_NEURONS.values() if m == args.model]
    members = np.concatenate([examples, random_members(args.model, args.n_members, seed=args.seed)])
    start = time.perf_counter()
    reference = reference_trains(args.model, members, duration=duration, transient=transient, n_workers=args.workers)
    print(f"{args.model.upper()}: {members.shape[0]} members ({len(examples)} examples), {duration:g} s recorded "
          f"after {transient:g} s; BDF reference (rtol 1e-6) in {time.perf_counter() - start:.0f} s")
    steps = [(text.split("@")[0], float(text.split("@")[1])) for text in args.step]
    # let every step through the input check: this benchmark measures what larger steps cost
    _engine.MAX_DT = max(_engine.MAX_DT, *(dt for _, dt in steps))
    for method, dt in steps:  # compile (or load) each step's code before timing
        ndp.simulate_population(members[:2], model=args.model, duration=0.01, transient=0.0, method=method, dt=dt)
    walls: dict[tuple[str, float], list[float]] = {step: [] for step in steps}
    trains = {}
    for _ in range(2):
        for method, dt in steps:
            start = time.perf_counter()
            result = ndp.simulate_population(members, model=args.model, duration=duration, transient=transient,
                                             method=method, dt=dt)
            walls[(method, dt)].append(time.perf_counter() - start)
            trains[(method, dt)] = list(result.spike_times)
    print(f"{'method':<14}{'dt (ms)':>8}{'wall (s)':>10}{'same class':>12}{'within 2 %':>12}{'median error':>14}"
          f"{'worst error':>13}{'examples':>20}")
    for method, dt in steps:
        report = compare_trains(reference, trains[(method, dt)], duration=duration)
        errors = report["max_error"].to_numpy()
        finite = errors[np.isfinite(errors)]
        examples_text = "/".join(f"{e:.4f}" for e in errors[: len(examples)])
        print(f"{method:<14}{dt * 1e3:8.3f}{min(walls[(method, dt)]):10.2f}{report['same_class'].mean():12.3f}"
              f"{(errors <= 0.02).mean():12.3f}{np.median(finite):14.4f}{finite.max():13.4f}{examples_text:>20}")


if __name__ == "__main__":
    main()
