"""Input checks of the neuromodulation analysis: trains, windows, subsets, limits.

Every message names the parameter, what was received and what to do (the package's
template, see ``nwb_dicpop._validation``).
"""

from __future__ import annotations

import difflib
import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nwb_dicpop.containers import DICEstimate, SpikeTrains
from nwb_dicpop.models import NeuronModel

__all__ = [
    "Train",
    "candidate_subsets",
    "check_limits",
    "estimate_row",
    "resolve_trains",
    "subset_name",
    "train_from_value",
]

MIN_SPIKES = 5
"""Fewest spikes accepted in a train (or window) of the analysis."""


@dataclass(frozen=True)
class Train:
    """One spike train (seconds) in its observation window, or a given DIC estimate."""

    label: str
    times: np.ndarray | None
    t_start: float
    t_stop: float
    estimate: DICEstimate | None = None

    @property
    def n_spikes(self) -> int:
        """Spikes in the window (0 for an estimate)."""
        return 0 if self.times is None else int(self.times.size)


def subset_name(subset: Iterable[str]) -> str:
    """Conductance names joined by ``"+"`` (``("A", "H")`` -> ``"A+H"``)."""
    return "+".join(subset)


def _modulable(spec: NeuronModel) -> list[str]:
    return [name for name in spec.conductance_names if name != spec.leak]


def _check_name(spec: NeuronModel, name: Any, where: str) -> str:
    names = _modulable(spec)
    if isinstance(name, str) and name in names:
        return name
    if name == spec.leak:
        msg = (
            f"{where} contains the leak {spec.leak!r}, which cannot be modulated here (DICs are "
            f"normalised by it); use conductances from {names}."
        )
        raise ValueError(msg)
    hint = ""
    if isinstance(name, str):
        lowered = {n.lower(): n for n in names}
        close = [lowered[name.lower()]] if name.lower() in lowered else difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    msg = f"{where} names unknown conductance {name!r} of model {spec.name!r}; expected one of {names}.{hint}"
    raise ValueError(msg)


def candidate_subsets(spec: NeuronModel, subsets: Any, max_subset_size: Any) -> list[tuple[str, ...]]:
    """The candidate subsets, each in the model's conductance order, without repeats."""
    names = _modulable(spec)
    if isinstance(max_subset_size, bool) or not isinstance(max_subset_size, (int, np.integer)) or max_subset_size < 1:
        msg = f"`max_subset_size` must be a positive integer; got {max_subset_size!r}. Pass 1 or 2."
        raise ValueError(msg)
    if max_subset_size > len(names):
        msg = (
            f"`max_subset_size`={max_subset_size} exceeds the {len(names)} conductances of model "
            f"{spec.name!r} that can be modulated ({', '.join(names)}); pass at most 2."
        )
        raise ValueError(msg)
    if max_subset_size > 2:
        msg = (
            f"`max_subset_size`={max_subset_size}: subsets of more than 2 conductances are not "
            "supported, because the inferred (g_s, g_u) give two equations and a larger subset "
            "is never determined by them; pass 1 or 2."
        )
        raise ValueError(msg)
    if subsets is None:
        return [c for k in range(1, int(max_subset_size) + 1) for c in itertools.combinations(names, k)]
    if isinstance(subsets, str) or not isinstance(subsets, Iterable):
        msg = (
            f"`subsets` must be a list of subsets, each a name such as 'A+H' or a tuple such as "
            f"('A', 'H'); got {subsets!r}."
        )
        raise TypeError(msg)
    out: list[tuple[str, ...]] = []
    for item in subsets:
        parts = item.split("+") if isinstance(item, str) else list(item) if isinstance(item, (tuple, list)) else None
        if not parts:
            msg = f"`subsets` entry {item!r} is not a conductance name, a 'A+H' string or a tuple of names."
            raise TypeError(msg)
        checked = [_check_name(spec, p.strip() if isinstance(p, str) else p, f"`subsets` entry {item!r}") for p in parts]
        if len(set(checked)) != len(checked):
            msg = f"`subsets` entry {item!r} repeats a conductance; list each conductance once."
            raise ValueError(msg)
        if len(checked) > max_subset_size:
            msg = (
                f"`subsets` entry {item!r} has {len(checked)} conductances, more than "
                f"`max_subset_size`={max_subset_size}; raise max_subset_size (at most 2) or drop it."
            )
            raise ValueError(msg)
        ordered = tuple(sorted(checked, key=spec.conductance_names.index))
        if ordered not in out:
            out.append(ordered)
    if not out:
        msg = "`subsets` is empty; pass at least one subset, or None for every subset."
        raise ValueError(msg)
    return out


