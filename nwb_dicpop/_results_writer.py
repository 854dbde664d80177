"""The ndx-dicpop tables built from the package's containers (used by :mod:`nwb_dicpop.nwb`).

The writing counterpart of :mod:`nwb_dicpop._results_reader`: each ``build_*`` function turns
containers (DICEstimate, Population, spike statistics, neuromodulation results) into one table
of the extension, linked to the rows of the file's Units table through :class:`UnitRows`.  The
extension's classes are looked up with :func:`extension_class`; :mod:`nwb_dicpop.nwb` registers
the namespace when it is imported, before any of these functions runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._results_reader import POPULATION_OUTCOME_COLUMNS, VALIDATION_PREFIX
from nwb_dicpop._unit_results import unit_key
from nwb_dicpop.containers import DICEstimate, Population, close_ids
from nwb_dicpop.units import CONDUCTANCE_UNIT

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NAMESPACE",
    "NEUROMODULATION_TABLES",
    "UnitRows",
    "build_analysis_table",
    "build_dic_table",
    "build_member_table",
    "build_population_table",
    "build_provenance",
    "build_ranking_table",
    "build_statistics_table",
    "extension_class",
    "id_column",
    "model_declaration",
    "region_column",
    "vector_data",
]

NAMESPACE = "ndx-dicpop"
"""The extension's namespace."""

NEUROMODULATION_TABLES = ("neuromodulation_analyses", "neuromodulation_ranking", "neuromodulation_populations",
                          "neuromodulation_members")
"""Names of the tables :func:`~nwb_dicpop.write_neuromodulation` adds to ``processing/dicpop``."""


def extension_class(name: str) -> Any:
    """The pynwb class of the extension's type ``name`` (the namespace must be loaded)."""
    from pynwb import get_class

    return get_class(name, NAMESPACE)


class UnitRows:
    """Units id -> row index, with did-you-mean errors."""

    def __init__(self, units: Any, where: str) -> None:
        self.ids = [int(i) for i in np.asarray(units.id.data[:])]
        self.lookup = {uid: row for row, uid in enumerate(self.ids)}
        self.where = where

    def __call__(self, unit_ids: Sequence[Any], what: str) -> np.ndarray:
        rows = []
        for uid in unit_ids:
            key = uid.item() if isinstance(uid, np.generic) else uid
            try:
                rows.append(self.lookup[int(key)])
                continue
            except (KeyError, TypeError, ValueError):
                pass
            close = close_ids(key, self.ids)
            hint = f" Did you mean {', '.join(map(str, close))}?" if close else ""
            shown = self.ids if len(self.ids) <= 20 else [*self.ids[:20], "..."]
            msg = f"{what} refers to unit id {key!r}, which is not in the Units table of {self.where} (ids {shown}).{hint}"
            raise ValueError(msg)
        return np.asarray(rows, dtype=np.int64)


def vector_data(name: str, data: Any, description: str) -> Any:
    from hdmf.common import VectorData

    return VectorData(name=name, description=description, data=data)


def region_column(name: str, rows: np.ndarray, table: Any, description: str) -> Any:
    from hdmf.common import DynamicTableRegion

    return DynamicTableRegion(name=name, data=rows, table=table, description=description)


def id_column(n: int) -> Any:
    from hdmf.common import ElementIdentifiers

    return ElementIdentifiers(name="id", data=np.arange(n, dtype=np.int64))


def build_dic_table(dics: DICEstimate, units: Any, rows_of: UnitRows) -> Any:
    rows = rows_of(dics.unit_ids, "`dics`")
    columns = [region_column("units", rows, units, "Row of the Units table each estimate belongs to.")]
    if np.any(np.isfinite(dics.g_f)):
        columns.append(vector_data("g_f", dics.g_f, "Fast DIC at V_th (dimensionless)."))
    g_f_std = getattr(dics, "g_f_std", None)
    if g_f_std is not None and np.any(np.isfinite(g_f_std)):
        columns.append(vector_data("g_f_std", np.asarray(g_f_std, dtype=np.float64), "One-sigma uncertainty of g_f."))
    columns += [
        vector_data("g_s", dics.g_s, "Slow DIC at V_th (dimensionless)."),
        vector_data("g_u", dics.g_u, "Ultraslow DIC at V_th (dimensionless)."),
        vector_data("g_s_std", dics.g_s_std, "One-sigma uncertainty of g_s."),
        vector_data("g_u_std", dics.g_u_std, "One-sigma uncertainty of g_u."),
        vector_data("threshold", np.full(dics.n_units, dics.threshold), "Threshold voltage V_th (mV)."),
        vector_data("network_class", list(dics.network_class),
                "Firing class predicted by the network ('spiking', 'bursting'; 'silent' below 3 spikes)."),
        vector_data("out_of_distribution", dics.out_of_distribution, "True outside the network's training support."),
        vector_data("status", list(dics.status), "'ok' or why no estimate was made."),
    ]
    return extension_class("DICEstimates")(
        name="dic_estimates",
        description=f"DICs of {dics.n_units} units inferred with model {dics.model_name!r}.",
        model_name=dics.model_name,
        network_version=dics.network_version,
        id=id_column(dics.n_units),
        columns=columns,
    )


