"""The ``nwb-dicpop`` command line: a thin shell over the public functions.

Exit codes: 0 success; 1 bad input or a failed computation (one clear message on stderr, no
traceback); 2 command-line usage error (from argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

# (model, label, g_s, g_u) shown by the demo: one tonic spiker and one burster per model
DEMO_TARGETS = (
    ("stg", "spiking", 4.0, 5.0),
    ("stg", "bursting", -8.0, 6.0),
    ("da", "spiking", 3.0, 6.0),
    ("da", "bursting", -4.0, 5.0),
)


def _parse_set(text: str) -> str | tuple[str, ...]:
    if text in ("rule", "auto"):
        return text
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent or Path.cwd(), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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


# --------------------------------------------------------------------------- commands
def _cmd_demo(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    import nwb_dicpop as ndp

    rows = []
    for model_name, label, g_s, g_u in DEMO_TARGETS:
        if args.model not in ("both", model_name):
            continue
        pop = ndp.generate_population(model_name, g_s, g_u, n_models=args.n_models, rng=args.seed)
        model = ndp.get_model(model_name)
        means = pop.conductances.mean(axis=0)
        rows.append(
            {
                "model": model_name,
                "pattern": label,
                "target g_s": g_s,
                "target g_u": g_u,
                "set": "+".join(pop.compensating_set),
                "members": pop.n_models,
                "g_f (mean)": round(float(pop.dics[:, 0].mean()), 3),
                "g_s (mean)": round(float(pop.dics[:, 1].mean()), 6),
                "g_u (mean)": round(float(pop.dics[:, 2].mean()), 6),
                "max residual": f"{pop.residual.max():.1e}",
                "own V_th mV (mean)": round(float(np.nanmean(pop.threshold)), 2),
                **{f"g_{n}": float(f"{m:.4g}") for n, m in zip(model.conductance_names, means, strict=True)},
            }
        )
    table = pd.DataFrame(rows)
    _emit(
        args,
        table.T.to_string(header=False) if not args.json else table,
        rows,
        f"Degenerate populations of {args.n_models} members (V_th: STG -51 mV, DA -55.5 mV; "
        "conductances in mS/cm^2, mean over members)",
    )
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
        _write_atomic(output, frame.to_csv(index=False))
    payload = {"population": repr(pop), "output": args.output, "n_models": pop.n_models,
               "compensating_set": list(pop.compensating_set), "max_residual": float(pop.residual.max())}
    _emit(args, frame.describe().T[["mean", "std", "min", "max"]], payload, repr(pop))
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

    demo = sub.add_parser("demo", help="run on built-in demo targets and print a table")
    demo.add_argument("--model", choices=["stg", "da", "both"], default="both", help="which model(s) (default both)")
    demo.add_argument("--n-models", type=int, default=50, help="members per population (default 50)")
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
    pop.add_argument("--g-s", type=float, required=True, help="target slow DIC at V_th (dimensionless)")
    pop.add_argument("--g-u", type=float, required=True, help="target ultraslow DIC at V_th (dimensionless)")
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
    return parser


def _version() -> str:
    from nwb_dicpop import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nwb-dicpop`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as err:
        print(f"nwb-dicpop {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
