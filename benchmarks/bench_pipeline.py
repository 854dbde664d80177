"""Benchmark: run_pipeline end to end on a demo-like file; serial, on 2 Dask workers, or as the
command line a user runs.

A file of ``--units`` simulated units of ``--model`` (known conductances, spread over spiking and
bursting targets) is written once.  The pipeline (statistics, inference, ``--n-models`` members
per unit, validated by Brian2 simulation, annotated NWB) then runs:

* by default, serially and on a LocalCluster of two single-threaded workers, in the same run;
* with ``--cli``, as ``nwb-dicpop run REC -o OUT --model M --n-models N --workers W`` in a fresh
  process (start-up, Dask cluster, compile or cache load, inference, simulation, validation and
  writing all included), for each ``--workers`` value given.  ``--baseline-ref REF`` runs the
  same command with the package as it was at git revision ``REF`` (extracted with ``git
  archive`` into a temporary folder, same environment), in the same run, and prints the ratio.
  ``--cold-cache`` gives every command an empty compiled-code cache, so that the compile is
  included as on a first run.

Peak memory is the largest resident set of this process and of its children (workers
included).

``--split`` profiles the serial run and prints where its time goes: the first simulation
(Brian2 start and the model's compiled code, read from the cache or compiled), simulation,
scoring of the simulated trains (validation), inference, statistics, compensation, reading and
writing the NWB files.  The validation window is each unit's own (the pipeline's default: the
recording plus the model's transient) unless ``--duration`` / ``--transient`` are given.

Run:  python benchmarks/bench_pipeline.py [--units 100] [--n-models 100] [--model stg] [--split] [--no-dask]
      python benchmarks/bench_pipeline.py --cli --workers 2 [--workers 1] [--baseline-ref c896f85] [--cold-cache]
Target: 100 STG units x 100 valid members from the command line in at most 90 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

import nwb_dicpop as ndp
from nwb_dicpop.testing import write_mock_nwb


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


TARGETS = {"stg": ((-15.0, 10.0), (3.0, 12.0)), "da": ((-8.0, 12.0), (0.5, 10.0))}
"""``(g_s, g_u)`` ranges of the recorded units' targets: spiking and bursting."""


def make_recording(folder: Path, n_units: int, seed: int, model: str = "stg") -> Path:
    """``n_units`` units simulated at targets spread over the (g_s, g_u) box; the recorded window
    is the model's training window (3 s STG, 9 s DA), after its transient."""
    rng = np.random.default_rng(seed)
    (s_low, s_high), (u_low, u_high) = TARGETS[model]
    g_s = rng.uniform(s_low, s_high, n_units)
    g_u = rng.uniform(u_low, u_high, n_units)
    pops = ndp.generate_populations(model, g_s, g_u, n_models=1, rng=seed, thresholds=False)
    conductances = np.concatenate([p.conductances for p in pops])
    training = ndp.get_model(model).training
    sim = ndp.simulate_population(conductances, model=model, duration=training.duration, transient=training.transient)
    return write_mock_nwb(folder / "bench.nwb", list(sim.spike_times), duration=training.duration, epochs={})


