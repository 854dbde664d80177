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

__all__ = [
    "POPULATION_OUTCOME_COLUMNS",
    "VALIDATION_PREFIX",
    "read_dics",
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
        firing_class=tuple(str(v) for v in classes),
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

