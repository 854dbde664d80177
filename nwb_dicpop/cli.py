"""The ``nwb-dicpop`` command line: a thin shell over the public functions.

Exit codes: 0 success; 1 bad input or a failed computation (one clear message on stderr, no
traceback); 2 command-line usage error (from argparse).

Messages from the library name Python parameters (``n_models``, ``overwrite=True``); before
they reach the terminal, :func:`to_cli_terms` rewrites them in the command's own flags
(``--n-models``, ``--overwrite``).  ``nwb-dicpop run`` checks everything that can be checked
(inputs, outputs, model, scheduler, spike trains) before any work starts.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import math
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nwb_dicpop._files import atomic_destination, write_text_atomic

__all__ = ["CommandError", "main", "to_cli_terms"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(Exception):
    """A failure whose message is already in command-line terms (printed as is, exit 1)."""

    exit_code = EXIT_ERROR


class UsageError(CommandError):
    """Options that cannot be used together (exit 2, like argparse's usage errors)."""

    exit_code = EXIT_USAGE


# --------------------------------------------------------------------------- messages in CLI terms
# Python names that are spelled differently on the command line (-> the argparse dest).
_ALIASES = {"unit_ids": "units", "unit_id": "units", "output_path": "output", "rng": "seed",
            "compensating_set": "set", "n_processes": "processes"}
# Parameters that are not flags but positional arguments: how to call them in a message.
_WORDS = {"source": "input", "source_path": "input", "output_path": "output", "path": "file",
          "spiketrains": "input", "data": "input"}
_PY_FUNCTIONS = r"(?:nwb_dicpop\.)?(?:read_spike_trains|as_spike_trains|write_results|run_pipeline|read_results)"
# Whole phrases first: advice with no command-line equivalent, or a different one.
_PHRASES: tuple[tuple[str, str], ...] = (
    (r",? or pass in_place=True to append to it", ""),
    (r"`output_path` (?=['\"])", "output "),
    (r"\bWrite them with write_results\b", "Write them with nwb-dicpop run"),
    (r"\bwith np\.sort\b", "in the file"),
    (r"(\w+)=False \((?:CLI|command line): (--[\w-]+)\)", r"\2"),
    (r" \((?:CLI|command line): [^)]*\)", ""),
    (r";? ?an? time_unit given explicitly is trusted", ""),
    (r"Pass (\w+)_column=\.\.\. \(recognised names: ([^)]*)\)", r"Rename the \1 column to one of \2"),
    (r"\bwindow=\((?:t_)?start, (?:t_)?stop\)", "window=START STOP"),
    (rf" \({_PY_FUNCTIONS}(?:, {_PY_FUNCTIONS})*\)", ""),
    (rf" to {_PY_FUNCTIONS}(?: or {_PY_FUNCTIONS})?", " while reading"),
)


def to_cli_terms(message: str, flags: Mapping[str, str], negatable: frozenset[str] = frozenset()) -> str:
    """``message`` (written for Python callers) in the terms of a command's flags.

    Parameters
    ----------
    message : str
        An error or warning message of the library.
    flags : mapping of str to str
        Python parameter name -> the command's option (``{"n_models": "--n-models"}``); only
        names the command has are rewritten, others stay as they are.
    negatable : frozenset of str
        Names whose option has a ``--no-`` form (``validate`` -> ``--no-validate``).

    Returns
    -------
    str
        e.g. ``"`n_models` must be a positive integer"`` -> ``"--n-models must be a positive
        integer"``, ``"pass overwrite=True"`` -> ``"pass --overwrite"``, ``"pass
        time_unit='ms'"`` -> ``"pass --time-unit ms"``.
    """
    text = message
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, replacement, text)

    def flag(name: str) -> str | None:
        return flags.get(name) or flags.get(_ALIASES.get(name, ""))

    def assignment(match: re.Match[str]) -> str:
        name, value = match.group("name"), match.group("value")
        option = flag(name)
        if option is None:
            return match.group(0)
        if value == "True":
            return option
        if value == "False":
            return f"--no-{option[2:]}" if name in negatable else f"no {option}"
        if value == "None":
            return f"no {option}"
        return f"{option} {value.strip(chr(39) + chr(34))}"

    text = re.sub(r"\b(?P<l>[Ll])eave (?P<name>\w+)=None",
                  lambda m: f"{m['l']}eave out {flag(m['name'])}" if flag(m["name"]) else m.group(0), text)
    value = r"True|False|None|'[^']*'|\"[^\"]*\"|\.\.\.|[-+]?\w+(?:\.\w+)*"
    text = re.sub(rf"\b(?P<name>[a-z_][a-z0-9_]*)=(?P<value>{value})(?!\w)", assignment, text)

    def quoted(match: re.Match[str]) -> str:
        name = match.group(1)
        return flag(name) or _WORDS.get(name) or match.group(0)

    return re.sub(r"`([a-z_][a-z0-9_]*)`", quoted, text)


def _command_flags(command: argparse.ArgumentParser) -> tuple[dict[str, str], frozenset[str]]:
    """The options of a (sub)command: ``{dest: "--long-option"}`` and the negatable dests."""
    flags: dict[str, str] = {}
    negatable = set()
    for action in command._actions:  # argparse keeps no public list of a parser's options
        long = [o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
        if not long or action.dest == "help":
            continue
        flags[action.dest] = long[0]
        if isinstance(action, argparse.BooleanOptionalAction):
            negatable.add(action.dest)
    return flags, frozenset(negatable)


def _message(err: BaseException) -> str:
    if isinstance(err, KeyError) and len(err.args) == 1:
        return str(err.args[0])
    return str(err) or type(err).__name__


# --------------------------------------------------------------------------- output
def _parse_set(text: str) -> str | tuple[str, ...]:
    if text in ("rule", "auto"):
        return text
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _emit(args: argparse.Namespace, table: Any, payload: Any, title: str = "") -> None:
    if args.json:
        print(json.dumps(_jsonable(payload), indent=2, allow_nan=False))
    elif not args.quiet:
        if title:
            print(title)
        print(table.to_string(index=False) if hasattr(table, "to_string") else table)


def _jsonable(value: Any) -> Any:
    """``value`` made of JSON types only: NaN and infinities become null (JSON has neither)."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    with contextlib.suppress(TypeError, ValueError):
        import pandas as pd

        if pd.isna(value):
            return None
    return str(value)


class _DryRun(Exception):
    """Raised inside :func:`atomic_destination` to create and remove its temporary file only."""


def _check_file_output(output: str | None, example: str) -> None:
    """Fail now, before any work, when ``-o/--output`` cannot be written (nothing is written)."""
    if not output:
        return
    path = Path(output)
    if path.is_dir():
        msg = f"--output {output!r} is a directory; give a file name, e.g. {str(path / example)!r}."
        raise CommandError(msg)
    if not path.parent.is_dir():
        msg = f"the folder of --output, {str(path.parent)!r}, does not exist; create it or choose another --output."
        raise CommandError(msg)
    with contextlib.suppress(_DryRun), atomic_destination(path):
        raise _DryRun


def _save_table(frame: Any, output: str | None) -> None:
    if output:
        write_text_atomic(Path(output), frame.to_csv(index=False))


class _Progress:
    """Progress on stderr, ``progress(stage, done, total)``; a clock ticks on a terminal.

    A stage whose steps are long (a batch of simulated units) shows its elapsed time, redrawn
    every second on a terminal so that the line never looks stuck; elsewhere (logs, pipes)
    each step is one line.
    """

    WIDTH = 30
    active: _Progress | None = None
    """The progress whose line is on the terminal now (log messages clear it, then redraw it)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.stage, self.done, self.total, self.label = "", 0, 0, ""
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._ticking = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, stage: str, total: int = 0, label: str = "") -> None:
        """Start a stage of ``total`` steps (0: unknown yet); ``label`` says what it does."""
        with self._lock:
            self.stage, self.done, self.total, self.label = stage, 0, total, label
            self.started = time.monotonic()
            self._draw(final=False)
        if self.tty and self._thread is None:
            _Progress.active = self
            self._ticking.set()
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            if stage != self.stage:
                self.stage, self.started, self.label = stage, time.monotonic(), ""
            self.done, self.total = done, total
            self._draw(final=done >= total)

    def close(self) -> None:
        """Stop the clock; end a line left open on a terminal."""
        self._ticking.clear()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.tty and self.stage:
            print(file=sys.stderr, flush=True)
            self.stage = ""
        if _Progress.active is self:
            _Progress.active = None

    @contextlib.contextmanager
    def aside(self) -> Any:
        """Clear the progress line while something else is printed, then draw it again."""
        with self._lock:
            if not (self.tty and self.stage):
                yield
                return
            print("\r\033[K", end="", file=sys.stderr, flush=True)
            yield
            self._draw(final=False)


    def _tick(self) -> None:
        while self._ticking.is_set():
            time.sleep(1.0)
            with self._lock:
                if self._ticking.is_set() and self.stage:
                    self._draw(final=False)

    def _draw(self, *, final: bool) -> None:
        filled = int(self.WIDTH * self.done / self.total) if self.total else 0
        count = f"{self.done}/{self.total}" if self.total else ""
        if self.stage == "members simulated":  # "members simulated N / M, about T s left"
            count = f"{self.done} / {self.total}"
        label = f" {self.label}" if self.label else ""
        elapsed = time.monotonic() - self.started
        # time left at the pace so far (steps of a stage cost about the same: units, chunks)
        left = f", about {elapsed * (self.total - self.done) / self.done:.0f} s left" if 0 < self.done < self.total else ""
        line = (f"{self.stage:>12} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {count}"
                f" {elapsed:.0f} s{left}{label}")
        if self.stage == "members simulated":
            line = f"{self.stage} {count}{left}, {elapsed:.0f} s [{'#' * filled}{'.' * (self.WIDTH - filled)}]{label}"
        if self.tty:
            print(f"\r{line}\033[K", end="\n" if final else "", file=sys.stderr, flush=True)
            if final:
                self.stage = ""
        else:
            print(line, file=sys.stderr, flush=True)


