"""Benchmark: the validation rule at the trains' true DICs, and the yield of validated populations.

Both measurements use the committed test sets (``tests/data/<model>-test-v1.npz``: simulated
trains with their true DICs) and the pipeline's default simulated window (the train's window,
STG 3 s and DA 9 s, after the model's 3 s training transient).

``rule``: 40 tonic and 40 bursting non-silent trains (seed 2024), a population of 10 members at
each train's true DICs, simulated once, every member scored against its train with the strict
(every statistic within 20 %) and the default rule; prints the fraction of members that pass, per
class and weighted by the test set's class mix.  With ``--specificity``, each train is also scored
against the members built for every *other* train (DICs elsewhere in the plane): the fraction of
those a rule accepts, per class of the scored train (a few minutes more).

``yield``: 15 tonic and 15 bursting non-silent trains (seed 13) as units of one recording, through
``run_pipeline`` with its defaults (5 rounds, budget 5 x ``--n-models``, rule "default"): members
drawn from the network's posterior (``sampled``, the default), at its point estimate (``point``),
or at the trains' true DICs without the network (``true``). Prints the yield (valid / simulated,
mean over units and pooled), the units' statuses, members simulated per unit, the spread of the
member targets and the wall time per unit.

Run:  python benchmarks/bench_validation.py rule --model stg [--specificity]
      python benchmarks/bench_validation.py yield --model da --variant sampled --n-models 100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from nwb_dicpop._tasks import (
    PopulationSettings,
    SimulationWindow,
    ValidationBudget,
    batch_tasks,
    run_batch,
    target_estimate,
)
from nwb_dicpop.containers import SpikeTrains
from nwb_dicpop.inference.data import load_training_data
from nwb_dicpop.models import get_model
from nwb_dicpop.pipeline import run_pipeline
from nwb_dicpop.simulation import simulate_population
from nwb_dicpop.validation import validate_population, validation_window

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def choose(data, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` tonic and ``per_class`` bursting non-silent trains, sorted."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in (1, 2):
        eligible = np.flatnonzero((data.labels == label) & (data.n_spikes >= 3))
        chosen += list(rng.choice(eligible, size=min(per_class, eligible.size), replace=False))
    return np.sort(np.array(chosen))


def rule_at_true_dics(model: str, *, specificity: bool = False) -> dict:
    """Fraction of members at the trains' true DICs that pass the strict and the default rule."""
    data = load_training_data(DATA / f"{model}-test-v1.npz")
    chosen = choose(data, 40, 2024)
    ids = [int(i) for i in chosen]
    estimate = target_estimate(model, ids, data.targets[chosen, 0], data.targets[chosen, 1])
    units = [u for u in PopulationSettings(n_models=10, seed=0, thresholds=False).generate(estimate) if u.ok]
    conductances = np.concatenate([u.population.conductances for u in units])
    started = time.perf_counter()
    simulated = simulate_population(conductances, model=model, duration=data.duration,
                                    transient=get_model(model).training.transient, rng=0)
    elapsed = time.perf_counter() - started
    trains = dict(zip(ids, data.trains(chosen), strict=True))
    labels = dict(zip(ids, data.labels[chosen], strict=True))
    passed: dict[str, dict[int, list[float]]] = {"strict": {1: [], 2: []}, "default": {1: [], 2: []}}
    others: dict[str, dict[int, list[float]]] = {"strict": {1: [], 2: []}, "default": {1: [], 2: []}}
    parts = {}
    start = 0
    for unit in units:
        stop = start + unit.population.n_models
        parts[unit.unit_id] = dataclasses.replace(simulated, spike_times=simulated.spike_times[start:stop],
                                                  conductances=simulated.conductances[start:stop])
        start = stop
    for uid, part in parts.items():
        for rule, by_class in passed.items():
            score = validate_population(trains[uid], part, model=model, rule=rule)
            by_class[labels[uid]].append(score.fraction_valid)
            if specificity:
                accepted = [validate_population(trains[uid], other, model=model, rule=rule).fraction_valid
                            for vid, other in parts.items() if vid != uid]
                others[rule][labels[uid]].append(float(np.mean(accepted)))
    mix = {1: int(np.sum(data.labels == 1)), 2: int(np.sum(data.labels == 2))}
    report = {"model": model, "trains": len(units), "members": int(conductances.shape[0]),
              "simulation_s": round(elapsed, 1), "test_set_tonic": mix[1], "test_set_bursting": mix[2]}
    for rule, by_class in passed.items():
        tonic, bursting = float(np.mean(by_class[1])), float(np.mean(by_class[2]))
        report[rule] = {"tonic": round(tonic, 3), "bursting": round(bursting, 3),
                        "test_set_mix": round((mix[1] * tonic + mix[2] * bursting) / (mix[1] + mix[2]), 3)}
        if specificity:
            report[rule]["other_dics_tonic"] = round(float(np.mean(others[rule][1])), 3)
            report[rule]["other_dics_bursting"] = round(float(np.mean(others[rule][2])), 3)
    return report