_OUTCOME_DESCRIPTIONS = {
    "validation_status": ("'ok': every requested member reproduces the unit's train; 'partial': the validation "
                          "budget ran out and the valid members found are kept."),
    "n_simulated": "Members simulated to find the valid ones, all rounds together.",
    "n_valid": "Simulated members that reproduced the unit's train.",
    "yield": "n_valid / n_simulated.",
    "validation_duration": "Recorded window of the validation simulation (s).",
    "validation_transient": "Time simulated and discarded before the recorded window (s).",
}


def build_population_table(
    pops: list[Population], units: Any, rows_of: UnitRows, outcomes: dict[Any, dict[str, Any]] | None = None,
    *, kind: Any = None, name: str = "conductance_populations", description: str | None = None,
    extra_columns: Sequence[Any] = (),
) -> Any:
    from hdmf.common import VectorIndex

    rows = rows_of([p.unit_id for p in pops], "`populations`")
    names = [name for p in pops for name in p.compensating_set]
    names_column = vector_data("compensating_set", names, "Conductances re-solved to reach the target.")
    ends = np.cumsum([len(p.compensating_set) for p in pops]).astype(np.int64)
    columns = [
        region_column("units", rows, units, "Row of the Units table whose DICs the population targets."),
        vector_data("target_g_s", [p.target_mean[0] for p in pops], "Requested g_s (dimensionless)."),
        vector_data("target_g_u", [p.target_mean[1] for p in pops], "Requested g_u (dimensionless)."),
        vector_data("target_g_s_std", [p.target_std[0] for p in pops], "Uncertainty of the g_s target."),
        vector_data("target_g_u_std", [p.target_std[1] for p in pops], "Uncertainty of the g_u target."),
        vector_data("reference_threshold", [p.reference_threshold for p in pops], "The model's V_th (mV)."),
        names_column,
        VectorIndex(name="compensating_set_index", data=ends, target=names_column),
        vector_data("n_iterations", np.array([p.n_iterations for p in pops], dtype=np.int64), "Fixed-point solves."),
        vector_data("n_rejected", np.array([p.n_rejected for p in pops], dtype=np.int64), "Rejected draws."),
        vector_data("seed", np.array([-1 if p.seed is None else p.seed for p in pops], dtype=np.int64),
                "Generation seed (-1: none recorded)."),
    ]
    if outcomes:
        columns += _outcome_columns(pops, outcomes)
    return (kind or extension_class("ConductancePopulations"))(
        name=name,
        description=description or f"{len(pops)} degenerate populations of model {pops[0].model_name!r}, one per unit.",
        model_name=pops[0].model_name,
        id=id_column(len(pops)),
        columns=[*columns, *extra_columns],
    )


def _outcome_columns(pops: list[Population], outcomes: dict[Any, dict[str, Any]]) -> list[Any]:
    """The validation columns of ConductancePopulations (missing values: "", -1 or NaN)."""
    present = [name for name in POPULATION_OUTCOME_COLUMNS if any(name in row for row in outcomes.values())]
    columns = []
    for name in present:
        values = [outcomes.get(unit_key(p.unit_id), {}).get(name) for p in pops]
        if name == "validation_status":
            data: Any = ["" if v is None else str(v) for v in values]
        elif name in ("n_simulated", "n_valid"):
            data = np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)
        else:
            data = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        columns.append(vector_data(name, data, _OUTCOME_DESCRIPTIONS[name]))
    return columns