class _LogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log records on stderr, printed around a progress line instead of into it."""

    def emit(self, record: logging.LogRecord) -> None:
        progress = _Progress.active
        if progress is None:
            super().emit(record)
            return
        with progress.aside():
            super().emit(record)


def _progress(args: argparse.Namespace) -> _Progress | None:
    if args.quiet or args.json:
        return None
    return _Progress()


# --------------------------------------------------------------------------- spike-train input
def _is_remote(source: str) -> bool:
    return "://" in source or source.lower().startswith("dandi:")


def _check_input(source: str, command: str, what: str = "input") -> None:
    """A local input exists and is a file (a directory is called one), or raise."""
    if _is_remote(source):
        return
    path = Path(source)
    if path.is_dir():
        hint = f"the files in it, e.g. '{source.rstrip('/')}/*.nwb'" if command == "run" else "one file in it"
        msg = f"{what} {source!r} is a directory, not a file; pass {hint}."
        raise CommandError(msg)
    if not path.exists():
        import difflib

        parent = path.parent
        siblings = [p.name for p in parent.iterdir()] if parent.is_dir() else []
        close = difflib.get_close_matches(path.name, siblings, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(str(parent / c)) for c in close)}?" if close else ""
        msg = f"{what} {source!r} does not exist.{hint}"
        raise CommandError(msg)


def _selection(args: argparse.Namespace) -> dict[str, Any]:
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
    return kwargs


def _read_spikes(args: argparse.Namespace, source: str) -> Any:
    """The spike trains of ``source`` as the reading options ask, checked before any work.

    Times that look like milliseconds (or, declared as milliseconds, like seconds) are an
    error here, not a warning: ``--time-unit`` says what they are.  Tables take it as their
    unit.  NWB files store seconds by definition; ``--time-unit ms`` divides a file's times
    (and intervals) by 1000 when it was written in milliseconds by mistake, and ``--time-unit
    s`` reads them as they are without the check.
    """
    import nwb_dicpop as ndp
    from nwb_dicpop.pipeline import read_recording

    _check_input(source, args.command)
    unit = getattr(args, "time_unit", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if unit else "error", ndp.TimeUnitWarning)
        try:
            return read_recording(source, time_unit=unit, sort=bool(getattr(args, "sort", False)), **_selection(args))
        except ndp.TimeUnitWarning as warning:
            raise CommandError(_time_unit_message(str(warning))) from None


def _time_unit_message(warning: str) -> str:
    """The plausibility warning of the readers, as an error with the command-line fixes."""
    finding = warning.split(" If so", 1)[0].strip()
    if "look like milliseconds" in finding:
        fix = ("If they are milliseconds, pass --time-unit ms to convert them; if they really are seconds, "
               "pass --time-unit s.")
    else:
        fix = ("If they are seconds, pass --time-unit s; if they really are milliseconds, pass --time-unit ms.")
    return f"{finding} {fix}"


def _unit_id(text: str) -> Any:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        msg = f"--where needs COLUMN=VALUE, e.g. --where quality=good; got {text!r}."
        raise UsageError(msg)
    return key, _unit_id(value)


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

    _check_file_output(args.output, "population.csv")
    if args.dics:
        return _populate_from_dics(args)
    if args.g_s is None or args.g_u is None:
        msg = "populate needs either --dics FILE (from nwb-dicpop infer) or both --g-s and --g-u."
        raise UsageError(msg)
    pop = ndp.generate_population(
        args.model, args.g_s, args.g_u, n_models=args.n_models, compensating_set=_parse_set(args.set),
        g_s_std=args.g_s_std, g_u_std=args.g_u_std, rng=args.seed,
    )
    frame = pop.to_dataframe()
    _save_table(frame, args.output)
    payload = {"population": repr(pop), "output": args.output, "n_models": pop.n_models,
               "compensating_set": list(pop.compensating_set), "max_residual": float(pop.residual.max())}
    _emit(args, frame.describe().T[["mean", "std", "min", "max"]], payload, repr(pop))
    return EXIT_OK


def _populate_from_dics(args: argparse.Namespace) -> int:
    """``populate --dics``: one population per unit of an estimates table, a status per unit."""
    import pandas as pd

    import nwb_dicpop as ndp

    _check_input(args.dics, args.command, "--dics file")
    estimate = _estimate_from_table(pd.read_csv(args.dics), args.model, args.dics)
    result = ndp.generate_unit_populations(estimate, n_models=args.n_models, seed=args.seed,
                                           compensating_set=_parse_set(args.set))
    frames = []
    for unit in result:
        if unit.population is not None:
            frame = unit.population.to_dataframe()
            frame.insert(0, "unit_id", unit.unit_id)
            frames.append(frame)
    table = result.to_dataframe()[["unit_id", "status", "n_models", "reason"]]
    if frames:
        _save_table(pd.concat(frames, ignore_index=True), args.output)
    _emit(args, table, table.to_dict(orient="records"), f"Populations of {args.n_models} members per unit")
    return EXIT_OK


_ESTIMATE_COLUMNS = ("unit_id", "g_s", "g_u", "g_s_std", "g_u_std", "status")
"""Columns a ``populate --dics`` table needs (``nwb-dicpop infer -o`` writes them and more)."""


def _estimate_from_table(table: Any, model: str, path: str) -> Any:
    """The DICEstimate of a table written by ``nwb-dicpop infer -o`` (DICs at ``model``'s V_th).

    Only the columns population generation reads are taken: :data:`_ESTIMATE_COLUMNS`, and
    ``network_class`` (``firing_class`` in tables written before it existed) and
    ``out_of_distribution`` when present.
    """
    import numpy as np

    import nwb_dicpop as ndp

    missing = set(_ESTIMATE_COLUMNS) - set(table.columns)
    if missing:
        msg = f"--dics file {path!r} lacks columns {sorted(missing)}; write it with `nwb-dicpop infer -o`."
        raise ValueError(msg)
    spec = ndp.get_model(model)
    n = len(table)
    column = "network_class" if "network_class" in table else "firing_class"
    classes = table[column].astype(str).tolist() if column in table else ["unknown"] * n
    flagged = (table["out_of_distribution"].fillna(False).astype(bool).to_numpy() if "out_of_distribution" in table
               else np.zeros(n, dtype=bool))
    return ndp.DICEstimate(
        unit_ids=tuple(table["unit_id"].tolist()), model_name=spec.name, threshold=float(spec.threshold),
        g_s=table["g_s"].to_numpy(dtype=float), g_u=table["g_u"].to_numpy(dtype=float),
        g_s_std=table["g_s_std"].to_numpy(dtype=float), g_u_std=table["g_u_std"].to_numpy(dtype=float),
        network_class=tuple(classes), out_of_distribution=flagged, status=tuple(str(v) for v in table["status"]),
        network_version=f"table {path}",
    )


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

    _check_file_output(args.output, "stats.csv")
    spikes = _read_spikes(args, args.input)
    table = ndp.compute_spike_statistics(spikes).reset_index()
    _save_table(table, args.output)
    _emit(args, table.round(4), table.to_dict(orient="records"), f"Spike statistics of {spikes!r}")
    return EXIT_OK


G_F_MEMBERS = 20
"""Members of the point-estimate population whose mean g_f ``infer`` reports (g_f is set by the
compensation, not by the spike train: it is the same for every member to 1e-2 or better)."""


def _estimate_table(dics: Any, statistics: Any = None, populations: Any = None) -> Any:
    """A DICEstimate as printed: ``network_class`` (the network's), ``firing_class`` (the ISI-CV rule
    of the statistics), ``g_f`` only when the network inferred it, and ``g_f_population`` (mean fast
    DIC of the unit's population members) when populations are given."""
    import numpy as np

    table = dics.to_dataframe()
    if "firing_class" in table and "network_class" not in table:
        table = table.rename(columns={"firing_class": "network_class"})
    for name in ("g_f", "g_f_std"):  # NaN unless the network infers g_f
        if name in table and not np.isfinite(table[name].to_numpy(dtype=float)).any():
            table = table.drop(columns=name)
    at = list(table.columns).index("network_class")
    if statistics is not None:
        classes = dict(zip(statistics["unit_id"], statistics["firing_class"], strict=True))
        table.insert(at, "firing_class", [classes.get(u, "unknown") for u in table["unit_id"]])
    if populations is not None:
        g_f = {p.unit_id: float(np.mean(p.dics[:, 0])) for p in populations}
        table.insert(list(table.columns).index("g_s"), "g_f_population",
                     [g_f.get(u, np.nan) for u in table["unit_id"]])
    return table


def _cmd_infer(args: argparse.Namespace) -> int:
    import nwb_dicpop as ndp

    _check_file_output(args.output, "dics.csv")
    ndp.get_model(args.model)
    spikes = _read_spikes(args, args.input)
    dics = ndp.infer_dics(spikes, model=args.model, weights=args.weights)
    statistics = ndp.compute_spike_statistics(spikes).reset_index()
    point = ndp.generate_unit_populations(dics, n_models=G_F_MEMBERS, seed=0, uncertainty_scale=0.0, thresholds=False)
    table = _estimate_table(dics, statistics, point.populations)
    _save_table(table, args.output)
    title = (f"{dics!r}\nfiring_class: the train's class by the ISI-CV rule; network_class: the network's. "
             f"g_f_population: derived from the population (mean g_f of {G_F_MEMBERS} members at the inferred "
             "DICs), not inferred.")
    _emit(args, table.round(3), table.to_dict(orient="records"), title)
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    import nwb_dicpop as ndp

    _check_file_output(args.output, "spikes.csv")
    _check_input(args.population, args.command, "population file")
    model = ndp.get_model(args.model)
    frame = pd.read_csv(args.population)
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
    """``run``: every check that can fail is made before any work, then one input after another."""
    from contextlib import nullcontext

    import pandas as pd

    import nwb_dicpop as ndp
    from nwb_dicpop.distributed import check_scheduler, open_client

    inputs = _expand_inputs(args.inputs)
    ndp.get_model(args.model)
    if args.weights:
        _check_input(args.weights, args.command, "--weights file")
    if args.workers and args.scheduler and args.scheduler != "local":
        msg = "--workers starts local worker processes; a --scheduler address brings its own workers. Drop one."
        raise UsageError(msg)
    outputs = _plan_outputs(args, inputs)
    if args.scheduler and args.scheduler != "local":
        if "://" not in args.scheduler:
            msg = (f"--scheduler must be 'local' or a scheduler address such as tcp://HOST:8786; got "
                   f"{args.scheduler!r}.")
            raise CommandError(msg)
        check_scheduler(args.scheduler)
    # every input's spike trains, read and checked now; the first is kept, the others read again in turn
    first = _read_spikes(args, inputs[0])
    n_units = first.n_units
    for source in inputs[1:]:
        n_units = max(n_units, _read_spikes(args, source).n_units)
    workers = args.workers or max(1, min(_free_cores(), n_units))
    scheduler = args.scheduler
    if scheduler is None and workers > 1 and args.validate and importlib.util.find_spec("distributed") is not None:
        scheduler = "local"
    progress = _progress(args)
    summaries = []
    try:
        with (open_client(scheduler, n_workers=workers if scheduler == "local" else None) if scheduler
              else nullcontext(None)) as client:
            for k, (source, output) in enumerate(zip(inputs, outputs, strict=True)):
                spikes = first if k == 0 else _read_spikes(args, source)
                summaries.append(_run_one(args, source, spikes, output, client, progress))
    finally:
        if progress is not None:
            progress.close()
    table = pd.concat(summaries, ignore_index=True)
    title = ("Per-unit summary (firing_class: the train's class by the ISI-CV rule; network_class: the network's; "
             "g_f_population: derived from the population, not inferred; yield: valid / simulated members)")
    _emit(args, table.round(3), table.to_dict(orient="records"), title)
    return EXIT_OK


def _free_cores() -> int:
    """Cores this process may use minus the 1-minute load average (rounded), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cores = os.cpu_count() or 1
    try:
        load = round(os.getloadavg()[0])
    except (AttributeError, OSError):
        load = 0
    return max(1, cores - load)


def _expand_inputs(patterns: Sequence[str]) -> list[str]:
    """The inputs of ``run``: globs expanded, each one an existing file (or a URL)."""
    import glob

    inputs: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
        if not matches:
            msg = f"no input matches {pattern!r}; check the pattern (quote it so that the shell does not expand it)."
            raise CommandError(msg)
        inputs.extend(matches)
    for source in inputs:
        _check_input(source, "run")
    return inputs


def _plan_outputs(args: argparse.Namespace, inputs: Sequence[str]) -> list[Path | None]:
    """The annotated file of each input, checked (writable, not there yet, not an input)."""
    if not args.write:
        if args.output:
            msg = "--output names the annotated NWB file, which --no-write does not write; drop one of them."
            raise UsageError(msg)
        return [None] * len(inputs)
    from nwb_dicpop.nwb import check_output_path

    folder = Path(args.output) if args.output and Path(args.output).is_dir() else None
    if args.output and folder is None:
        if len(inputs) > 1:
            msg = (f"with {len(inputs)} inputs, --output must be an existing folder (one annotated file per "
                   f"input); {args.output!r} is not one. Create it, or run the inputs one at a time.")
            raise CommandError(msg)
        if args.output.endswith(("/", "\\")):
            msg = f"the folder --output {args.output!r} does not exist; create it or choose another --output."
            raise CommandError(msg)
    outputs: list[Path | None] = []
    for source in inputs:
        if _is_remote(source) or Path(source).suffix.lower() != ".nwb":
            kind = "a URL" if _is_remote(source) else f"a {Path(source).suffix or 'suffix-less'} file, not NWB"
            msg = (f"run writes an annotated copy of its NWB input, and {source!r} is {kind}. Pass --no-write to "
                   "get the per-unit summary only" + (", or download the file and pass its local path."
                                                      if _is_remote(source) else ", or convert the input to NWB."))
            raise CommandError(msg)
        target = folder / f"{Path(source).stem}_dicpop.nwb" if folder is not None else args.output
        outputs.append(check_output_path(source, target, overwrite=args.overwrite))
    seen: dict[Path, str] = {}
    for source, output in zip(inputs, outputs, strict=True):
        key = output.resolve()  # type: ignore[union-attr]
        if key in seen:
            msg = (f"inputs {seen[key]!r} and {source!r} would both be annotated into {str(output)!r}; "
                   "give each input once, or run them one at a time with different --output files.")
            raise CommandError(msg)
        seen[key] = source
    return outputs


def _run_one(args: argparse.Namespace, source: str, spikes: Any, output: Path | None, client: Any,
             progress: _Progress | None) -> Any:
    """The pipeline on one input (read again by it; ``spikes`` are the trains checked before any
    work); returns its summary table with a source column."""
    import nwb_dicpop as ndp

    if progress is not None:
        work = "statistics, DICs, populations" + (", simulation" if args.validate else "")
        progress.begin("units", label=f"{Path(source).name}: {spikes.n_units} units ({work})")
    result = ndp.run_pipeline(
        source, model=args.model, n_models=args.n_models, output=output, validate=args.validate,
        seed=args.seed, duration=args.duration, transient=args.transient, max_rounds=args.max_rounds,
        simulation_budget=args.simulation_budget, validation_rule=args.rule, write=output is not None,
        overwrite=args.overwrite, scheduler=client, weights=args.weights, uncertainty_scale=args.uncertainty_scale,
        time_unit=args.time_unit, sort=bool(args.sort), progress=progress, **_selection(args),
    )
    summary = result.summary.copy()
    summary.insert(0, "source", source)
    if not args.quiet and not args.json:
        print(f"{result!r}", file=sys.stderr)
        if args.validate and len(summary):
            print(_window_note(summary), file=sys.stderr)
    return summary


def _window_note(summary: Any) -> str:
    """Which windows validated the members, in one line."""
    windows = summary[["window_duration", "window_transient"]].dropna().drop_duplicates()
    shown = ", ".join(f"{d:g} s after {t:g} s" for d, t in windows.itertuples(index=False))
    return f"validation: members simulated for {shown or '-'} (recorded window after the discarded transient)"


def _cmd_show(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    import nwb_dicpop as ndp

    _check_input(args.path, args.command, "file")
    results = ndp.read_results(args.path)
    rows = []
    if results.dics is not None:
        frame = _estimate_table(results.dics, results.statistics if _has_classes(results.statistics) else None,
                                results.populations)
        by_unit = {p.unit_id: p for p in results.populations}
        outcomes = {}
        if results.population_outcomes is not None:
            outcomes = results.population_outcomes.set_index("unit_id").to_dict(orient="index")
        valid = {}
        if results.validation is not None and "valid" in results.validation:
            valid = results.validation.groupby("unit_id")["valid"].mean().to_dict()
        for record in frame.to_dict(orient="records"):
            population = by_unit.get(record["unit_id"])
            record["n_models"] = 0 if population is None else population.n_models
            record["compensating_set"] = "" if population is None else "+".join(population.compensating_set)
            outcome = outcomes.get(record["unit_id"])
            if outcome is not None:  # validated populations (ndx-dicpop >= 0.2.0)
                record["validation_status"] = outcome.get("validation_status", "")
                for key in ("n_simulated", "n_valid", "yield"):
                    record[key] = outcome.get(key, np.nan)
            record["valid_fraction"] = valid.get(record["unit_id"], np.nan)
            if record.get("n_spikes_used", 0) < 0:  # -1: the file does not store it
                record["n_spikes_used"] = None
            rows.append(record)
    table = pd.DataFrame(rows)
    if "n_spikes_used" in table and table["n_spikes_used"].isna().all():
        table = table.drop(columns="n_spikes_used")
    payload = {"source": results.source, "units": rows, "provenance": results.provenance}
    title = f"{results!r}\nmodel: {results.dics.model_name if results.dics else '-'}"
    if "g_f_population" in table:
        title += "\ng_f_population: derived from the population (mean g_f of its members), not inferred"
    stored = results.neuromodulation
    if stored:  # analyses written by nwb-dicpop neuromodulation / write_neuromodulation
        payload["neuromodulation"] = [_neuromodulation_payload(r) for r in stored]
    empty = "(no DIC estimates in this file" + ("; neuromodulation analyses below)" if stored else ")")
    _emit(args, table.round(3) if len(table) else empty, payload, title)
    if stored and not args.quiet and not args.json:
        for k, result in enumerate(stored, start=1):
            _print_neuromodulation(result, top=10, header=f"Neuromodulation analysis {k} of {len(stored)}: ")
    return EXIT_OK


def _has_classes(statistics: Any) -> bool:
    return statistics is not None and {"unit_id", "firing_class"} <= set(statistics.columns)


# --------------------------------------------------------------------------- neuromodulation
_FIGURE_FORMATS = ("png", "svg")
_NEUROMODULATION_FIGURES = ("ranking", "map", "conductances")


def _period(values: Sequence[str] | None, flag: str) -> tuple[float, float] | str | None:
    """``--before`` / ``--after``: a window ``T_START T_STOP`` in seconds, or an epoch name."""
    if not values:
        return None
    if len(values) == 1:
        text = values[0]
        with contextlib.suppress(ValueError):
            float(text)
            msg = (f"{flag} {text!r} is one number; give a window as two numbers in seconds (T_START T_STOP, "
                   f"e.g. {flag} 0 10) or the name of an epoch of the NWB file (e.g. {flag} baseline).")
            raise UsageError(msg)
        return text
    if len(values) == 2:
        try:
            return float(values[0]), float(values[1])
        except ValueError:
            pass
    msg = (f"{flag} takes a window T_START T_STOP in seconds (e.g. {flag} 0 10) or one epoch name (e.g. "
           f"{flag} baseline); got {' '.join(values)!r}.")
    raise UsageError(msg)


def _describe_period(period: tuple[float, float] | str | None) -> str:
    if period is None:
        return "the whole recording"
    if isinstance(period, str):
        return f"epoch {period!r}"
    return f"[{period[0]:g}, {period[1]:g}] s"


def _read_unit(args: argparse.Namespace, source: str, unit: Any, period: tuple[float, float] | str | None) -> Any:
    """One unit's train of ``source`` (a window, an epoch or everything), read like the other commands read."""
    selection = argparse.Namespace(**{**vars(args), "units": str(unit), "where": None,
                                      "window": period if isinstance(period, tuple) else None,
                                      "epoch": period if isinstance(period, str) else None})
    return _read_spikes(selection, source)


def _choose_units(args: argparse.Namespace, source: str, *, single: bool = False) -> list[Any]:
    """The units named by ``--unit`` ("all" for every unit); the only unit when the file holds one."""
    spikes = _read_spikes(argparse.Namespace(**{**vars(args), "units": None, "where": None, "window": None,
                                                "epoch": None}), source)
    ids = list(spikes.unit_ids)
    if args.unit is None:
        if len(ids) == 1:
            return ids
        shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
        more = "" if single else " (several: --unit 1,2; every unit: --unit all)"
        msg = f"{source!r} holds {len(ids)} units ({shown}); choose one with --unit ID{more}."
        raise CommandError(msg)
    if args.unit.strip().lower() == "all" and not single:
        return ids
    wanted = [_unit_id(u) for u in args.unit.split(",") if u.strip()]
    if single and len(wanted) != 1:
        msg = f"--unit takes one unit id here; got {args.unit!r}."
        raise UsageError(msg)
    for unit in wanted:
        if unit not in ids:
            import difflib

            close = difflib.get_close_matches(str(unit), [str(i) for i in ids], n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            msg = f"--unit {unit!r} is not a unit of {source!r} (ids: {', '.join(map(str, ids[:20]))}).{hint}"
            raise CommandError(msg)
    return wanted


def _annotated_output(args: argparse.Namespace, source: str) -> Path | None:
    """``-o``: the annotated copy of ``source`` that will hold the results, checked before any work."""
    if not args.output:
        return None
    from nwb_dicpop.nwb import check_output_path

    if _is_remote(source) or Path(source).suffix.lower() != ".nwb":
        kind = "a URL" if _is_remote(source) else f"a {Path(source).suffix or 'suffix-less'} file, not NWB"
        msg = (f"--output writes an annotated copy of the NWB input, and {source!r} is {kind}; drop --output to "
               "print the results only" + (", or download the file first." if _is_remote(source) else "."))
        raise CommandError(msg)
    return check_output_path(source, args.output, overwrite=args.overwrite, neuromodulation=True)


def _figure_plan(args: argparse.Namespace, units: Sequence[Any], kinds: Sequence[str]) -> dict[Any, dict[str, Path]]:
    """``--figures DIR``: the files each unit gets (``unit<ID>_<kind>.png`` and ``.svg``), checked before any work."""
    if not args.figures:
        return {}
    folder = Path(args.figures)
    if folder.exists() and not folder.is_dir():
        msg = f"--figures {args.figures!r} is a file; give a folder (it is created when missing)."
        raise CommandError(msg)
    if not folder.parent.is_dir():
        msg = f"the folder above --figures, {str(folder.parent)!r}, does not exist; create it or choose another --figures."
        raise CommandError(msg)
    folder.mkdir(exist_ok=True)
    plan = {unit: {f"{kind}.{ext}": folder / f"unit{unit}_{kind}.{ext}" for kind in kinds for ext in _FIGURE_FORMATS}
            for unit in units}
    existing = [str(path) for files in plan.values() for path in files.values() if path.exists()]
    if existing and not args.overwrite:
        msg = f"figure files already exist ({', '.join(existing[:3])}{', ...' if len(existing) > 3 else ''}); pass --overwrite to replace them."
        raise CommandError(msg)
    with contextlib.suppress(_DryRun), atomic_destination(folder / "figure-check.png"):
        raise _DryRun
    return plan


def _neuromodulation_figures(result: Any, files: dict[str, Path]) -> list[str]:
    """Ranking, reachability map of the leading subset (before population, after DICs) and conductances."""
    import numpy as np

    from nwb_dicpop import plotting
    from nwb_dicpop.neuromodulation import modulation_map

    leading = result.top[0] if result.top else str(result.ranking["subset"].iloc[0])
    start = result.before_population
    after = (float(result.after.g_s[0]), float(result.after.g_u[0]))
    g_s = np.concatenate([start.dics[:, 1], [after[0], -20.0, 20.0]])
    g_u = np.concatenate([start.dics[:, 2], [after[1], 0.0, 20.0]])
    g_s, g_u = g_s[np.isfinite(g_s)], g_u[np.isfinite(g_u)]
    grid_s = np.linspace(np.floor(g_s.min()) - 1.0, np.ceil(g_s.max()) + 1.0, 81)
    grid_u = np.linspace(np.floor(g_u.min()) - 1.0, np.ceil(g_u.max()) + 1.0, 81)
    reach = modulation_map(start, leading, g_s_values=grid_s, g_u_values=grid_u,
                           modulation_limits=result.settings.get("modulation_limits"))
    moved = result.moved.get(leading)
    # arrows join member i before and after: only when every member has a move (same order)
    arrows = moved if moved is not None and moved.n_models == start.n_models else None
    drawings = {
        "ranking": lambda: plotting.plot_ranking(result),
        "map": lambda: plotting.plot_modulation_map(reach, after=after, moved=arrows),
        "conductances": lambda: plotting.plot_conductances(result, leading if leading in result.moved else None),
    }
    written = []
    for kind, draw in drawings.items():
        for ext in _FIGURE_FORMATS:
            written.append(str(plotting.save_figure(draw(), files[f"{kind}.{ext}"])))
    return written


def _verdict(result: Any) -> str:
    """The outcome of one analysis in plain words (ties and 'no detectable DIC change' spelled out)."""
    if result.detectable:
        top = list(result.top)
        if len(top) == 1:
            return f"Detectable DIC change. Most plausible change: {top[0]}, alone in the first rank."
        return (f"Detectable DIC change. {', '.join(top[:-1])} and {top[-1]} share the first rank: the data cannot "
                "tell them apart.")
    if result.change_detected:
        return ("A change is detected but cannot be attributed: too many subsets explain it equally well, so "
                "ranks are not assigned (the subsets below are listed by score).")
    return ("No detectable DIC change: the DICs before and after do not differ beyond their uncertainty. The "
            "subsets below are listed by score, without ranks.")


def _ranking_table(result: Any, top: int) -> Any:
    frame = result.ranking
    validated = bool(result.settings.get("validate"))
    columns = ["rank", "subset", "log_bayes_factor", "cost", "feasible_fraction"]
    columns += ["agreement", "reproduced_fraction"] if validated else []
    table = frame[[*columns, "tie_reason"]].copy()
    table["rank"] = [("-" if r is None or str(r) == "<NA>" else str(int(r))) for r in frame["rank"].astype(object)]
    table["tie_reason"] = [reason or "" for reason in frame["tie_reason"]]
    table = table.rename(columns={"tie_reason": "tied because", "log_bayes_factor": "log_BF_vs_no_change",
                                  "feasible_fraction": "feasible"})
    return table.head(top) if top > 0 else table


def _print_neuromodulation(result: Any, top: int, header: str = "") -> None:
    validated = "with Brian2 simulations" if result.settings.get("validate") else "DIC evidence only"
    windows = ""
    if result.before_window is not None and result.after_window is not None:
        windows = (f"; before [{result.before_window[0]:g}, {result.before_window[1]:g}] s, after "
                   f"[{result.after_window[0]:g}, {result.after_window[1]:g}] s")
    print(f"\n{header}Unit {result.unit_id} (model {result.model_name}{windows}; {validated})")
    print(_verdict(result))
    reason = result.reason
    for said in ("no detectable DIC change: ", "detectable DIC change: "):  # the verdict already says it
        reason = reason.removeprefix(said)
    print(f"Why: {reason}")
    table = _ranking_table(result, top)
    print(table.round(2).to_string(index=False))
    hidden = len(result.ranking) - len(table)
    if hidden > 0:
        print(f"({hidden} more subsets: --top 0 shows all, --json gives every column)")
    for note in result.bound_notes:
        print(f"Note: {note}")


def _neuromodulation_payload(result: Any) -> dict[str, Any]:
    """A result for --json: everything but the population members (they are in the NWB output)."""
    record = result.to_dict()
    for key in ("before_population", "moved", "conductance_names"):
        record.pop(key, None)
    record["top"] = list(result.top)
    record["verdict"] = _verdict(result)
    record["moved_subsets"] = list(result.moved)
    return record


def _cmd_neuromodulation(args: argparse.Namespace) -> int:
    """``neuromodulation``: every check (inputs, units, windows, outputs) before the first analysis."""
    import dataclasses

    import nwb_dicpop as ndp

    sources = list(args.inputs)
    if len(sources) > 2:
        msg = (f"neuromodulation takes one recording (with --before and --after) or two files, BEFORE AFTER; got "
               f"{len(sources)} inputs.")
        raise UsageError(msg)
    before, after = _period(args.before, "--before"), _period(args.after, "--after")
    if len(sources) == 1 and (before is None or after is None):
        msg = ("with one input, give both --before and --after: windows T_START T_STOP in seconds or epoch names "
               "(e.g. --before baseline --after drug); or pass two files, BEFORE AFTER.")
        raise UsageError(msg)
    for source in sources:
        _check_input(source, args.command)
    ndp.get_model(args.model)
    output = _annotated_output(args, sources[0])
    units = _choose_units(args, sources[0])
    figures = _figure_plan(args, units, _NEUROMODULATION_FIGURES)
    source_b, source_a = sources[0], sources[-1]
    trains = []
    for unit in units:  # every train read and checked before any analysis
        if len(sources) == 1:
            recording = _read_unit(args, source_b, unit, None)
            spans = [_read_unit(args, source_b, unit, p) if isinstance(p, str) else p for p in (before, after)]
            windows = [(float(s.t_start[0]), float(s.t_stop[0])) if not isinstance(s, tuple) else s for s in spans]
            trains.append((windows[0], windows[1], recording))
        else:
            trains.append((_read_unit(args, source_b, unit, before), _read_unit(args, source_a, unit, after), None))
    subsets = [s.strip() for s in args.subsets.split(",") if s.strip()] if args.subsets else None
    talk = not (args.quiet or args.json)
    results = []
    for unit, (train_b, train_a, recording) in zip(units, trains, strict=True):
        if talk:
            work = ("simulating moved members with Brian2, about 20 s per unit" if args.validate
                    else "DIC evidence only, a few seconds")
            print(f"unit {unit}: analysing ({work}) ...", file=sys.stderr, flush=True)
        result = ndp.analyze_neuromodulation(
            train_b, train_a, model=args.model, recording=recording, unit=unit, n_models=args.n_models,
            max_subset_size=args.max_subset_size, subsets=subsets, validate=args.validate,
            n_simulated=args.n_simulated, rng=args.seed,
        )
        record = {"before_source": source_b, "after_source": source_a,
                  "before_selection": _describe_period(before), "after_selection": _describe_period(after)}
        results.append(dataclasses.replace(result, settings={**result.settings, **record}))
    written = []
    for result in results:
        if result.unit_id in figures:
            written += _neuromodulation_figures(result, figures[result.unit_id])
    if output is not None:
        ndp.write_neuromodulation(source_b, results, output, overwrite=args.overwrite)
    if args.json:
        payload = {"model": args.model, "inputs": sources, "output": None if output is None else str(output),
                   "figures": written, "analyses": [_neuromodulation_payload(r) for r in results]}
        print(json.dumps(_jsonable(payload), indent=2, allow_nan=False))
    elif not args.quiet:
        source_text = source_b if len(sources) == 1 else f"{source_b} (before) and {source_a} (after)"
        print(f"Neuromodulation analysis of {source_text}: before {_describe_period(before)}, after "
              f"{_describe_period(after)}")
        for result in results:
            _print_neuromodulation(result, args.top)
        print()
        print(f"annotated NWB: {output}" if output is not None
              else "not stored: pass -o OUT.nwb to keep the results in an annotated copy of the input")
        if written:
            print(f"figures: {len(written)} files in {args.figures}")
    return EXIT_OK


def _cmd_trajectory(args: argparse.Namespace) -> int:
    """``trajectory``: DICs over sliding windows of one unit's recording, and a population carried along."""
    import nwb_dicpop as ndp

    _check_input(args.input, args.command)
    ndp.get_model(args.model)
    _check_file_output(args.output, "trajectory.csv")
    if args.output and Path(args.output).exists() and not args.overwrite:
        msg = f"--output {args.output!r} already exists; pass --overwrite to replace it."
        raise CommandError(msg)
    (unit,) = _choose_units(args, args.input, single=True)
    figures = _figure_plan(args, [unit], ("trajectory",))
    spikes = _read_unit(args, args.input, unit, None)
    pair = _parse_set(args.set)
    trajectory = ndp.track_dics(spikes, model=args.model, window=args.window, step=args.step, n_models=args.n_models,
                                compensating_set=pair if isinstance(pair, str) else tuple(pair), rng=args.seed)
    table = trajectory.to_dataframe()
    table["compensating_set"] = ["+".join(s) for s in trajectory.compensating_sets]
    _save_table(table, args.output)
    written = []
    if figures:
        from nwb_dicpop import plotting

        for ext in _FIGURE_FORMATS:
            written.append(str(plotting.save_figure(plotting.plot_trajectory(trajectory),
                                                    figures[unit][f"trajectory.{ext}"])))
    payload = {"unit_id": unit, "model": trajectory.model_name, "windows": table.to_dict(orient="records"),
               "output": args.output, "figures": written}
    title = (f"Unit {unit}: {trajectory!r}\nwindows of {args.window:g} s every {args.step:g} s; g_s, g_u inferred "
             "per window (NaN: too few spikes); network_class: the network's class of each window's train; "
             "fraction_moved: members that reached the window's DICs")
    _emit(args, table.round(3), payload, title)
    if written and not args.quiet and not args.json:
        print(f"figures: {', '.join(written)}")
    return EXIT_OK


def _add_neuromodulation_commands(sub: Any) -> None:
    """The ``neuromodulation`` and ``trajectory`` commands."""
    def reading(command: argparse.ArgumentParser) -> None:
        command.add_argument("--unit", help="unit id (neuromodulation: several as 1,2, or all; default: the only unit)")
        command.add_argument("--time-unit", choices=["s", "ms"],
                             help="unit of the spike times (tables: their unit; NWB: ms converts a file written in "
                                  "milliseconds by mistake); given explicitly, the times are not checked")
        command.add_argument("--sort", action="store_true", help="sort unsorted spike times while reading")
        command.add_argument("--figures", metavar="DIR", help="write the figures (PNG and SVG) into this folder")
        command.add_argument("--overwrite", action="store_true", help="replace existing output and figure files")

    neuro = sub.add_parser(
        "neuromodulation", help="which conductances changed between two recordings of a unit (ranked subsets)",
        description=("Rank the subsets of maximal conductances whose change most plausibly turns the 'before' "
                     "firing of a unit into its 'after' firing. One recording with --before and --after (windows "
                     "or epochs), or two files BEFORE AFTER (whole recordings, or --before/--after within each)."),
    )
    neuro.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="one recording (NWB, Neo file or CSV), or two: BEFORE AFTER")
    neuro.add_argument("--before", nargs="+", metavar="PERIOD",
                       help="the 'before' period: T_START T_STOP in seconds (e.g. 0 10), or an epoch name of the NWB file (e.g. baseline)")
    neuro.add_argument("--after", nargs="+", metavar="PERIOD",
                       help="the 'after' window in seconds, or an epoch name (e.g. drug)")
    neuro.add_argument("--model", required=True, help="model name: stg or da")
    neuro.add_argument("--n-models", type=_positive_int, default=200,
                       help="members of the 'before' population (default 200)")
    neuro.add_argument("--max-subset-size", type=_positive_int, default=2,
                       help="largest subset tried, 1 or 2 (default 2)")
    neuro.add_argument("--subsets", help="candidate subsets, comma-separated, e.g. A+H,CaT (default: every single "
                                         "conductance and pair, leak excluded)")
    neuro.add_argument("--validate", action=argparse.BooleanOptionalAction, default=True,
                       help="simulate moved members with Brian2 and compare their change of firing with the "
                            "recorded one (default on, recommended for recorded trains; about 20 s per unit); "
                            "--no-validate: DIC evidence only (seconds, but rarely conclusive)")
    neuro.add_argument("--n-simulated", type=_positive_int, default=16,
                       help="moved members simulated per leading subset with --validate (default 16)")
    neuro.add_argument("--top", type=int, default=10, help="subsets printed per unit (default 10; 0: all)")
    neuro.add_argument("-o", "--output", help="annotated copy of the (first) NWB input holding the results "
                                               "(default: nothing written)")
    reading(neuro)
    _common(neuro, seed=True)
    neuro.set_defaults(func=_cmd_neuromodulation)

    traj = sub.add_parser("trajectory", help="DICs over sliding windows of one unit's recording (track_dics)")
    traj.add_argument("input", help="NWB file, Neo file or CSV")
    traj.add_argument("--model", required=True, help="model name: stg or da")
    traj.add_argument("--window", type=float, required=True, help="window length in seconds")
    traj.add_argument("--step", type=float, required=True, help="step between window starts in seconds")
    traj.add_argument("--n-models", type=_positive_int, default=100, help="members carried along (default 100)")
    traj.add_argument("--set", default="rule", help="pair re-solved to enter each window: rule, or two names, e.g. A,H")
    traj.add_argument("-o", "--output", help="CSV file for the per-window table")
    reading(traj)
    _common(traj, seed=True)
    traj.set_defaults(func=_cmd_trajectory)


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
        n_threads=args.threads, allow_partial=args.allow_partial, n_chunks=args.n_chunks,
        posterior_head=args.posterior_head, **options,
    )
    card = json.loads(Path(card_path).read_text())
    payload = {"card": str(card_path), "validation": card["validation"], "training": card["training"]}
    text = (f"weights: {Path(card_path).with_suffix('.pt')}\ncard: {card_path}\n"
            f"validation MAE g_s {card['validation']['mae_g_s']:.3f}, g_u {card['validation']['mae_g_u']:.3f}, "
            f"class accuracy {card['validation']['class_accuracy']:.4f}")
    if "posterior" in card:  # --posterior-head: the head's own validation figures
        payload["posterior"] = {k: v for k, v in card["posterior"].items() if k != "history"}
        post = card["posterior"]["validation"]
        text += (f"\nposterior head: energy score {post['energy_score']:.3f} (independent Gaussians "
                 f"{post['energy_score_gaussian']:.3f}), 90 % coverage g_s {post['coverage90_g_s']:.3f}, "
                 f"g_u {post['coverage90_g_u']:.3f}")
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
                                                                "coverage90_g_s", "coverage90_g_u", "ood_fraction",
                                                                "energy_score", "energy_score_gaussian")}}
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


