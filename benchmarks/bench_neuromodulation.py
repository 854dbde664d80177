"""Benchmark: ground-truth neuromodulations, ranked from the spike times alone.

For each model, :func:`nwb_dicpop.neuromodulation.generate_scenarios` draws neurons, scales one
or two conductances by known factors (half class-changing, half rate-only scenarios) and
simulates both states with Brian2.  :func:`nwb_dicpop.analyze_neuromodulation` then ranks the
candidate subsets from the two spike trains.  Printed per model:

* scenarios called detectable (and those where a change is detected at all);
* among the detectable ones, how often the true subset ranks first, alone or in a first-rank
  tie of at most 3 subsets, and the chance level of that (a first rank of the same size drawn
  at random among the candidates);
* of the scenarios whose true (g_s, g_u) shift exceeds 1.0, how many are called detectable;
* the same per kind of scenario, and the time of generation and analysis.

``--oracle`` also runs the analysis on the true DICs (as estimates with standard deviation
``--oracle-std``, no simulation): the ceiling of any ranking that reads only (g_s, g_u).  The
"identifiable" line then repeats the figures on the scenarios whose true subset that oracle
ranks first (alone or in a tie of at most 3).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_neuromodulation.py --model stg da --n-scenarios 30
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TIE = 3


def _estimate(model: str, dics: np.ndarray, std: float) -> Any:
    from nwb_dicpop.containers import DICEstimate

    return DICEstimate(
        unit_ids=(0,), model_name=model, threshold=np.nan, g_s=[dics[1]], g_u=[dics[2]], g_s_std=[std],
        g_u_std=[std], network_class=("unknown",), out_of_distribution=[False], status=("ok",),
        network_version="true DICs", g_f=[np.nan],
    )


def _score(result: Any, scenario: Any) -> dict[str, Any]:
    ranking = result.ranking
    first = list(ranking.loc[ranking["rank"] == 1, "subset"]) if result.detectable else []
    n_candidates = len(ranking)
    hit = scenario.subset_name in first and len(first) <= MAX_TIE
    true_row = ranking.index[ranking["subset"] == scenario.subset_name]
    return {
        "true": scenario.subset_name,
        "kind": scenario.kind,
        "classes": f"{scenario.before_class}->{scenario.after_class}",
        "shift": scenario.shift,
        "change_detected": bool(result.change_detected),
        "detectable": bool(result.detectable),
        "first": first,
        "hit": bool(hit),
        "chance": len(first) / n_candidates if 0 < len(first) <= MAX_TIE else 0.0,
        "true_position": int(true_row[0]) + 1 if len(true_row) else None,
        "n_candidates": n_candidates,
    }


def _summary(label: str, records: list[dict[str, Any]]) -> str:
    n = len(records)
    detectable = [r for r in records if r["detectable"]]
    changed = sum(r["change_detected"] for r in records)
    hits = sum(r["hit"] for r in detectable)
    chance = float(np.mean([r["chance"] for r in detectable])) if detectable else float("nan")
    large = [r for r in records if r["shift"] > 1.0]
    large_detected = sum(r["detectable"] for r in large)
    share = f"{hits / len(detectable):.0%}, chance {chance:.1%}" if detectable else "-"
    return (
        f"  {label:<16} n={n:3d}  change detected {changed:3d}  detectable {len(detectable):3d}  "
        f"true first {hits:3d}/{len(detectable):<3d} ({share})  "
        f"shift>1 detectable {large_detected}/{len(large)}"
    )


def run_model(model: str, args: argparse.Namespace, out: Any) -> None:
    import nwb_dicpop as ndp
    from nwb_dicpop.neuromodulation import generate_scenarios

    start = time.perf_counter()
    scenarios = generate_scenarios(model, args.n_scenarios, rng=args.seed)
    generation = time.perf_counter() - start
    print(f"{model}: {len(scenarios)} scenarios generated in {generation:.1f} s "
          f"({sum(s.kind == 'class-changing' for s in scenarios)} class-changing)", flush=True)
    records, oracle = [], []
    start = time.perf_counter()
    for i, scenario in enumerate(scenarios):
        t0 = time.perf_counter()
        result = ndp.analyze_neuromodulation(
            scenario.before, scenario.after, model=model, n_models=args.n_models, validate=not args.no_validate,
            n_simulated=args.n_simulated, rng=args.seed * 1000 + i,
        )
        record = _score(result, scenario) | {"model": model, "index": i, "seconds": time.perf_counter() - t0}
        records.append(record)
        if args.verbose:
            print(f"    {i:3d} {record['true']:<9} {record['classes']:<20} shift {record['shift']:5.1f} "
                  f"{'DET' if record['detectable'] else '   '} {'HIT ' if record['hit'] else '    '}"
                  f"first {record['first']} ({record['seconds']:.1f} s)", flush=True)
        if out is not None:
            out.write(json.dumps(record) + "\n")
            out.flush()
    analysis = time.perf_counter() - start
    if args.oracle:
        for i, scenario in enumerate(scenarios):
            result = ndp.analyze_neuromodulation(
                _estimate(model, scenario.before_dics, args.oracle_std), _estimate(model, scenario.after_dics, args.oracle_std),
                model=model, n_models=args.n_models, rng=args.seed * 1000 + i,
            )
            oracle.append(_score(result, scenario) | {"model": model, "index": i, "oracle": True})
            records[i]["identifiable"] = oracle[-1]["hit"]
            if out is not None:
                out.write(json.dumps(oracle[-1]) + "\n")
                out.flush()
    print(f"{model}: analysis of {len(scenarios)} scenarios in {analysis:.1f} s "
          f"({analysis / len(scenarios):.1f} s each, validate={not args.no_validate}, n_models={args.n_models}, "
          f"n_simulated={args.n_simulated}); total with generation {generation + analysis:.1f} s")
    print(_summary("all", records))
    for kind in ("class-changing", "rate-only"):
        print(_summary(kind, [r for r in records if r["kind"] == kind]))
    print(_summary("single", [r for r in records if "+" not in r["true"]]))
    print(_summary("pair", [r for r in records if "+" in r["true"]]))
    if oracle:
        print(_summary(f"true DICs +-{args.oracle_std:g}", oracle))
        print(_summary("identifiable", [r for r in records if r.get("identifiable")]))
    print(f"  chance of one subset: 1/{records[0]['n_candidates']} = {1 / records[0]['n_candidates']:.1%}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["stg", "da"])
    parser.add_argument("--n-scenarios", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--n-models", type=int, default=100)
    parser.add_argument("--n-simulated", type=int, default=16)
    parser.add_argument("--no-validate", action="store_true", help="rank from the DICs only (no Brian2)")
    parser.add_argument("--oracle", action="store_true", help="also rank from the true DICs")
    parser.add_argument("--oracle-std", type=float, default=0.3)
    parser.add_argument("--output", type=Path, help="write one JSON line per scenario")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.n_scenarios < 1:
        parser.error("--n-scenarios must be >= 1")
    warnings.simplefilter("ignore")
    out = args.output.open("w") if args.output else None
    try:
        for model in args.model:
            run_model(model, args, out)
    finally:
        if out is not None:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