def build_member_table(
    pops: list[Population], population_table: Any, units: Any, rows_of: UnitRows, validation: Any,
    *, kind: Any = None, name: str = "population_members",
) -> Any:
    unit_rows = rows_of([p.unit_id for p in pops], "`populations`")
    sizes = np.array([p.n_models for p in pops])
    population_index = np.repeat(np.arange(len(pops), dtype=np.int64), sizes)
    member = np.concatenate([np.arange(n, dtype=np.int64) for n in sizes])
    conductances = np.concatenate([p.conductances for p in pops])
    dics = np.concatenate([p.dics for p in pops])
    targets = np.concatenate([p.targets for p in pops])
    columns = [
        region_column("population", population_index, population_table, "Row of ConductancePopulations."),
        region_column("units", np.repeat(unit_rows, sizes), units, "Row of the Units table the population targets."),
        vector_data("member", member, "Index of the member within its population."),
    ]
    for k, current in enumerate(pops[0].conductance_names):
        columns.append(
            extension_class("ConductanceColumn")(
                name=f"g_{current}",
                description=f"Maximal conductance of the {current} current ({CONDUCTANCE_UNIT}).",
                data=conductances[:, k],
                unit=CONDUCTANCE_UNIT,
                current=current,
            )
        )
    columns += [
        vector_data("dic_g_f", dics[:, 0], "Fast DIC of the member at V_th."),
        vector_data("dic_g_s", dics[:, 1], "Slow DIC of the member at V_th."),
        vector_data("dic_g_u", dics[:, 2], "Ultraslow DIC of the member at V_th."),
        vector_data("threshold", np.concatenate([p.threshold for p in pops]), "The member's own V_th (mV)."),
        vector_data("target_g_s", targets[:, 0], "g_s target of this member."),
        vector_data("target_g_u", targets[:, 1], "g_u target of this member."),
        vector_data("residual", np.concatenate([p.residual for p in pops]), "Distance to the target after compensation."),
    ]
    if validation is not None:
        keys = [(p.unit_id, m) for p in pops for m in range(p.n_models)]
        columns += _validation_columns(validation, keys, [c.name for c in columns])
    return (kind or extension_class("PopulationMembers"))(
        name=name,
        description=f"{int(sizes.sum())} members of {len(pops)} populations ({pops[0].model_name!r}).",
        id=id_column(int(sizes.sum())),
        columns=columns,
    )



def _validation_columns(validation: pd.DataFrame, keys: list[tuple[Any, int]], taken: list[str]) -> list[Any]:
    for required in ("unit_id", "member"):
        if required not in validation.columns:
            msg = f"`validation` needs a {required!r} column; it has {list(validation.columns)}."
            raise ValueError(msg)
    position = {(unit_key(u), int(m)): i for i, (u, m) in enumerate(keys)}
    rows = []
    for u, m in zip(validation["unit_id"], validation["member"], strict=True):
        key = (unit_key(u), int(m))
        if key not in position:
            msg = f"`validation` has a row for unit {key[0]!r}, member {key[1]}, which is not among the populations."
            raise ValueError(msg)
        rows.append(position[key])
    if len(set(rows)) != len(rows):
        msg = "`validation` has several rows for the same (unit_id, member)."
        raise ValueError(msg)
    rows_a = np.asarray(rows, dtype=np.int64)
    complete = len(rows) == len(keys)
    out = []
    for name in validation.columns:
        if name in ("unit_id", "member"):
            continue
        column = f"{VALIDATION_PREFIX}{name}"
        if column in taken:
            msg = f"`validation` column {name!r} clashes with an existing column {column!r}."
            raise ValueError(msg)
        values = validation[name].to_numpy()
        kind = values.dtype.kind
        if kind in "biuf" and complete and kind != "f":
            data = np.empty(len(keys), dtype=values.dtype)
        elif kind in "biuf":
            data = np.full(len(keys), np.nan)
        elif kind in "OUS":
            data = np.full(len(keys), "", dtype=object)
            values = np.array([str(v) for v in values], dtype=object)
        else:
            msg = f"`validation` column {name!r} has unsupported dtype {validation[name].dtype}; use numbers, booleans or text."
            raise TypeError(msg)
        data[rows_a] = values
        out.append(vector_data(column, data, f"Validation of the simulated member: {name} (from nwb_dicpop validation)."))
    return out