def _cmd_gui(args: argparse.Namespace) -> int:
    from nwb_dicpop.gui import run_gui

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the GUI is stopped
        run_gui(host=args.host, port=args.port, open_browser=not args.no_browser, allow_remote=args.allow_remote,
                max_upload_mb=args.max_upload_mb)
    return EXIT_OK


# --------------------------------------------------------------------------- parser
def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a usage error otherwise, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"must be a positive integer, e.g. 100; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _budget(text: str) -> float:
    """argparse type: a finite number >= 1 (a usage error otherwise, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value >= 1):
        msg = f"must be a number >= 1 (multiples of --n-models), e.g. 5; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (a usage error otherwise, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        msg = f"must be a number >= 0; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _common(parser: argparse.ArgumentParser, *, seed: bool = False) -> None:
    """Options of every command; ``seed`` for the commands that draw random numbers."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--traceback", action="store_true",
                        help="on error, show the Python traceback instead of one message (for bug reports)")
    if seed:
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
    demo.add_argument("--n-models", type=_positive_int, default=20, help="members per unit population (default 20)")
    demo.add_argument("--validate", action=argparse.BooleanOptionalAction, default=True,
                      help="simulate and score every population (default on)")
    demo.add_argument("--scheduler", help="Dask: 'local' or a scheduler address")
    demo.add_argument("--stg-weights", help=argparse.SUPPRESS)
    demo.add_argument("--da-weights", help=argparse.SUPPRESS)
    _common(demo, seed=True)
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
    pop.add_argument("--n-models", type=_positive_int, default=100, help="number of members (default 100)")
    pop.add_argument("--set", default="rule", help="compensating pair: rule, auto or two names, e.g. CaS,H")
    pop.add_argument("-o", "--output", help="CSV file for the population (one row per member)")
    _common(pop, seed=True)
    pop.set_defaults(func=_cmd_populate)

    reach = sub.add_parser("reachability", help="reachability map of a compensating pair")
    reach.add_argument("--model", required=True, help="model name: stg or da")
    reach.add_argument("--set", required=True, help="compensating pair, e.g. CaS,H")
    reach.add_argument("--g-s-min", type=float, default=-20.0, help="smallest g_s (default -20)")
    reach.add_argument("--g-s-max", type=float, default=20.0, help="largest g_s (default 20)")
    reach.add_argument("--g-u-min", type=float, default=0.0, help="smallest g_u (default 0)")
    reach.add_argument("--g-u-max", type=float, default=20.0, help="largest g_u (default 20)")
    reach.add_argument("--step", type=float, default=2.0, help="grid step (default 2)")
    reach.add_argument("--n-models", type=_positive_int, default=50, help="base members per target (default 50)")
    _common(reach, seed=True)
    reach.set_defaults(func=_cmd_reachability)
    def selection(command: argparse.ArgumentParser) -> None:
        command.add_argument("--units", help="comma-separated unit ids to keep (default all)")
        command.add_argument("--where", action="append", metavar="COLUMN=VALUE",
                             help="keep units whose Units column equals VALUE (repeatable), e.g. quality=good")
        command.add_argument("--window", nargs=2, type=float, metavar=("T_START", "T_STOP"),
                             help="time window in seconds")
        command.add_argument("--epoch", help="named epoch / interval of the NWB file, e.g. baseline")
        command.add_argument("--time-unit", choices=["s", "ms"],
                             help="unit of the spike times. Tables: their unit (default s). NWB files store s; "
                                  "ms converts a file written in milliseconds by mistake. Given explicitly, the "
                                  "times are not checked for plausibility (without it, times that look like ms "
                                  "are an error)")
        command.add_argument("--sort", action="store_true",
                             help="sort unsorted spike times while reading (default: they are an error)")

    run = sub.add_parser("run", help="the whole pipeline: read, infer, populate, validate, write NWB")
    run.add_argument("inputs", nargs="+", help="NWB files, URLs, dandi://DANDISET/VERSION/PATH, Neo files, CSV; globs allowed")
    run.add_argument("-o", "--output", help="annotated NWB file, or a folder (one output per input); default <input>_dicpop.nwb")
    run.add_argument("--model", required=True, help="model name: stg or da")
    run.add_argument("--n-models", type=_positive_int, default=100, help="members per unit population (default 100)")
    run.add_argument("--validate", action=argparse.BooleanOptionalAction, default=True,
                     help="simulate members with Brian2 and keep the --n-models that reproduce the unit's train, "
                          "drawing more if needed (default on); --no-validate: populations without simulation")
    run.add_argument("--duration", type=float,
                     help="recorded time per member in s, simulated after --transient (default, per unit: its "
                          "recording's duration, within 2 to 10 s)")
    run.add_argument("--transient", type=float,
                     help="initial time in s simulated and discarded before --duration (default: the model's "
                          "training transient, 3 s for stg and da)")
    run.add_argument("--max-rounds", type=_positive_int, default=5,
                     help="validation rounds at most: draw, simulate, keep the members that reproduce the unit's "
                          "train (default 5)")
    run.add_argument("--simulation-budget", type=_budget, default=5.0,
                     help="members simulated per unit at most, in multiples of --n-models (default 5); a unit "
                          "with fewer valid members gets status 'partial'")
    run.add_argument("--rule", choices=["default", "strict"], default="default",
                     help="validation rule: default (spikes per burst within 40%% or 1 spike, interburst 25%%, "
                          "intraburst 30%%, tonic frequency 20%%) or strict (every statistic within 20%%)")
    run.add_argument("--write", action=argparse.BooleanOptionalAction, default=True, help="write the annotated NWB file")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    run.add_argument("--scheduler", help="Dask: 'local' for a LocalCluster, or a scheduler address tcp://HOST:PORT")
    run.add_argument("--workers", type=_positive_int,
                     help="local worker processes simulating units in parallel (default: the free cores, "
                          "available cores minus the 1-minute load average, at most the number of units; "
                          "1 runs serially; with --validate only, results do not depend on it)")
    run.add_argument("--weights", help="network weights (.json card); default the weights shipped for --model")
    run.add_argument("--uncertainty-scale", type=_non_negative_float, default=1.0,
                     help="member targets drawn from Normal(inferred DICs, scale x inferred std); "
                          "0 puts every member at the point estimate (default 1)")
    selection(run)
    _common(run, seed=True)
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
    simulate.add_argument("--duration", type=float, default=2.0,
                          help="recorded time in s, simulated after --transient; spike times lie in [0, duration] "
                               "(default 2)")
    simulate.add_argument("--transient", type=float, default=2.0,
                          help="initial time in s simulated and discarded before --duration (default 2)")
    simulate.add_argument("--dt", type=float, help="integration step in s (default: the model's)")
    simulate.add_argument("--noise-sigma", type=float, default=0.0, help="current noise sigma in uA/cm^2 (default 0)")
    simulate.add_argument("-o", "--output", help="CSV of spike times (columns unit, time in s), readable by stats/infer")
    _common(simulate, seed=True)
    simulate.set_defaults(func=_cmd_simulate)

    show = sub.add_parser("show", help="print the per-unit results stored in an annotated NWB file")
    show.add_argument("path", help="an NWB file written by nwb-dicpop (processing/dicpop)")
    _common(show)
    show.set_defaults(func=_cmd_show)
    _add_neuromodulation_commands(sub)

    gen = sub.add_parser("make-training-data", help="simulate a training set for the DIC network (resumable chunks)")
    gen.add_argument("--model", required=True, help="model name: stg or da")
    gen.add_argument("-o", "--output-dir", required=True, help="dataset folder (rerun the same command to resume)")
    gen.add_argument("--n-targets", type=int, required=True, help="number of (g_s, g_u) targets, one population each")
    gen.add_argument("--n-per-target", type=int, default=16, help="members per target population (default 16)")
    gen.add_argument("--noise-sigma", type=float, default=0.0,
                     help="injected current noise sigma in uA/cm^2 (default 0; the robust variants use 3 or 5)")
    gen.add_argument("--duration", type=float, help="recorded time per member in s, simulated after --transient "
                     "(default: the model's training protocol, STG 3, DA 9)")
    gen.add_argument("--transient", type=float, help="initial time in s simulated and discarded before --duration "
                     "(default: the model's training protocol, 3)")
    gen.add_argument("--dt", type=float, help="integration step in s (default: the model's)")
    gen.add_argument("--chunk-size", type=int, default=1024, help="members per written chunk (default 1024)")
    gen.add_argument("--processes", type=int, default=1, help="local worker processes (default 1)")
    gen.add_argument("--scheduler", help="Dask scheduler address instead of --processes")
    _common(gen, seed=True)
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
    trn.add_argument("--posterior-head", action="store_true",
                     help="keep the --init-weights network frozen and fit only its joint-posterior head on --data")
    _common(trn, seed=True)
    trn.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate-network", help="accuracy, calibration and robustness of a network on test data")
    ev.add_argument("--model", required=True, help="model name: stg or da")
    ev.add_argument("--data", required=True, action="append", help="test dataset folder or .npz (repeatable)")
    ev.add_argument("--noisy-data", action="append", help="test data simulated with current noise (repeatable)")
    ev.add_argument("--weights", help="network weights (.json card); default the weights shipped for --model")
    ev.add_argument("--end-to-end", type=int, default=0, metavar="N",
                    help="also run N test trains through populations and Brian2 validation (20 members each)")
    ev.add_argument("--record", metavar="NAME", help="store the report in the weights card under evaluation/NAME")
    _common(ev, seed=True)
    ev.set_defaults(func=_cmd_evaluate_network)

    card = sub.add_parser("model-card", help="render the model card of the shipped networks (Markdown)")
    card.add_argument("-o", "--output", help="file to write (e.g. docs/model_card.md); default print")
    _common(card)
    card.set_defaults(func=_cmd_model_card)

    gui = sub.add_parser("gui", help="the local web GUI (needs pip install 'nwb_dicpop[gui]')")
    gui.add_argument("--port", type=_positive_int, default=8080, help="port to listen on (default 8080)")
    gui.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1: this computer only)")
    gui.add_argument("--allow-remote", action="store_true",
                     help="accept a --host other than this computer (others could then use the GUI and its files)")
    gui.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    gui.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload in MB (default 200)")
    _common(gui)
    gui.set_defaults(func=_cmd_gui)
    for command in sub.choices.values():
        command.set_defaults(command_parser=command)
    return parser