def check_limits(spec: NeuronModel, limits: Any) -> dict[str, tuple[float, float]]:
    """Per-conductance ratio limits: the model's, overridden by ``limits``."""
    out = {name: spec.modulation_limit(name) for name in _modulable(spec)}
    if limits is None:
        return out
    if not isinstance(limits, Mapping):
        msg = f"`modulation_limits` must be a mapping {{name: (low, high)}}; got {type(limits).__name__}."
        raise TypeError(msg)
    for name, value in limits.items():
        _check_name(spec, name, "`modulation_limits`")
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError) as err:
            msg = f"`modulation_limits[{name!r}]` must be a (low, high) pair of ratios; got {value!r}."
            raise ValueError(msg) from err
        if not 0 < low <= 1 <= high < np.inf:
            msg = (
                f"`modulation_limits[{name!r}]` must satisfy 0 < low <= 1 <= high < inf (ratios "
                f"g_after / g_before); got {value!r}."
            )
            raise ValueError(msg)
        out[name] = (low, high)
    return out


# --------------------------------------------------------------------------- trains
def _is_window(value: Any) -> bool:
    return (
        isinstance(value, tuple) and len(value) == 2
        and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value)
    )


def _one_unit(spikes: SpikeTrains, unit: Any, parameter: str) -> int:
    if unit is None:
        if spikes.n_units != 1:
            msg = (
                f"`{parameter}` holds {spikes.n_units} units {list(spikes.unit_ids)[:10]}; pass "
                "unit=<id> to choose one."
            )
            raise ValueError(msg)
        return 0
    if unit not in spikes.unit_ids:
        from nwb_dicpop._validation import check_choice

        check_choice("unit", str(unit), [str(u) for u in spikes.unit_ids])
    return spikes.unit_ids.index(unit)


def train_from_value(value: Any, label: str, unit: Any) -> Train:
    """A train or estimate from one ``before``/``after`` value (no recording)."""
    if isinstance(value, DICEstimate):
        index = _one_unit_estimate(value, unit, label)
        return Train(label, None, np.nan, np.nan, estimate_row(value, index))
    if _is_window(value):
        msg = (
            f"`{label}` is a window {value!r} (seconds) but no `recording` was given; pass "
            "recording=<spike times, SpikeTrains or NWB path>, or pass the spike times themselves."
        )
        raise TypeError(msg)
    if isinstance(value, SpikeTrains):
        i = _one_unit(value, unit, label)
        return Train(label, np.asarray(value.times[i]), float(value.t_start[i]), float(value.t_stop[i]))
    if hasattr(value, "rescale") and hasattr(value, "t_start"):  # neo.SpikeTrain
        times = np.asarray(value.rescale("s").magnitude, dtype=np.float64).reshape(-1)
        return Train(label, times, float(value.t_start.rescale("s").magnitude), float(value.t_stop.rescale("s").magnitude))
    if isinstance(value, (str, bytes, os.PathLike)):
        msg = (
            f"`{label}` is a path ({value!r}); pass the file as recording= and the windows or epoch "
            "names as before= and after=."
        )
        raise TypeError(msg)
    try:
        times = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = (
            f"`{label}` must be spike times in seconds (1-D array), a one-unit SpikeTrains, a "
            f"neo.SpikeTrain or a DICEstimate; got {type(value).__name__}."
        )
        raise TypeError(msg) from err
    if times.ndim != 1:
        msg = f"`{label}` must be one train: a 1-D array of spike times in seconds; got shape {times.shape}."
        raise ValueError(msg)
    spikes = SpikeTrains([times], t_start=min(0.0, float(times[0])) if times.size else 0.0,
                         t_stop=float(times[-1]) if times.size else 0.0)
    return Train(label, np.asarray(spikes.times[0]), float(spikes.t_start[0]), float(spikes.t_stop[0]))


def _one_unit_estimate(estimate: DICEstimate, unit: Any, label: str) -> int:
    if unit is not None and unit in estimate.unit_ids:
        return estimate.unit_ids.index(unit)
    if estimate.n_units != 1:
        msg = f"`{label}` is a DICEstimate of {estimate.n_units} units; pass unit=<id> to choose one."
        raise ValueError(msg)
    return 0


