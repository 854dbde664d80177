"""Benchmark: run_pipeline end to end on a demo-like file, serial against 2 Dask workers.

A file of ``--units`` simulated STG units (known conductances, spread over spiking and bursting
targets) is written once. The pipeline (statistics, inference, ``--n-models`` members per unit,
validation by Brian2 simulation, annotated NWB) then runs serially and on a LocalCluster of
two single-threaded workers, in the same run. Peak memory is the largest resident set of this
process and of its children (workers included).

Run:  python benchmarks/bench_pipeline.py [--units 100] [--n-models 100] [--weights CARD.json]
Issue 6 target: under 2 minutes serial for 100 units x 100 members with validation.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

import nwb_dicpop as ndp
from nwb_dicpop.testing import write_mock_nwb


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def make_recording(folder: Path, n_units: int, seed: int) -> Path:
    """``n_units`` STG units simulated at targets spread over the (g_s, g_u) box (3 s recorded)."""
    rng = np.random.default_rng(seed)
    g_s = rng.uniform(-15, 10, n_units)
    g_u = rng.uniform(3, 12, n_units)
    pops = ndp.generate_populations("stg", g_s, g_u, n_models=1, rng=seed, thresholds=False)
    conductances = np.concatenate([p.conductances for p in pops])
    sim = ndp.simulate_population(conductances, model="stg", duration=3.0, transient=3.0)
    return write_mock_nwb(folder / "bench.nwb", list(sim.spike_times), duration=3.0, epochs={})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--n-models", type=int, default=100)
    parser.add_argument("--duration", type=float, default=2.0,
                        help="validation simulation: recorded window in s, after --transient (default 2)")
    parser.add_argument("--transient", type=float, default=2.0, help="discarded initial time in s (default 2)")
    parser.add_argument("--weights", help="network card; default the shipped STG weights")
    parser.add_argument("--no-dask", action="store_true", help="serial run only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        recording = make_recording(folder, args.units, seed=0)
        print(f"recording of {args.units} simulated units written in {time.perf_counter() - start:.1f} s")
        common = {"model": "stg", "n_models": args.n_models, "duration": args.duration, "transient": args.transient,
                  "weights": args.weights, "overwrite": True, "seed": 0}
        rows = []
        start = time.perf_counter()
        serial = ndp.run_pipeline(recording, output=folder / "serial.nwb", **common)
        rows.append(("serial", time.perf_counter() - start, *peak_rss_mb()))
        if not args.no_dask:
            start = time.perf_counter()
            parallel = ndp.run_pipeline(recording, output=folder / "dask.nwb", scheduler="local", **common)
            rows.append(("2 Dask workers", time.perf_counter() - start, *peak_rss_mb()))
            same = all(
                np.array_equal(a.conductances, b.conductances)
                for a, b in zip(serial.populations, parallel.populations, strict=True)
            )
            print(f"populations identical serial vs Dask: {same}")
        ok = int((serial.summary["status"] == "ok").sum())
        members = ok * args.n_models
        print(f"\n{args.units} units ({ok} with a population), {args.n_models} members each, validation "
              f"{args.duration - args.transient:g} s recorded after {args.transient:g} s transient")
        print(f"{'run':<16}{'wall':>10}{'per unit':>11}{'members/s':>11}{'peak RSS self':>15}{'children':>10}")
        for name, wall, own, children in rows:
            print(f"{name:<16}{wall:9.1f}s{wall / args.units:10.2f}s{members / wall:11.1f}{own:13.0f}MB{children:8.0f}MB")
        if len(rows) == 2:
            print(f"\nspeed-up with 2 workers: {rows[0][1] / rows[1][1]:.2f}x")
        print(f"target: under 120 s serial for 100 units x 100 members (measured {rows[0][1]:.0f} s "
              f"for {args.units} x {args.n_models})")
        print("mean valid fraction:", round(float(serial.summary["valid_fraction"].mean()), 3))


if __name__ == "__main__":
    main()