def build_statistics_table(statistics: pd.DataFrame, units: Any, rows_of: UnitRows) -> Any:
    frame = statistics.reset_index() if "unit_id" not in statistics.columns and statistics.index.name == "unit_id" else statistics
    if "unit_id" not in frame.columns:
        msg = f"`statistics` needs a 'unit_id' column (or index); it has {list(frame.columns)}."
        raise ValueError(msg)
    rows = rows_of(list(frame["unit_id"]), "`statistics`")
    columns = [region_column("units", rows, units, "Row of the Units table the statistics describe.")]
    for name in frame.columns:
        if name == "unit_id":
            continue
        if name in ("units", "id"):
            msg = f"`statistics` column {name!r} clashes with a reserved column name; rename it."
            raise ValueError(msg)
        values = frame[name].to_numpy()
        if values.dtype.kind == "O":
            if not all(isinstance(v, str) for v in values):
                msg = f"`statistics` column {name!r} must hold numbers, booleans or text."
                raise TypeError(msg)
            values = list(values)
        elif values.dtype.kind not in "biuf":
            msg = f"`statistics` column {name!r} has unsupported dtype {frame[name].dtype}."
            raise TypeError(msg)
        columns.append(vector_data(str(name), values, f"Spike statistic {name!r} (nwb_dicpop.compute_spike_statistics)."))
    return extension_class("SpikeStatistics")(
        name="spike_statistics",
        description=f"Spike-train statistics of {len(frame)} units.",
        id=id_column(len(frame)),
        columns=columns,
    )


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def model_declaration(model: Any) -> Any:
    if isinstance(model, str):
        from nwb_dicpop.models import get_model

        return _jsonable(get_model(model))
    return _jsonable(model)


def build_provenance(dics: DICEstimate | None, pops: list[Population], provenance: Mapping[str, Any] | None) -> Any:
    from nwb_dicpop import __version__

    given = dict(provenance or {})
    model = given.get("model")
    if model is None:
        names = sorted({*([dics.model_name] if dics else []), *(p.model_name for p in pops)})
        model = {name: model_declaration(name) for name in names} if names else {}
    declaration = model if isinstance(model, str) and model.lstrip().startswith("{") else json.dumps(
        model_declaration(model)
    )
    seeds = given.get("seeds")
    if seeds is None:
        seeds = {"populations": {str(p.unit_id): p.seed for p in pops}}
    return extension_class("DicpopProvenance")(
        name="provenance",
        software="nwb_dicpop",
        software_version=__version__,
        date=datetime.now(UTC),
        model_declaration=declaration,
        seeds=json.dumps(_jsonable(seeds)),
        settings=json.dumps(_jsonable(given.get("settings", {}))),
    )


