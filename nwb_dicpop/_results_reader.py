"""Containers from the ndx-dicpop tables of an open NWB file (used by :func:`nwb_dicpop.nwb.read_results`).

The functions take the pynwb objects read by :mod:`nwb_dicpop.nwb` (duck-typed; pynwb is imported
only there) and copy everything they need into numpy arrays and the package's containers, so the
file can be closed afterwards.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop.containers import DICEstimate, Population

if TYPE_CHECKING:
    import pandas as pd

    from nwb_dicpop.neuromodulation import NeuromodulationResult

__all__ = [
    "POPULATION_OUTCOME_COLUMNS",
    "VALIDATION_PREFIX",
    "read_dics",
    "read_neuromodulation",
    "read_population_outcomes",
    "read_populations",
    "read_provenance",
    "table_frame",
]

VALIDATION_PREFIX = "validation_"
"""Prefix of the validation columns of PopulationMembers."""

POPULATION_OUTCOME_COLUMNS = (
    "validation_status", "n_simulated", "n_valid", "yield", "validation_duration", "validation_transient",
)
"""Optional columns of ConductancePopulations (ndx-dicpop >= 0.2.0): how the members were validated."""


def _column(table: Any, name: str) -> np.ndarray:
    values = np.asarray(table[name].data[:])
    if values.dtype.kind in "OS":
        values = np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
    return values


def read_dics(table: Any, ids: np.ndarray) -> DICEstimate:
    unit_ids = ids[np.asarray(table["units"].data[:], dtype=np.int64)]
    threshold = _column(table, "threshold")
    g_f = _column(table, "g_f") if "g_f" in table.colnames else np.full(len(unit_ids), np.nan)
    # the network's class: "network_class" since ndx-dicpop 0.2.0, "firing_class" in 0.1.0 files
    classes = _column(table, "network_class" if "network_class" in table.colnames else "firing_class")
    return DICEstimate(
        unit_ids=tuple(int(u) for u in unit_ids),
        model_name=str(table.model_name),
        threshold=float(threshold[0]),
        g_s=_column(table, "g_s"),
        g_u=_column(table, "g_u"),
        g_s_std=_column(table, "g_s_std"),
        g_u_std=_column(table, "g_u_std"),
        network_class=tuple(str(v) for v in classes),
        out_of_distribution=_column(table, "out_of_distribution").astype(bool),
        status=tuple(str(v) for v in _column(table, "status")),
        network_version=str(table.network_version),
        g_f=g_f,
        **({"g_f_std": _column(table, "g_f_std")} if "g_f_std" in table.colnames else {}),
    )


def read_populations(
    table: Any, members: Any, ids: np.ndarray
) -> tuple[tuple[Population, ...], pd.DataFrame | None]:
    import pandas as pd

    unit_ids = ids[np.asarray(table["units"].data[:], dtype=np.int64)]
    names_index = np.asarray(table["compensating_set"].data[:], dtype=np.int64)
    flat_names = _column_target(table["compensating_set"])
    starts = np.concatenate([[0], names_index[:-1]])
    population = np.asarray(members["population"].data[:], dtype=np.int64)
    member = np.asarray(members["member"].data[:], dtype=np.int64)
    g_columns = [c for c in members.columns if getattr(c, "neurodata_type", "") == "ConductanceColumn"]
    conductance_names = tuple(str(c.current) for c in g_columns)
    conductances = np.column_stack([np.asarray(c.data[:], dtype=np.float64) for c in g_columns])
    dics = np.column_stack([_column(members, f"dic_{n}") for n in ("g_f", "g_s", "g_u")]).astype(np.float64)
    targets = np.column_stack([_column(members, "target_g_s"), _column(members, "target_g_u")]).astype(np.float64)
    threshold = _column(members, "threshold").astype(np.float64)
    residual = _column(members, "residual").astype(np.float64)
    pops = []
    for p in range(len(unit_ids)):
        rows = np.flatnonzero(population == p)
        rows = rows[np.argsort(member[rows], kind="stable")]
        seed = int(_column(table, "seed")[p])
        pops.append(
            Population(
                model_name=str(table.model_name),
                conductance_names=conductance_names,
                conductances=conductances[rows],
                dics=dics[rows],
                threshold=threshold[rows],
                reference_threshold=float(_column(table, "reference_threshold")[p]),
                targets=targets[rows],
                target_mean=np.array([_column(table, "target_g_s")[p], _column(table, "target_g_u")[p]], dtype=float),
                target_std=np.array([_column(table, "target_g_s_std")[p], _column(table, "target_g_u_std")[p]],
                                    dtype=float),
                compensating_set=tuple(str(n) for n in flat_names[starts[p] : names_index[p]]),
                residual=residual[rows],
                n_iterations=int(_column(table, "n_iterations")[p]),
                n_rejected=int(_column(table, "n_rejected")[p]),
                seed=None if seed < 0 else seed,
                unit_id=int(unit_ids[p]),
            )
        )
    validation_names = [c for c in members.colnames if c.startswith(VALIDATION_PREFIX)]
    validation = None
    if validation_names:
        validation = pd.DataFrame({"unit_id": unit_ids[population], "member": member})
        for name in validation_names:
            validation[name.removeprefix(VALIDATION_PREFIX)] = _column(members, name)
    return tuple(pops), validation


def read_population_outcomes(table: Any, ids: np.ndarray) -> pd.DataFrame | None:
    """``unit_id`` and the validation columns of ConductancePopulations, or None without them."""
    import pandas as pd

    present = [name for name in POPULATION_OUTCOME_COLUMNS if name in table.colnames]
    if not present:
        return None
    frame = pd.DataFrame({"unit_id": ids[np.asarray(table["units"].data[:], dtype=np.int64)]})
    for name in present:
        frame[name] = _column(table, name)
    return frame


def _column_target(index_column: Any) -> np.ndarray:
    values = np.asarray(index_column.target.data[:])
    return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)


def table_frame(table: Any, ids: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({"unit_id": ids[np.asarray(table["units"].data[:], dtype=np.int64)]})
    for name in table.colnames:
        if name != "units":
            frame[name] = _column(table, name)
    return frame


def read_provenance(container: Any) -> dict[str, Any]:
    def decode(text: Any) -> Any:
        if text is None:
            return None
        text = text.decode() if isinstance(text, bytes) else str(text[()] if hasattr(text, "shape") else text)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    date = container.date
    return {
        "software": str(container.software),
        "software_version": str(container.software_version),
        "date": date.isoformat() if hasattr(date, "isoformat") else str(date),
        "model_declaration": decode(container.model_declaration),
        "seeds": decode(container.seeds),
        "settings": decode(container.settings),
    }



RANKING_COLUMNS = (
    "subset", "rank", "cost", "feasible_fraction", "size", "log_evidence", "log_evidence_dic", "log_bayes_factor",
    "agreement", "reproduced_fraction", "n_simulated", "bound_limited_fraction", "bound_decides", "tie_reason",
)
"""Columns of ``NeuromodulationResult.ranking``, in its order (NeuromodulationRanking stores each)."""


def _json(text: Any) -> Any:
    return json.loads(text.decode() if isinstance(text, bytes) else str(text))


def _pairs(text: Any) -> dict[str, Any]:
    """A mapping stored as a JSON list of ``[key, value]`` pairs (nested mappings likewise)."""
    def mapping(value: Any) -> Any:
        if isinstance(value, list) and value and all(
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) for item in value
        ):
            return {key: mapping(item) for key, item in value}
        return value

    return {str(key): mapping(value) for key, value in _json(text)}


def _statistics(text: Any) -> dict[str, Any]:
    """Spike statistics stored as JSON pairs (NaN written as null): null back to NaN."""
    return {k: (np.nan if v is None else v) for k, v in _pairs(text).items()}


def _side(columns: dict[str, np.ndarray], i: int, which: str, unit_id: int, model_name: str) -> DICEstimate:
    def value(name: str) -> Any:
        return columns[f"{which}_{name}"][i]

    return DICEstimate(
        unit_ids=(unit_id,), model_name=model_name, threshold=float(columns["threshold"][i]),
        g_s=[float(value("g_s"))], g_u=[float(value("g_u"))], g_s_std=[float(value("g_s_std"))],
        g_u_std=[float(value("g_u_std"))], network_class=(str(value("network_class")),),
        out_of_distribution=[bool(value("out_of_distribution"))], status=(str(value("status")),),
        network_version=str(columns["network_version"][i]), g_f=[float(value("g_f"))],
        n_spikes_used=[int(value("n_spikes"))],
    )


def _window(columns: dict[str, np.ndarray], i: int, which: str) -> tuple[float, float] | None:
    start, stop = float(columns[f"{which}_t_start"][i]), float(columns[f"{which}_t_stop"][i])
    return None if np.isnan(start) else (start, stop)


def read_neuromodulation(
    analyses: Any, ranking: Any, populations: Any, members: Any, ids: np.ndarray
) -> tuple[NeuromodulationResult, ...]:
    """The NeuromodulationResult of each row of NeuromodulationAnalyses (ndx-dicpop >= 0.3.0)."""
    import pandas as pd

    from nwb_dicpop.neuromodulation import NeuromodulationResult

    columns = {name: _column(analyses, name) for name in analyses.colnames if name != "units"}
    unit_ids = ids[np.asarray(analyses["units"].data[:], dtype=np.int64)]
    text = ("subset", "tie_reason")  # python str lists: pandas infers the dtype the analysis' table has
    frame = pd.DataFrame({name: [str(v) for v in _column(ranking, name)] if name in text else _column(ranking, name)
                          for name in RANKING_COLUMNS})
    frame["rank"] = pd.array([pd.NA if r < 0 else int(r) for r in frame["rank"]], dtype="Int64")
    for name in ("size", "n_simulated"):
        frame[name] = frame[name].astype(np.int64)
    frame["bound_decides"] = frame["bound_decides"].astype(bool)
    ranked_in = np.asarray(ranking["analysis"].data[:], dtype=np.int64)
    pops, _ = read_populations(populations, members, ids)
    owner = np.asarray(populations["analysis"].data[:], dtype=np.int64)
    roles = _column(populations, "role")
    subsets = _column(populations, "subset")
    out = []
    for i, unit_id in enumerate(unit_ids):
        uid = int(unit_id)
        model_name = str(columns["model_name"][i])
        mine = [k for k in range(len(pops)) if owner[k] == i]
        before = next(pops[k] for k in mine if roles[k] == "before")
        no_change = {key: float(columns[f"no_change_{key}"][i])
                     for key in ("log_evidence", "log_evidence_dic", "agreement", "reproduced_fraction")}
        out.append(NeuromodulationResult(
            model_name=model_name,
            ranking=frame[ranked_in == i].reset_index(drop=True),
            detectable=bool(columns["detectable"][i]),
            reason=str(columns["reason"][i]),
            before=_side(columns, i, "before", uid, model_name),
            after=_side(columns, i, "after", uid, model_name),
            before_statistics=_statistics(columns["before_statistics"][i]),
            after_statistics=_statistics(columns["after_statistics"][i]),
            before_population=before,
            moved={str(subsets[k]): pops[k] for k in mine if roles[k] == "moved"},
            no_change=no_change,
            bound_notes=tuple(str(n) for n in _json(columns["bound_notes"][i])),
            change_detected=bool(columns["change_detected"][i]),
            settings=_pairs(columns["settings"][i]),
            unit_id=uid,
            before_window=_window(columns, i, "before"),
            after_window=_window(columns, i, "after"),
        ))
    return tuple(out)
