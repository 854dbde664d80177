"""The ``nwb-dicpop`` command line: a thin shell over the public functions.

Exit codes: 0 success; 1 bad input or a failed computation (one clear message on stderr, no
traceback); 2 command-line usage error (from argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nwb_dicpop._files import write_text_atomic

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

def _parse_set(text: str) -> str | tuple[str, ...]:
    if text in ("rule", "auto"):
        return text
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _emit(args: argparse.Namespace, table: Any, payload: Any, title: str = "") -> None:
    if args.json:
        print(json.dumps(payload, indent=2, default=_json_default))
    elif not args.quiet:
        if title:
            print(title)
        print(table.to_string(index=False) if hasattr(table, "to_string") else table)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _read_args(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of read_spike_trains from the common selection options."""
    kwargs: dict[str, Any] = {}
    if getattr(args, "units", None):
        kwargs["unit_ids"] = [_unit_id(u) for u in args.units.split(",") if u.strip()]
    if getattr(args, "where", None):
        kwargs["where"] = dict(_key_value(item) for item in args.where)
    if getattr(args, "window", None):
        kwargs["window"] = tuple(args.window)
    if getattr(args, "epoch", None):
        kwargs["epoch"] = args.epoch
    if getattr(args, "time_unit", None):
        kwargs["time_unit"] = args.time_unit
    return kwargs


def _unit_id(text: str) -> Any:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        msg = f"--where needs COLUMN=VALUE, e.g. --where quality=good; got {text!r}."
        raise ValueError(msg)
    return key, _unit_id(value)


def _save_table(frame: Any, output: str | None) -> None:
    if not output:
        return
    path = Path(output)
    if not path.parent.exists():
        msg = f"output folder {str(path.parent)!r} does not exist; create it or choose another --output."
        raise ValueError(msg)
    write_text_atomic(path, frame.to_csv(index=False))