def validated_yield(model: str, variant: str, n_models: int) -> dict:
    """Yield of validated populations with the pipeline's defaults, per firing class."""
    data = load_training_data(DATA / f"{model}-test-v1.npz")
    chosen = choose(data, 15, 13)
    ids = [int(i) for i in chosen]
    trains = data.trains(chosen)
    labels = dict(zip(ids, data.labels[chosen], strict=True))
    started = time.perf_counter()
    if variant == "true":
        estimate = target_estimate(model, ids, data.targets[chosen, 0], data.targets[chosen, 1])
        window = SimulationWindow(*validation_window(data.duration, model))
        tasks = batch_tasks(estimate, PopulationSettings(n_models=n_models, seed=0), observed=trains,
                            validation=window, budget=ValidationBudget())
        rows = [{"unit_id": o.unit_id, "status": o.status, "n_simulated": o.n_simulated, "n_valid": o.n_valid,
                 "spread_g_s": 0.0, "spread_g_u": 0.0} for task in tasks for o in run_batch(task)]
        network = "none (true DICs)"
    else:
        spikes = SpikeTrains(trains, unit_ids=ids, t_start=0.0, t_stop=data.duration, source=f"{model}-test-v1")
        result = run_pipeline(spikes, model=model, n_models=n_models, write=False, seed=0,
                              uncertainty_scale=0.0 if variant == "point" else 1.0)
        populations = {p.unit_id: p for p in result.populations}
        rows = []
        for record in result.summary.to_dict(orient="records"):
            population = populations.get(record["unit_id"])
            spread = np.std(population.targets, axis=0) if population is not None else (np.nan, np.nan)
            rows.append({**{k: record[k] for k in ("unit_id", "status", "n_simulated", "n_valid")},
                         "spread_g_s": float(spread[0]), "spread_g_u": float(spread[1])})
        network = result.dics.network_version
    elapsed = time.perf_counter() - started
    report = {"model": model, "variant": variant, "n_models": n_models, "network": network, "units": len(rows),
              "seconds_per_unit": round(elapsed / len(rows), 2)}
    for label, name in ((None, "all"), (1, "tonic"), (2, "bursting")):
        chosen_rows = [r for r in rows if label is None or labels[r["unit_id"]] == label]
        simulated = sum(r["n_simulated"] for r in chosen_rows)
        statuses: dict[str, int] = {}
        for r in chosen_rows:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        report[name] = {
            "mean_unit_yield": round(float(np.mean([r["n_valid"] / r["n_simulated"] for r in chosen_rows
                                                    if r["n_simulated"]])), 3),
            "pooled_yield": round(sum(r["n_valid"] for r in chosen_rows) / simulated, 3) if simulated else None,
            "statuses": statuses,
            "simulated_per_unit": round(simulated / max(len(chosen_rows), 1), 1),
            "spread_g_s": round(float(np.nanmean([r["spread_g_s"] for r in chosen_rows])), 3),
            "spread_g_u": round(float(np.nanmean([r["spread_g_u"] for r in chosen_rows])), 3),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["rule", "yield"])
    parser.add_argument("--model", choices=["stg", "da"], required=True)
    parser.add_argument("--variant", choices=["sampled", "point", "true"], default="sampled")
    parser.add_argument("--n-models", type=int, default=100)
    parser.add_argument("--specificity", action="store_true", help="rule: also score the other trains' members")
    args = parser.parse_args()
    if args.what == "rule":
        report = rule_at_true_dics(args.model, specificity=args.specificity)
    else:
        report = validated_yield(args.model, args.variant, args.n_models)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