def estimate_row(estimate: DICEstimate, i: int) -> DICEstimate:
    return DICEstimate(
        unit_ids=(estimate.unit_ids[i],), model_name=estimate.model_name, threshold=estimate.threshold,
        g_s=estimate.g_s[i:i + 1], g_u=estimate.g_u[i:i + 1], g_s_std=estimate.g_s_std[i:i + 1],
        g_u_std=estimate.g_u_std[i:i + 1], network_class=estimate.network_class[i:i + 1],
        out_of_distribution=estimate.out_of_distribution[i:i + 1], status=estimate.status[i:i + 1],
        network_version=estimate.network_version, g_f=estimate.g_f[i:i + 1],
        n_spikes_used=estimate.n_spikes_used[i:i + 1],
    )


def _window(value: Any, label: str, span: tuple[float, float]) -> tuple[float, float]:
    if not _is_window(value):
        msg = (
            f"`{label}` must be a window (t_start, t_stop) in seconds when `recording` is given "
            f"(or an epoch name for an NWB file); got {value!r}."
        )
        raise TypeError(msg)
    t0, t1 = float(value[0]), float(value[1])
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        msg = f"`{label}` window {value!r} must have finite t_start < t_stop (seconds)."
        raise ValueError(msg)
    if t0 < span[0] - 1e-9 or t1 > span[1] + 1e-9:
        msg = (
            f"`{label}` window [{t0:g}, {t1:g}] s lies outside the recording [{span[0]:g}, {span[1]:g}] s; "
            "choose a window inside it."
        )
        raise ValueError(msg)
    return t0, t1


def resolve_trains(before: Any, after: Any, *, recording: Any, unit: Any, min_spikes: int) -> tuple[Train, Train]:
    """The ``before`` and ``after`` trains (or estimates), checked."""
    if recording is None:
        trains = (train_from_value(before, "before", unit), train_from_value(after, "after", unit))
    else:
        trains = _from_recording(before, after, recording, unit)
    for train in trains:
        if train.estimate is None and train.n_spikes < min_spikes:
            msg = (
                f"`{train.label}` has {train.n_spikes} spike(s) in [{train.t_start:g}, {train.t_stop:g}] s; "
                f"at least {min_spikes} are needed to infer DICs. Use a longer window or another unit."
            )
            raise ValueError(msg)
    return trains


def _from_recording(before: Any, after: Any, recording: Any, unit: Any) -> tuple[Train, Train]:
    if isinstance(recording, (str, os.PathLike)):
        return _from_file(before, after, recording, unit)
    if isinstance(recording, SpikeTrains):
        i = _one_unit(recording, unit, "recording")
        times, span = np.asarray(recording.times[i]), (float(recording.t_start[i]), float(recording.t_stop[i]))
    else:
        train = train_from_value(recording, "recording", unit)
        if train.times is None:
            msg = "`recording` must hold spike times, not a DICEstimate."
            raise TypeError(msg)
        times, span = train.times, (train.t_start, train.t_stop)
    windows = [_window(w, label, span) for w, label in ((before, "before"), (after, "after"))]
    _check_overlap(windows)
    return tuple(  # type: ignore[return-value]
        Train(label, times[(times >= t0) & (times <= t1)], t0, t1)
        for (t0, t1), label in zip(windows, ("before", "after"), strict=True)
    )


def _check_overlap(windows: list[tuple[float, float]]) -> None:
    (b0, b1), (a0, a1) = windows
    if b0 < a1 and a0 < b1:
        msg = (
            f"The `before` window [{b0:g}, {b1:g}] s and the `after` window [{a0:g}, {a1:g}] s "
            "overlap; choose disjoint windows (before the modulation, and after it has acted)."
        )
        raise ValueError(msg)


def _from_file(before: Any, after: Any, path: Any, unit: Any) -> tuple[Train, Train]:
    from nwb_dicpop.io import read_spike_trains

    unit_ids = None if unit is None else [unit]
    whole = read_spike_trains(path, unit_ids=unit_ids)
    i = _one_unit(whole, None if unit is None else unit, "recording")
    span = (float(whole.t_start[i]), float(whole.t_stop[i]))
    uid = [whole.unit_ids[i]]
    out = []
    windows = []
    for value, label in ((before, "before"), (after, "after")):
        if isinstance(value, str):
            spikes = read_spike_trains(path, unit_ids=uid, epoch=value)
        else:
            spikes = read_spike_trains(path, unit_ids=uid, window=_window(value, label, span))
        windows.append((float(spikes.t_start[0]), float(spikes.t_stop[0])))
        out.append(Train(label, np.asarray(spikes.times[0]), windows[-1][0], windows[-1][1]))
    _check_overlap(windows)
    return out[0], out[1]