def _progress(args: argparse.Namespace) -> Callable[[str, int, int], None] | None:
    if args.quiet or args.json:
        return None

    def report(stage: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(f"\r{stage:>12} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr, flush=True)

    return report


# --------------------------------------------------------------------------- commands
def _cmd_demo(args: argparse.Namespace) -> int:
    from nwb_dicpop.demo import run_demo

    folder = Path(args.output_dir)
    if not args.quiet and not args.json:
        print(f"Simulating demo units and running the pipeline; files go to {folder}/", file=sys.stderr)
    weights = {name: path for name, path in (("stg", args.stg_weights), ("da", args.da_weights)) if path}
    result = run_demo(folder, n_models=args.n_models, validate=args.validate, seed=args.seed,
                      scheduler=args.scheduler, weights=weights or None, progress=_progress(args))
    columns = ["model", "unit_id", "firing_class", "true_g_s", "g_s", "g_s_std", "true_g_u", "g_u", "g_u_std",
               "status", "valid_fraction"]
    table = result.comparison[columns]
    payload = {"comparison": table.to_dict(orient="records"),
               "annotated": {m: str(r.output) for m, r in result.results.items()},
               "figure": str(result.figure) if result.figure else None}
    _emit(args, table.round(2), payload, "Inferred vs true DICs of the simulated demo units")
    if not args.quiet and not args.json:
        for model, res in result.results.items():
            print(f"annotated NWB ({model}): {res.output}")
        if result.figure:
            print(f"summary figure: {result.figure}")
        if result.skipped:
            print(f"skipped (no network weights shipped yet): {', '.join(result.skipped)}")
    return EXIT_OK


def _cmd_dics(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    import nwb_dicpop as ndp

    model = ndp.get_model(args.model)
    values = [float(x) for x in args.conductances.split(",")]
    voltages = np.array(args.voltage if args.voltage else [model.threshold])
    dics = ndp.compute_dics(model, values, voltages)
    table = pd.DataFrame(dics, columns=["g_f", "g_s", "g_u"])
    table.insert(0, "V (mV)", voltages)
    threshold = ndp.find_threshold(model, values)
    payload = {"model": model.name, "rows": table.to_dict(orient="records"), "V_th": float(threshold.voltage)}
    _emit(args, table, payload, f"DICs of model {model.name!r}; own V_th = {float(threshold.voltage):.3f} mV {threshold.reason[0]}")
    return EXIT_OK


def _cmd_populate(args: argparse.Namespace) -> int:
    import nwb_dicpop as ndp

    if args.dics:
        return _populate_from_dics(args)
    if args.g_s is None or args.g_u is None:
        msg = "populate needs either --dics FILE (from nwb-dicpop infer) or both --g-s and --g-u."
        raise ValueError(msg)
    pop = ndp.generate_population(
        args.model, args.g_s, args.g_u, n_models=args.n_models, compensating_set=_parse_set(args.set),
        g_s_std=args.g_s_std, g_u_std=args.g_u_std, rng=args.seed,
    )
    frame = pop.to_dataframe()
    if args.output:
        output = Path(args.output)
        if not output.parent.exists():
            msg = f"output folder {str(output.parent)!r} does not exist; create it or choose another --output."
            raise ValueError(msg)
        write_text_atomic(output, frame.to_csv(index=False))
    payload = {"population": repr(pop), "output": args.output, "n_models": pop.n_models,
               "compensating_set": list(pop.compensating_set), "max_residual": float(pop.residual.max())}
    _emit(args, frame.describe().T[["mean", "std", "min", "max"]], payload, repr(pop))
    return EXIT_OK


def _populate_from_dics(args: argparse.Namespace) -> int:
    import pandas as pd

    import nwb_dicpop as ndp
    from nwb_dicpop.compensation import UnreachableTargetError
    from nwb_dicpop.pipeline import unit_seed

    estimates = pd.read_csv(args.dics)
    missing = {"unit_id", "g_s", "g_u", "g_s_std", "g_u_std", "status"} - set(estimates.columns)
    if missing:
        msg = f"--dics file {args.dics!r} lacks columns {sorted(missing)}; write it with `nwb-dicpop infer -o`."
        raise ValueError(msg)
    frames, rows = [], []
    for record in estimates.to_dict(orient="records"):
        status = str(record["status"])
        if status == "ok":
            try:
                pop = ndp.generate_population(
                    args.model, record["g_s"], record["g_u"], n_models=args.n_models, g_s_std=record["g_s_std"],
                    g_u_std=record["g_u_std"], compensating_set=_parse_set(args.set), unit_id=record["unit_id"],
                    rng=unit_seed(args.seed, record["unit_id"]),
                )
            except UnreachableTargetError as err:
                status = f"unreachable target: {str(err).split(':')[0]}"
            else:
                frame = pop.to_dataframe()
                frame.insert(0, "unit_id", record["unit_id"])
                frames.append(frame)
        rows.append({"unit_id": record["unit_id"], "status": status,
                     "n_models": args.n_models if status == "ok" else 0})
    table = pd.DataFrame(rows)
    if frames:
        _save_table(pd.concat(frames, ignore_index=True), args.output)
    _emit(args, table, table.to_dict(orient="records"), f"Populations of {args.n_models} members per unit")
    return EXIT_OK


def _cmd_reachability(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    import nwb_dicpop as ndp

    pair = _parse_set(args.set)
    reach = ndp.reachability_map(
        args.model, pair, g_s_values=np.arange(args.g_s_min, args.g_s_max + 1e-9, args.step),
        g_u_values=np.arange(args.g_u_min, args.g_u_max + 1e-9, args.step), n_models=args.n_models, rng=args.seed,
    )
    table = pd.DataFrame(reach.fraction, index=reach.g_u_values, columns=reach.g_s_values)
    table.index.name = "g_u \\ g_s"
    payload = {"g_s": reach.g_s_values, "g_u": reach.g_u_values, "fraction": reach.fraction,
               "compensating_set": list(reach.compensating_set)}
    _emit(args, table.round(2).to_string(), payload, f"Reachability of {reach.compensating_set} ({args.model})")
    return EXIT_OK


def _cmd_stats(args: argparse.Namespace) -> int:
    import nwb_dicpop as ndp

    spikes = ndp.read_spike_trains(args.input, **_read_args(args))
    table = ndp.compute_spike_statistics(spikes).reset_index()
    _save_table(table, args.output)
    _emit(args, table.round(4), table.to_dict(orient="records"), f"Spike statistics of {spikes!r}")
    return EXIT_OK


def _cmd_infer(args: argparse.Namespace) -> int:
    import nwb_dicpop as ndp

    spikes = ndp.read_spike_trains(args.input, **_read_args(args))
    dics = ndp.infer_dics(spikes, model=args.model, weights=args.weights)
    table = dics.to_dataframe()
    _save_table(table, args.output)
    _emit(args, table.round(3), table.to_dict(orient="records"), repr(dics))
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    import nwb_dicpop as ndp

    frame = pd.read_csv(args.population)
    model = ndp.get_model(args.model)
    result = ndp.simulate_population(frame, model=model, duration=args.duration, transient=args.transient, dt=args.dt,
                                     noise_sigma=args.noise_sigma, rng=args.seed)
    members = np.arange(result.n_members)
    labels = frame["unit_id"].astype(str).to_numpy() if "unit_id" in frame else None
    unit = [f"{labels[i]}/{i}" if labels is not None else str(i) for i in members]
    spikes = pd.DataFrame(
        {"unit": np.repeat(unit, [t.size for t in result.spike_times]), "time": np.concatenate([*result.spike_times, []])}
    )
    _save_table(spikes, args.output)
    counts = pd.DataFrame({"member": unit, "n_spikes": [t.size for t in result.spike_times]})
    payload = {"result": repr(result), "output": args.output, "n_spikes": counts["n_spikes"].tolist()}
    _emit(args, counts, payload, repr(result))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    import glob

    import pandas as pd


    inputs: list[str] = []
    for pattern in args.inputs:
        matches = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
        if not matches:
            msg = f"no input matches {pattern!r}."
            raise FileNotFoundError(msg)
        inputs.extend(matches)
    if args.output and len(inputs) > 1 and not Path(args.output).is_dir():
        msg = f"with {len(inputs)} inputs, --output must be an existing folder (one output per input); got {args.output!r}."
        raise ValueError(msg)
    from contextlib import nullcontext

    from nwb_dicpop.distributed import open_client

    summaries = []
    cluster = open_client(args.scheduler) if args.scheduler else nullcontext(None)
    with cluster as client:
        for source in inputs:
            summaries.append(_run_one(args, source, client))
    table = pd.concat(summaries, ignore_index=True)
    _emit(args, table.round(3), table.to_dict(orient="records"), "Per-unit summary")
    return EXIT_OK


def _run_one(args: argparse.Namespace, source: str, client: Any) -> Any:
    """The pipeline on one input; returns its summary table with a source column."""
    import nwb_dicpop as ndp

    output = args.output
    if output and Path(output).is_dir():
        output = str(Path(output) / f"{Path(source).stem}_dicpop.nwb")
    result = ndp.run_pipeline(
        source, model=args.model, n_models=args.n_models, output=output, validate=args.validate,
        seed=args.seed, duration=args.duration, transient=args.transient, write=args.write,
        overwrite=args.overwrite, scheduler=client, weights=args.weights,
        uncertainty_scale=args.uncertainty_scale, progress=_progress(args),
        **_read_args(args),
    )
    summary = result.summary.copy()
    summary.insert(0, "source", source)
    if not args.quiet and not args.json:
        print(f"{result!r}", file=sys.stderr)
    return summary


def _cmd_show(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    import nwb_dicpop as ndp

    results = ndp.read_results(args.path)
    rows = []
    if results.dics is not None:
        frame = results.dics.to_dataframe()
        by_unit = {p.unit_id: p for p in results.populations}
        valid = {}
        if results.validation is not None and "valid" in results.validation:
            valid = results.validation.groupby("unit_id")["valid"].mean().to_dict()
        for record in frame.to_dict(orient="records"):
            population = by_unit.get(record["unit_id"])
            record["n_models"] = 0 if population is None else population.n_models
            record["compensating_set"] = "" if population is None else "+".join(population.compensating_set)
            record["valid_fraction"] = valid.get(record["unit_id"], np.nan)
            rows.append(record)
    table = pd.DataFrame(rows)
    payload = {"source": results.source, "units": rows, "provenance": results.provenance}
    title = f"{results!r}\nmodel: {results.dics.model_name if results.dics else '-'}"
    _emit(args, table.round(3) if len(table) else "(no DIC estimates in this file)", payload, title)
    return EXIT_OK


def _cmd_make_training_data(args: argparse.Namespace) -> int:
    from nwb_dicpop.inference.data import make_training_data

    path = make_training_data(
        args.model, args.output_dir, n_targets=args.n_targets, n_per_target=args.n_per_target, seed=args.seed,
        noise_sigma=args.noise_sigma, duration=args.duration, transient=args.transient, dt=args.dt,
        chunk_size=args.chunk_size, n_processes=args.processes, scheduler=args.scheduler, progress=_progress(args),
    )
    payload = {"dataset": str(path), "model": args.model}
    _emit(args, f"dataset: {path}", payload)
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    from nwb_dicpop.inference.training import train

    options = {} if args.max_minutes is None else {"max_minutes": args.max_minutes}
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.learning_rate is not None:
        options["learning_rate"] = args.learning_rate
    card_path = train(
        args.model, list(args.data), args.output, seed=args.seed, epochs=args.epochs, init_weights=args.init_weights,
        n_threads=args.threads, allow_partial=args.allow_partial, n_chunks=args.n_chunks, **options,
    )
    card = json.loads(Path(card_path).read_text())
    payload = {"card": str(card_path), "validation": card["validation"], "training": card["training"]}
    text = (f"weights: {Path(card_path).with_suffix('.pt')}\ncard: {card_path}\n"
            f"validation MAE g_s {card['validation']['mae_g_s']:.3f}, g_u {card['validation']['mae_g_u']:.3f}, "
            f"class accuracy {card['validation']['class_accuracy']:.4f}")
    _emit(args, text, payload)
    return EXIT_OK


def _cmd_evaluate_network(args: argparse.Namespace) -> int:
    import pandas as pd

    from nwb_dicpop.inference.evaluation import evaluate, record_evaluation
    from nwb_dicpop.inference.predict import resolve_weights

    report = evaluate(args.model, list(args.data), weights=args.weights, noisy_data_dir=args.noisy_data or None,
                      end_to_end=args.end_to_end, seed=args.seed)
    import shlex

    report["command"] = shlex.join(["nwb-dicpop", *args.argv])
    if args.record:
        record_evaluation(resolve_weights(args.model, args.weights), args.record, report)
    rows = [{"condition": name, **{k: metrics.get(k) for k in ("n_trains", "mae_g_s", "mae_g_u", "class_accuracy",
                                                                "coverage90_g_s", "coverage90_g_u", "ood_fraction")}}
            for name, metrics in report.items() if isinstance(metrics, dict) and "mae_g_s" in metrics]
    _emit(args, pd.DataFrame(rows).round(4), report, f"Evaluation of {report['network']} ({args.model})")
    return EXIT_OK


def _cmd_model_card(args: argparse.Namespace) -> int:
    from nwb_dicpop.inference.card import render_model_card

    text = render_model_card()
    if args.output:
        write_text_atomic(Path(args.output), text)
    elif not args.quiet:
        print(text, end="")
    return EXIT_OK


# --------------------------------------------------------------------------- parser
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result; default 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nwb-dicpop``."""
    parser = argparse.ArgumentParser(
        prog="nwb-dicpop",
        description="Degenerate populations of conductance-based neuron models from spike times.",
        epilog="Exit codes: 0 success, 1 bad input or failed computation, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="simulate demo units with known DICs, run the pipeline, compare")
    demo.add_argument("--output-dir", default="nwb-dicpop-demo", help="folder for the demo files (default ./nwb-dicpop-demo)")
    demo.add_argument("--n-models", type=int, default=20, help="members per unit population (default 20)")
    demo.add_argument("--validate", action=argparse.BooleanOptionalAction, default=True,
                      help="simulate and score every population (default on)")
    demo.add_argument("--scheduler", help="Dask: 'local' or a scheduler address")
    demo.add_argument("--stg-weights", help=argparse.SUPPRESS)
    demo.add_argument("--da-weights", help=argparse.SUPPRESS)
    _common(demo)
    demo.set_defaults(func=_cmd_demo)

    dics = sub.add_parser("dics", help="DICs of one conductance set at given voltages")
    dics.add_argument("--model", required=True, help="model name: stg or da")
    dics.add_argument("--conductances", required=True, help="comma-separated maximal conductances in mS/cm^2, model order")
    dics.add_argument("--voltage", type=float, action="append", help="voltage in mV (repeatable; default the model's V_th)")
    _common(dics)
    dics.set_defaults(func=_cmd_dics)

    pop = sub.add_parser("populate", help="a degenerate population for a (g_s, g_u) target")
    pop.add_argument("--model", required=True, help="model name: stg or da")
    pop.add_argument("--g-s", type=float, help="target slow DIC at V_th (dimensionless)")
    pop.add_argument("--g-u", type=float, help="target ultraslow DIC at V_th (dimensionless)")
    pop.add_argument("--dics", help="CSV of per-unit estimates from `nwb-dicpop infer -o` (one population per unit)")
    pop.add_argument("--g-s-std", type=float, default=0.0, help="one-sigma uncertainty of g_s (default 0)")
    pop.add_argument("--g-u-std", type=float, default=0.0, help="one-sigma uncertainty of g_u (default 0)")
    pop.add_argument("--n-models", type=int, default=100, help="number of members (default 100)")
    pop.add_argument("--set", default="rule", help="compensating pair: rule, auto or two names, e.g. CaS,H")
    pop.add_argument("-o", "--output", help="CSV file for the population (one row per member)")
    _common(pop)
    pop.set_defaults(func=_cmd_populate)

    reach = sub.add_parser("reachability", help="reachability map of a compensating pair")
    reach.add_argument("--model", required=True, help="model name: stg or da")
    reach.add_argument("--set", required=True, help="compensating pair, e.g. CaS,H")
    reach.add_argument("--g-s-min", type=float, default=-20.0, help="smallest g_s (default -20)")
    reach.add_argument("--g-s-max", type=float, default=20.0, help="largest g_s (default 20)")
    reach.add_argument("--g-u-min", type=float, default=0.0, help="smallest g_u (default 0)")
    reach.add_argument("--g-u-max", type=float, default=20.0, help="largest g_u (default 20)")
    reach.add_argument("--step", type=float, default=2.0, help="grid step (default 2)")
    reach.add_argument("--n-models", type=int, default=50, help="base members per target (default 50)")
    _common(reach)
    reach.set_defaults(func=_cmd_reachability)
    def selection(command: argparse.ArgumentParser) -> None:
        command.add_argument("--units", help="comma-separated unit ids to keep (default all)")
        command.add_argument("--where", action="append", metavar="COLUMN=VALUE",
                             help="keep units whose Units column equals VALUE (repeatable), e.g. quality=good")
        command.add_argument("--window", nargs=2, type=float, metavar=("T_START", "T_STOP"),
                             help="time window in seconds")
        command.add_argument("--epoch", help="named epoch / interval of the NWB file, e.g. baseline")
        command.add_argument("--time-unit", choices=["s", "ms"], help="unit of times in CSV/array inputs")

    run = sub.add_parser("run", help="the whole pipeline: read, infer, populate, validate, write NWB")
    run.add_argument("inputs", nargs="+", help="NWB files, URLs, dandi://DANDISET/VERSION/PATH, Neo files, CSV; globs allowed")
    run.add_argument("-o", "--output", help="annotated NWB file, or a folder (one output per input); default <input>_dicpop.nwb")
    run.add_argument("--model", required=True, help="model name: stg or da")
    run.add_argument("--n-models", type=int, default=100, help="members per unit population (default 100)")
    run.add_argument("--validate", action=argparse.BooleanOptionalAction, default=True,
                     help="simulate every population with Brian2 and score it (default on)")
    run.add_argument("--duration", type=float, default=4.0, help="simulated time per member in s, transient included (default 4)")
    run.add_argument("--transient", type=float, default=2.0, help="discarded initial time in s (default 2)")
    run.add_argument("--write", action=argparse.BooleanOptionalAction, default=True, help="write the annotated NWB file")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    run.add_argument("--scheduler", help="Dask: 'local' for a LocalCluster, or a scheduler address tcp://HOST:PORT")
    run.add_argument("--weights", help="network weights (.json card); default the weights shipped for --model")
    run.add_argument("--uncertainty-scale", type=float, default=1.0,
                     help="member targets drawn from Normal(inferred DICs, scale x inferred std); "
                          "0 puts every member at the point estimate (default 1)")
    selection(run)
    _common(run)
    run.set_defaults(func=_cmd_run)

    stats = sub.add_parser("stats", help="spike statistics per unit (rates, ISI CV, CV2, LV, bursts)")
    stats.add_argument("input", help="NWB file, URL, Neo file or CSV")
    stats.add_argument("-o", "--output", help="CSV file for the table")
    selection(stats)
    _common(stats)
    stats.set_defaults(func=_cmd_stats)

    infer = sub.add_parser("infer", help="infer DICs (g_s, g_u with uncertainty) per unit with the shipped network")
    infer.add_argument("input", help="NWB file, URL, Neo file or CSV")
    infer.add_argument("--model", required=True, help="model name: stg or da")
    infer.add_argument("-o", "--output", help="CSV file for the estimates (input of populate --dics)")
    infer.add_argument("--weights", help="network weights (.json card); default the weights shipped for --model")
    selection(infer)
    _common(infer)
    infer.set_defaults(func=_cmd_infer)

    simulate = sub.add_parser("simulate", help="simulate a population CSV (g_<name> columns) with Brian2")
    simulate.add_argument("population", help="CSV written by populate (one row per member)")
    simulate.add_argument("--model", required=True, help="model name: stg or da")
    simulate.add_argument("--duration", type=float, default=4.0, help="simulated time in s, transient included (default 4)")
    simulate.add_argument("--transient", type=float, default=2.0, help="discarded initial time in s (default 2)")
    simulate.add_argument("--dt", type=float, help="integration step in s (default: the model's)")
    simulate.add_argument("--noise-sigma", type=float, default=0.0, help="current noise sigma in uA/cm^2 (default 0)")
    simulate.add_argument("-o", "--output", help="CSV of spike times (columns unit, time in s), readable by stats/infer")
    _common(simulate)
    simulate.set_defaults(func=_cmd_simulate)

    show = sub.add_parser("show", help="print the per-unit results stored in an annotated NWB file")
    show.add_argument("path", help="an NWB file written by nwb-dicpop (processing/dicpop)")
    _common(show)
    show.set_defaults(func=_cmd_show)

    gen = sub.add_parser("make-training-data", help="simulate a training set for the DIC network (resumable chunks)")
    gen.add_argument("--model", required=True, help="model name: stg or da")
    gen.add_argument("-o", "--output-dir", required=True, help="dataset folder (rerun the same command to resume)")
    gen.add_argument("--n-targets", type=int, required=True, help="number of (g_s, g_u) targets, one population each")
    gen.add_argument("--n-per-target", type=int, default=16, help="members per target population (default 16)")
    gen.add_argument("--noise-sigma", type=float, default=0.0,
                     help="injected current noise sigma in uA/cm^2 (default 0; the robust variants use 3 or 5)")
    gen.add_argument("--duration", type=float, help="simulated time per member in s, transient included "
                     "(default: STG 6, DA 12)")
    gen.add_argument("--transient", type=float, help="discarded initial time in s (default 3)")
    gen.add_argument("--dt", type=float, help="integration step in s (default: the model's)")
    gen.add_argument("--chunk-size", type=int, default=1024, help="members per written chunk (default 1024)")
    gen.add_argument("--processes", type=int, default=1, help="local worker processes (default 1)")
    gen.add_argument("--scheduler", help="Dask scheduler address instead of --processes")
    _common(gen)
    gen.set_defaults(func=_cmd_make_training_data)

    trn = sub.add_parser("train", help="train the DIC network on generated data (seeded)")
    trn.add_argument("--model", required=True, help="model name: stg or da")
    trn.add_argument("--data", required=True, action="append", help="dataset folder from make-training-data (repeatable)")
    trn.add_argument("-o", "--output", required=True, help="weights stem <dir>/<model>-v<N> (.pt and .json written)")
    trn.add_argument("--epochs", type=int, default=40, help="maximum epochs (default 40)")
    trn.add_argument("--max-minutes", type=float, help="wall-clock budget in minutes")
    trn.add_argument("--batch-size", type=int, help="trains per batch (default 256)")
    trn.add_argument("--learning-rate", type=float, help="peak AdamW learning rate (default 2e-3)")
    trn.add_argument("--init-weights", help="weights card to start from (e.g. the STG network when training DA)")
    trn.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    trn.add_argument("--allow-partial", action="store_true", help="train on the chunks written so far")
    trn.add_argument("--n-chunks", type=int, help="train on the first N finished chunks of each dataset (reproducible)")
    _common(trn)
    trn.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate-network", help="accuracy, calibration and robustness of a network on test data")
    ev.add_argument("--model", required=True, help="model name: stg or da")
    ev.add_argument("--data", required=True, action="append", help="test dataset folder or .npz (repeatable)")
    ev.add_argument("--noisy-data", action="append", help="test data simulated with current noise (repeatable)")
    ev.add_argument("--weights", help="network weights (.json card); default the weights shipped for --model")
    ev.add_argument("--end-to-end", type=int, default=0, metavar="N",
                    help="also run N test trains through populations and Brian2 validation (20 members each)")
    ev.add_argument("--record", metavar="NAME", help="store the report in the weights card under evaluation/NAME")
    _common(ev)
    ev.set_defaults(func=_cmd_evaluate_network)

    card = sub.add_parser("model-card", help="render the model card of the shipped networks (Markdown)")
    card.add_argument("-o", "--output", help="file to write (e.g. docs/model_card.md); default print")
    _common(card)
    card.set_defaults(func=_cmd_model_card)
    return parser


def _version() -> str:
    from nwb_dicpop import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nwb-dicpop`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as err:
        print(f"nwb-dicpop {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