def extract_revision(ref: str, folder: Path) -> Path:
    """The repository's files at git revision ``ref`` (``git archive``), in ``folder``."""
    root = Path(__file__).resolve().parents[1]
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_cli(recording: Path, output: Path, *, model: str, n_models: int, workers: int, source: Path | None,
            cache: Path | None) -> tuple[float, list[dict]]:
    """Wall time of ``nwb-dicpop run`` in a fresh process, and its per-unit summary (``--json``).

    ``source``: a folder holding another version of the package (put first on ``PYTHONPATH``);
    ``cache``: an empty compiled-code cache folder (``NWB_DICPOP_CACHE_DIR``), or None for the
    user's cache."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if cache is not None:
        env["NWB_DICPOP_CACHE_DIR"] = str(cache)
    command = [sys.executable, "-c", "import sys; from nwb_dicpop.cli import main; sys.exit(main())", "run",
               str(recording), "-o", str(output), "--model", model, "--n-models", str(n_models),
               "--workers", str(workers), "--overwrite", "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, cwd=recording.parent)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nwb-dicpop run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    payload = json.loads(done.stdout)
    return wall, payload["result"] if isinstance(payload, dict) and "result" in payload else payload


def cli_main(args: argparse.Namespace) -> None:
    """``--cli``: the command line as a user runs it, new code against ``--baseline-ref``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        recording = make_recording(folder, args.units, seed=0, model=args.model)
        print(f"recording of {args.units} simulated {args.model.upper()} units written in "
              f"{time.perf_counter() - start:.1f} s")
        versions = [("this checkout", None)]
        if args.baseline_ref:
            versions.insert(0, (f"at {args.baseline_ref}", extract_revision(args.baseline_ref, folder / "baseline")))
        rows = []
        for workers in args.workers or [2]:
            for k, (name, source) in enumerate(versions):
                cache = folder / f"cache-{workers}-{k}" if args.cold_cache else None
                wall, units = run_cli(recording, folder / f"out-{workers}-{k}.nwb", model=args.model,
                                      n_models=args.n_models, workers=workers, source=source, cache=cache)
                simulated = sum(int(u.get("n_simulated", 0) or 0) for u in units)
                complete = sum(u.get("status") == "ok" for u in units)
                statuses = dict(Counter(str(u.get("status")) for u in units))
                rows.append((name, workers, wall, simulated, complete, len(units)))
                print(f"  {name:<22} --workers {workers}: {wall:7.1f} s, {complete} of {len(units)} units with "
                      f"{args.n_models} valid members, {simulated} members simulated; statuses {statuses}",
                      flush=True)
        print(f"\n{'package':<22}{'workers':>8}{'wall':>10}{'members':>9}{'units ok':>10}")
        for name, workers, wall, simulated, complete, n in rows:
            print(f"{name:<22}{workers:>8}{wall:9.1f}s{simulated:>9}{complete:>6}/{n}")
        if args.baseline_ref:
            for workers in args.workers or [2]:
                old, new = (r[2] for r in rows if r[1] == workers)
                print(f"--workers {workers}: {old:.1f} s at {args.baseline_ref} -> {new:.1f} s now: x{old / new:.2f}")
        cache_note = "empty cache (compile included)" if args.cold_cache else "the user's compiled-code cache"
        print(f"({cache_note}; target: 100 STG units x 100 members in at most 90 s with 2 workers)")


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
    parser.add_argument("--model", default="stg", choices=sorted(TARGETS))
    parser.add_argument("--cli", action="store_true", help="time `nwb-dicpop run` in a fresh process")
    parser.add_argument("--workers", type=int, action="append", help="--cli: worker processes (repeatable)")
    parser.add_argument("--baseline-ref", help="--cli: also run the package at this git revision")
    parser.add_argument("--cold-cache", action="store_true", help="--cli: an empty compiled-code cache per run")
    args = parser.parse_args()
    if args.cli:
        cli_main(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        recording = make_recording(folder, args.units, seed=0, model=args.model)
        print(f"recording of {args.units} simulated units written in {time.perf_counter() - start:.1f} s")
        common = {"model": args.model, "n_models": args.n_models, "duration": args.duration, "transient": args.transient,
                  "weights": args.weights, "overwrite": True, "seed": 0}
        rows = []
        # the first simulation in a process starts Brian2 and loads (or compiles) the model's code
        start = time.perf_counter()
        ndp.simulate_population(ndp.generate_spiking_population(args.model, n_models=1, rng=0), duration=0.01,
                                transient=0.0)
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
        print("target: 100 STG units x 100 members in at most 90 s from the command line with 2 workers "
              "(measured by --cli)")
        print("mean yield (valid / simulated):", round(float(serial.summary["yield"].mean()), 3))


if __name__ == "__main__":
    main()
