"""The per-unit results as plain columns: mirrored on the Units table and handed to pynapple.

Tools that show a file's units (pynapple's ``load_file``, NWB widgets, DANDI's previews) read the
columns of the ``Units`` table and not the extension's tables in ``processing/dicpop``.  So
:func:`nwb_dicpop.nwb.write_results` copies one value per unit of its results onto ``Units`` as
columns prefixed ``dicpop_`` (:data:`UNITS_COLUMNS`), whose descriptions start with
:data:`MARK`: that mark tells the columns written by nwb_dicpop (replaced when results are
written again) from a user's own column of the same name (never touched).  The same values are
the metadata of :meth:`nwb_dicpop.DicpopResults.to_pynapple`.

Functions here take the package's containers and, for the Units table on disk, the h5py group of
the file that :mod:`nwb_dicpop.nwb` opened (duck-typed: h5py is imported there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from nwb_dicpop.containers import DICEstimate, Population

__all__ = [
    "MARK",
    "NOT_ANALYSED",
    "PREFIX",
    "UNITS_COLUMNS",
    "drop_columns",
    "outcome_rows",
    "unit_key",
    "unit_result_columns",
    "written_columns",
]

PREFIX = "dicpop_"
"""Prefix of the Units columns that mirror the results."""

MARK = "nwb_dicpop: "
"""Start of the description of every mirrored column (how a re-annotation recognises its own)."""

NOT_ANALYSED = "not analysed"
"""``dicpop_status`` of a unit without a DIC estimate."""

UNITS_COLUMNS: dict[str, str] = {
    "dicpop_g_f": ("Fast DIC g_f at the model's threshold voltage V_th, inferred from the unit's spike train "
                   "(dimensionless; NaN: not inferred). Only when the network infers g_f. Source: "
                   "processing/dicpop/dic_estimates.g_f."),
    "dicpop_g_f_std": "One-sigma uncertainty of dicpop_g_f (dimensionless; NaN: not inferred).",
    "dicpop_g_s": ("Slow DIC g_s at V_th, inferred from the unit's spike train (dimensionless; NaN: no estimate, "
                   "see dicpop_status). Source: processing/dicpop/dic_estimates.g_s."),
    "dicpop_g_s_std": "One-sigma uncertainty of dicpop_g_s (dimensionless; NaN: no estimate).",
    "dicpop_g_u": ("Ultraslow DIC g_u at V_th, inferred from the unit's spike train (dimensionless; NaN: no "
                   "estimate). Source: processing/dicpop/dic_estimates.g_u."),
    "dicpop_g_u_std": "One-sigma uncertainty of dicpop_g_u (dimensionless; NaN: no estimate).",
    "dicpop_network_class": ("Firing class the inference network predicts from the spike train: 'spiking' or "
                             "'bursting' ('silent' below 3 spikes; '' when not analysed)."),
    "dicpop_status": ("'ok' when the DICs were estimated, otherwise why not ('silent', 'too few spikes', ...); "
                      f"'{NOT_ANALYSED}' for units left out of the analysis."),
    "dicpop_firing_class": ("Class of the spike train by the ISI-CV rule ('spiking', 'bursting', 'silent'; '' "
                            "when not computed). Source: processing/dicpop/spike_statistics.firing_class."),
    "dicpop_n_models": ("Members of the unit's degenerate population of conductance-based models (0: no "
                        "population). Source: processing/dicpop/population_members."),
    "dicpop_validation_status": ("'ok' when every requested member reproduces the unit's spike train in "
                                 "simulation, 'partial' when the validation budget ran out first; '' when the "
                                 "population was not validated."),
    "dicpop_yield": ("Fraction of the simulated members that reproduce the unit's spike train (n_valid / "
                     "n_simulated; NaN: not validated). Source: processing/dicpop/conductance_populations.yield."),
}
"""Every Units column :func:`~nwb_dicpop.write_results` may add, with its description (without
:data:`MARK`).  A column is written when its results are: the DIC columns with ``dics``
(``dicpop_g_f`` / ``dicpop_g_f_std`` only when the network inferred g_f), ``dicpop_firing_class``
with ``statistics`` holding a ``firing_class`` column, ``dicpop_n_models`` with ``populations``
and the validation columns with ``population_outcomes``."""


def unit_key(value: Any) -> Any:
    """A unit id as a plain ``int`` where it is one (numpy integers, ``"3"``), else unchanged."""
    value = value.item() if isinstance(value, np.generic) else value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def outcome_rows(frame: pd.DataFrame | None) -> dict[Any, dict[str, Any]] | None:
    """``DicpopResults.population_outcomes`` (one row per unit) as ``{unit id: {column: value}}``."""
    if frame is None:
        return None
    records = frame.to_dict(orient="records")
    return {unit_key(row.pop("unit_id")): row for row in records}


def _statistic(statistics: pd.DataFrame | None, name: str) -> dict[Any, Any]:
    if statistics is None:
        return {}
    frame = statistics
    if "unit_id" not in frame.columns and frame.index.name == "unit_id":
        frame = frame.reset_index()
    if name not in frame.columns or "unit_id" not in frame.columns:
        return {}
    return {unit_key(u): v for u, v in zip(frame["unit_id"], frame[name], strict=True)}


def unit_result_columns(
    unit_ids: Sequence[Any],
    *,
    dics: DICEstimate | None = None,
    populations: Sequence[Population] = (),
    statistics: pd.DataFrame | None = None,
    outcomes: Mapping[Any, Mapping[str, Any]] | None = None,
) -> list[tuple[str, str, Any]]:
    """The mirrored columns, ``(name, description, values)`` with one value per id of ``unit_ids``.

    Units without a result get NaN (numbers), ``""`` (text), 0 (``dicpop_n_models``) or
    ``"not analysed"`` (``dicpop_status``).  Descriptions start with :data:`MARK`.
    """
    keys = [unit_key(u) for u in unit_ids]
    columns: list[tuple[str, Any]] = []

    def floats(values: Mapping[Any, Any]) -> np.ndarray:
        return np.array([float(values[k]) if k in values and values[k] is not None else np.nan for k in keys],
                        dtype=np.float64)

    def texts(values: Mapping[Any, Any], missing: str = "") -> list[str]:
        return [str(values[k]) if k in values and values[k] is not None else missing for k in keys]

    if dics is not None:
        row = {unit_key(u): i for i, u in enumerate(dics.unit_ids)}

        def per_unit(array: Any) -> dict[Any, Any]:
            values = np.asarray(array)
            return {k: values[i] for k, i in row.items()}

        g_f_std = getattr(dics, "g_f_std", None)
        if np.any(np.isfinite(dics.g_f)):
            columns.append(("dicpop_g_f", floats(per_unit(dics.g_f))))
            if g_f_std is not None and np.any(np.isfinite(g_f_std)):
                columns.append(("dicpop_g_f_std", floats(per_unit(g_f_std))))
        columns += [
            ("dicpop_g_s", floats(per_unit(dics.g_s))),
            ("dicpop_g_s_std", floats(per_unit(dics.g_s_std))),
            ("dicpop_g_u", floats(per_unit(dics.g_u))),
            ("dicpop_g_u_std", floats(per_unit(dics.g_u_std))),
            ("dicpop_network_class", texts(per_unit(list(dics.network_class)))),
            ("dicpop_status", texts(per_unit(list(dics.status)), NOT_ANALYSED)),
        ]
    classes = _statistic(statistics, "firing_class")
    if classes:
        columns.append(("dicpop_firing_class", texts(classes)))
    if populations:
        sizes = {unit_key(p.unit_id): p.n_models for p in populations}
        columns.append(("dicpop_n_models", np.array([int(sizes.get(k, 0)) for k in keys], dtype=np.int64)))
    if outcomes:
        for name, field in (("dicpop_validation_status", "validation_status"), ("dicpop_yield", "yield")):
            values = {k: row[field] for k, row in outcomes.items() if field in row}
            if not values:
                continue
            if field == "yield":
                columns.append((name, floats(values)))
            else:
                columns.append((name, texts(values)))
    return [(name, MARK + UNITS_COLUMNS[name], values) for name, values in columns]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def written_columns(units: Any) -> tuple[list[str], list[str]]:
    """``(ours, foreign)`` column names of an h5py ``units`` group.

    ``ours``: the columns written by nwb_dicpop (prefixed, with :data:`MARK` descriptions);
    ``foreign``: columns named like one of :data:`UNITS_COLUMNS` but not written by nwb_dicpop.
    """
    names = [_text(name) for name in units.attrs.get("colnames", [])]
    ours, foreign = [], []
    for name in names:
        if not name.startswith(PREFIX) or name not in units:
            continue
        if _text(units[name].attrs.get("description", "")).startswith(MARK):
            ours.append(name)
        elif name in UNITS_COLUMNS:
            foreign.append(name)
    return ours, foreign


def drop_columns(units: Any, names: Sequence[str]) -> None:
    """Remove columns (and their ``_index`` datasets) from an h5py ``units`` group, and from its
    ``colnames`` attribute."""
    if not names:
        return
    for name in names:
        for dataset in (name, f"{name}_index"):
            if dataset in units:
                del units[dataset]
    kept = [_text(c) for c in units.attrs.get("colnames", []) if _text(c) not in names]
    units.attrs["colnames"] = np.array(kept, dtype=object)
