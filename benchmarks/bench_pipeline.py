"""Benchmark: run_pipeline end to end on a demo-like file, serial against 2 Dask workers.

A file of ``--units`` simulated STG units (known conductances, spread over spiking and bursting
targets) is written once. The pipeline (statistics, inference, ``--n-models`` members per unit,
validation by Brian2 simulation, annotated NWB) then runs serially and on a LocalCluster of
two single-threaded workers, in the same run. Peak memory is the largest resident set of this
process and of its children (workers included).

``--split`` profiles the serial run and prints where its time goes: the first simulation
(Brian2 start and the model's compiled code, read from the cache or compiled), simulation,
scoring of the simulated trains (validation), inference, statistics, compensation, reading and
writing the NWB files.  The validation window is each unit's own (the pipeline's default: the
recording plus the model's transient) unless ``--duration`` / ``--transient`` are given.

Run:  python benchmarks/bench_pipeline.py [--units 100] [--n-models 100] [--weights CARD.json] [--split] [--no-dask]
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


# where the serial run's time goes: (label, module, function), by cumulative time of each
# function's outermost calls (nested calls of the same group are not counted twice)
SPLIT = (
    ("simulation (Brian2 runs)", "nwb_dicpop/simulation/__init__.py", "simulate_population"),
    ("validation (scoring trains)", "nwb_dicpop/validation.py", "validate_population"),
    ("inference", "nwb_dicpop/inference/predict.py", "infer_dics"),
    ("spike statistics", "nwb_dicpop/statistics.py", "compute_spike_statistics"),
    ("compensation (populations)", "nwb_dicpop/compensation.py", "generate_unit_populations"),
    ("reading the recording", "nwb_dicpop/pipeline.py", "read_recording"),
    ("writing the annotated NWB", "nwb_dicpop/pipeline.py", "_write"),
)


def split_of(stats) -> dict[str, float]:
    """Cumulative seconds of each SPLIT function in a ``pstats.Stats``, and of the imports done
    during the run (torch, pynwb and the NWB extension, scipy.stats: the start-up cost of a
    fresh process, paid once)."""
    out = {"imports during the run (start)": sum(
        v[3] for (path, _, func), v in stats.stats.items() if func == "_find_and_load" and "importlib" in path)}
    for label, module, name in SPLIT:
        out[label] = sum(v[3] for (path, _, func), v in stats.stats.items()
                         if func == name and path.replace("\\", "/").endswith(module))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--n-models", type=int, default=100)
    parser.add_argument("--duration", type=float, default=None,
                        help="validation simulation: recorded window in s, after --transient (default: the unit's own)")
    parser.add_argument("--transient", type=float, default=None,
                        help="discarded initial time in s (default: the model's)")
    parser.add_argument("--split", action="store_true", help="profile the serial run and print where its time goes")
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
        # the first simulation in a process starts Brian2 and loads (or compiles) the model's code
        start = time.perf_counter()
        ndp.simulate_population(ndp.generate_spiking_population("stg", n_models=1, rng=0), duration=0.01, transient=0.0)
        first_simulation = time.perf_counter() - start
        profile = None
        if args.split:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        start = time.perf_counter()
        serial = ndp.run_pipeline(recording, output=folder / "serial.nwb", **common)
        rows.append(("serial", time.perf_counter() - start, *peak_rss_mb()))
        if profile is not None:
            import pstats

            profile.disable()
            parts = split_of(pstats.Stats(profile))
        if not args.no_dask:
            start = time.perf_counter()
            parallel = ndp.run_pipeline(recording, output=folder / "dask.nwb", scheduler="local", **common)
            rows.append(("2 Dask workers", time.perf_counter() - start, *peak_rss_mb()))
            same = all(
                np.array_equal(a.conductances, b.conductances)
                for a, b in zip(serial.populations, parallel.populations, strict=True)
            )
            print(f"populations identical serial vs Dask: {same}")
        summary = serial.summary
        ok = int((summary["status"] == "ok").sum())
        members = int(summary["n_simulated"].sum())
        windows = sorted(set(zip(summary["window_duration"], summary["window_transient"], strict=True)))
        print(f"\n{args.units} units ({ok} with {args.n_models} valid members), {members} members simulated, "
              f"validation windows (recorded s, transient s): {windows}")
        print(f"first simulation in the process (Brian2 start, model code from the cache): {first_simulation:.1f} s")
        print(f"{'run':<16}{'wall':>10}{'per unit':>11}{'members/s':>11}{'peak RSS self':>15}{'children':>10}")
        for name, wall, own, children in rows:
            print(f"{name:<16}{wall:9.1f}s{wall / args.units:10.2f}s{members / wall:11.1f}{own:13.0f}MB{children:8.0f}MB")
        if profile is not None:
            wall = rows[0][1]
            print("\nwhere the serial run's time goes (profiled, so slower than unprofiled):")
            for label, seconds in parts.items():
                print(f"  {label:<32}{seconds:8.1f} s  {seconds / wall:6.1%}")
            rest = wall - sum(parts.values())
            print(f"  {'other (setup, bookkeeping)':<32}{rest:8.1f} s  {rest / wall:6.1%}")
        if len(rows) == 2:
            print(f"\nspeed-up with 2 workers: {rows[0][1] / rows[1][1]:.2f}x")
        print(f"target: under 120 s serial for 100 units x 100 members (measured {rows[0][1]:.0f} s "
              f"for {args.units} x {args.n_models})")
        print("mean yield (valid / simulated):", round(float(serial.summary["yield"].mean()), 3))


if __name__ == "__main__":
    main()
