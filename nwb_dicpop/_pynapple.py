"""The package's pynapple boundary: spike trains and per-unit results as a ``pynapple.TsGroup``.

pynapple is optional (``pip install pynapple``) and imported here only, by the first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nwb_dicpop.containers import SpikeTrains

__all__ = ["to_tsgroup"]


def _import_pynapple() -> Any:
    try:
        import pynapple
    except ImportError as err:
        msg = "to_pynapple needs pynapple, which is not installed; install it with: pip install pynapple"
        raise ImportError(msg) from err
    return pynapple


def to_tsgroup(spikes: SpikeTrains, metadata: Mapping[str, Any]) -> Any:
    """A ``pynapple.TsGroup`` with one ``Ts`` per unit (seconds) and the given metadata columns.

    Parameters
    ----------
    spikes : SpikeTrains
        The units, in the order of the metadata values.
    metadata : mapping of str to array-like
        One value per unit for each column.

    Returns
    -------
    pynapple.TsGroup
        Keyed by the unit ids when they are integers (NWB Units ids are), else by position with
        the ids in a ``unit_id`` metadata column.  Its time support spans the recording
        (earliest ``t_start`` to latest ``t_stop`` of the units).
    """
    nap = _import_pynapple()
    ids = list(spikes.unit_ids)
    integer = all(isinstance(u, (int, np.integer)) and not isinstance(u, bool) for u in ids)
    keys = [int(u) for u in ids] if integer else list(range(len(ids)))
    columns = {name: np.asarray(values) for name, values in metadata.items()}
    if not integer:
        columns["unit_id"] = np.array([str(u) for u in ids], dtype=object)
    support = nap.IntervalSet(start=float(np.min(spikes.t_start)), end=float(np.max(spikes.t_stop)))
    group = nap.TsGroup({k: nap.Ts(t=np.asarray(times, dtype=np.float64), time_units="s")
                         for k, times in zip(keys, spikes.times, strict=True)}, time_support=support)
    if columns:
        import pandas as pd

        frame = pd.DataFrame(columns, index=keys)
        group.set_info(frame.loc[list(group.keys())])  # the group orders its units by key
    return group