def _version() -> str:
    from nwb_dicpop import __version__

    return __version__


_EXPECTED_ERRORS = (ValueError, TypeError, LookupError, OSError, ImportError, Warning)
"""What bad input, bad options or an unreachable resource raise: reported as one message."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nwb-dicpop`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code.

    Errors print one line, ``nwb-dicpop COMMAND: error: MESSAGE``, in the command's terms
    (:func:`to_cli_terms`), and return 1 (2 for options that cannot be combined, 130 when
    interrupted); ``--traceback`` shows the Python traceback instead.  Warnings print as
    ``nwb-dicpop COMMAND: warning: MESSAGE``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        handlers=[_LogHandler(sys.stderr)])
    flags, negatable = _command_flags(args.command_parser)
    prefix = f"nwb-dicpop {args.command}"

    def show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                     line: Any = None) -> None:
        print(f"{prefix}: warning: {to_cli_terms(str(message), flags, negatable)}", file=sys.stderr)

    func: Callable[[argparse.Namespace], int] = args.func
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what dependencies deprecate is not the user's business
        warnings.filterwarnings("default", category=UserWarning, module="nwb_dicpop")
        warnings.showwarning = show_warning
        try:
            return func(args)
        except CommandError as err:
            if args.traceback:
                raise
            print(f"{prefix}: error: {err}", file=sys.stderr)
            return err.exit_code
        except BrokenPipeError:  # the reader of stdout went away (`| head`): nothing left to say
            with contextlib.suppress(OSError, ValueError):
                import os

                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_ERROR
        except KeyboardInterrupt:
            print(f"\n{prefix}: interrupted; files being written were left as they were.", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as err:
            if args.traceback:
                raise
            text = to_cli_terms(_message(err), flags, negatable)
            if not isinstance(err, _EXPECTED_ERRORS):
                text = (f"unexpected {type(err).__name__}: {text} (this may be a bug; rerun with --traceback and "
                        "report the output)")
            print(f"{prefix}: error: {text}", file=sys.stderr)
            return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