def _json_text(value: Any) -> str:
    """Strict JSON text (NaN and infinities as null); mappings, nested ones too, become lists of
    ``[key, value]`` pairs (NWB inspectors flag table cells that hold JSON objects)."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return [[k, clean(x)] for k, x in v.items()]
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(_jsonable(value)), allow_nan=False)


def _side_columns(results: list[Any], which: str) -> list[Any]:
    estimates = [getattr(r, which) for r in results]
    windows = [getattr(r, f"{which}_window") or (np.nan, np.nan) for r in results]

    def first(name: str, dtype: Any = np.float64) -> np.ndarray:
        return np.array([np.asarray(getattr(e, name))[0] for e in estimates], dtype=dtype)

    return [
        vector_data(f"{which}_g_f", first("g_f"), f"Fast DIC of the {which!r} train (NaN when not inferred)."),
        vector_data(f"{which}_g_s", first("g_s"), f"Slow DIC of the {which!r} train."),
        vector_data(f"{which}_g_u", first("g_u"), f"Ultraslow DIC of the {which!r} train."),
        vector_data(f"{which}_g_s_std", first("g_s_std"), f"One-sigma uncertainty of {which}_g_s."),
        vector_data(f"{which}_g_u_std", first("g_u_std"), f"One-sigma uncertainty of {which}_g_u."),
        vector_data(f"{which}_network_class", [e.network_class[0] for e in estimates], "The network's firing class."),
        vector_data(f"{which}_status", [e.status[0] for e in estimates], "'ok' or why the estimate is unusable."),
        vector_data(f"{which}_out_of_distribution", first("out_of_distribution", bool),
                "True outside the network's training support."),
        vector_data(f"{which}_n_spikes", first("n_spikes_used", np.int64), "Spikes read by the network (-1: unknown)."),
        vector_data(f"{which}_t_start", np.array([w[0] for w in windows], dtype=np.float64),
                f"Start of the {which!r} window (s; NaN for given DICs)."),
        vector_data(f"{which}_t_stop", np.array([w[1] for w in windows], dtype=np.float64),
                f"End of the {which!r} window (s; NaN for given DICs)."),
        vector_data(f"{which}_statistics", [_json_text(getattr(r, f"{which}_statistics")) for r in results],
                f"JSON spike statistics of the {which!r} train."),
    ]


def build_analysis_table(results: list[Any], unit_ids: list[Any], units: Any, rows_of: UnitRows) -> Any:
    def no_change(key: str) -> np.ndarray:
        return np.array([float(r.no_change.get(key, np.nan)) for r in results], dtype=np.float64)

    columns = [
        region_column("units", rows_of(unit_ids, "`results`"), units, "Row of the Units table of the unit analysed."),
        vector_data("model_name", [r.model_name for r in results], "Conductance-based model of the analysis."),
        vector_data("network_version", [r.before.network_version for r in results], "Network that inferred the DICs."),
        vector_data("threshold", np.array([r.before.threshold for r in results], dtype=np.float64), "V_th (mV)."),
        *_side_columns(results, "before"),
        *_side_columns(results, "after"),
        vector_data("detectable", np.array([r.detectable for r in results], dtype=bool), "An attributable change."),
        vector_data("change_detected", np.array([r.change_detected for r in results], dtype=bool), "A detected change."),
        vector_data("reason", [r.reason for r in results], "Why the change is (not) detectable."),
        vector_data("no_change_log_evidence", no_change("log_evidence"), "Score of 'no change'."),
        vector_data("no_change_log_evidence_dic", no_change("log_evidence_dic"), "DIC part of the score of 'no change'."),
        vector_data("no_change_agreement", no_change("agreement"), "Agreement of 'no change' (NaN without simulation)."),
        vector_data("no_change_reproduced_fraction", no_change("reproduced_fraction"),
                "Unmodulated members reproducing the 'after' train (NaN without simulation)."),
        vector_data("bound_notes", [_json_text(list(r.bound_notes)) for r in results], "JSON list of remarks."),
        vector_data("settings", [_json_text(r.settings) for r in results], "JSON settings of the analysis."),
    ]
    return extension_class("NeuromodulationAnalyses")(
        name=NEUROMODULATION_TABLES[0],
        description=f"{len(results)} neuromodulation analyses (nwb_dicpop.analyze_neuromodulation).",
        id=id_column(len(results)),
        columns=columns,
    )


_RANKING_FLOATS = ("cost", "feasible_fraction", "log_evidence", "log_evidence_dic", "log_bayes_factor", "agreement",
                   "reproduced_fraction", "bound_limited_fraction")


def build_ranking_table(results: list[Any], unit_ids: list[Any], analysis_table: Any, units: Any,
                   rows_of: UnitRows) -> Any:
    import pandas as pd

    frames = []
    for row, result in enumerate(results):
        frame = result.ranking.copy()
        frame["analysis"] = row
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    sizes = [len(r.ranking) for r in results]
    rank = table["rank"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    columns = [
        region_column("analysis", table["analysis"].to_numpy(dtype=np.int64), analysis_table,
                "Row of NeuromodulationAnalyses the subset was ranked in."),
        region_column("units", np.repeat(rows_of(unit_ids, "`results`"), sizes), units, "Row of the Units table."),
        vector_data("subset", [str(v) for v in table["subset"]], "Conductances joined by '+'."),
        vector_data("size", table["size"].to_numpy(dtype=np.int64), "Conductances in the subset."),
        vector_data("rank", rank, "Competition rank; -1 when the change is not detectable."),
    ]
    for name in _RANKING_FLOATS:
        values = table[name].to_numpy(dtype=np.float64) if name in table else np.full(len(table), np.nan)
        columns.append(vector_data(name, values, f"{name} of the subset (see NeuromodulationRanking)."))
        if name == "reproduced_fraction":
            columns.append(vector_data("n_simulated", table["n_simulated"].fillna(0).to_numpy(dtype=np.int64),
                                   "Moved members simulated (0: not simulated)."))
    columns += [
        vector_data("bound_decides", table["bound_decides"].to_numpy(dtype=bool), "A modulation limit decides."),
        vector_data("tie_reason", [str(v) for v in table["tie_reason"]], "Why the subset shares its rank."),
    ]
    return extension_class("NeuromodulationRanking")(
        name=NEUROMODULATION_TABLES[1],
        description=f"Ranked candidate subsets of {len(results)} neuromodulation analyses.",
        id=id_column(len(table)),
        columns=columns,
    )
