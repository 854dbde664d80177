"""Figures of the neuromodulation analysis (matplotlib, imported when a function is called).

One module that tutorials, the command line and a GUI can share.  Every function draws on a
given ``ax`` (or a new figure), returns the axes, and can save the figure to ``path``.

* :func:`plot_modulation_map`: reachability of a ``(g_s, g_u)`` grid by a subset, cost as
  colour, unreachable regions hatched, the "before" population, the "after" DICs and the
  moved members' paths;
* :func:`plot_ranking`: the ranked subsets with their log Bayes factors and ties;
* :func:`plot_conductances`: conductance distributions before and after a subset's move;
* :func:`plot_trajectory`: the DIC trajectory over time, with uncertainty;

and of the recordings, estimates and populations they start from:

* :func:`plot_raster` and :func:`plot_isi_histogram`: spike trains;
* :func:`plot_dic_estimates`: units in the ``(g_s, g_u)`` plane with a posterior cloud;
* :func:`plot_population_distributions` and :func:`plot_population_scatter`: a population's
  maximal conductances;
* :func:`plot_voltage_traces`: simulated membrane voltage.

Install with ``pip install 'nwb_dicpop[plot]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nwb_dicpop.containers import DICEstimate, Population, SimulationResult
    from nwb_dicpop.neuromodulation import DICTrajectory, ModulationMap, NeuromodulationResult

__all__ = [
    "plot_conductances",
    "plot_dic_estimates",
    "plot_isi_histogram",
    "plot_modulation_map",
    "plot_population_distributions",
    "plot_population_scatter",
    "plot_ranking",
    "plot_raster",
    "plot_trajectory",
    "plot_voltage_traces",
    "save_figure",
]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = "Figures need matplotlib: pip install 'nwb_dicpop[plot]'."
        raise ImportError(msg) from err
    return plt


def _axes(ax: Any, size: tuple[float, float] = (6.0, 4.5)) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=size, constrained_layout=True)
    return ax


# marker and colour of each class (the network's) in the trajectory figure
_CLASS_STYLES = {"bursting": ("s", "tab:red"), "spiking": ("o", "tab:green"), "silent": ("x", "black")}


def _save(ax: Any, path: str | Path | None) -> None:
    if path is not None:
        ax.figure.savefig(Path(path), dpi=150)


def plot_modulation_map(
    modulation_map: ModulationMap,
    *,
    after: tuple[float, float] | None = None,
    moved: Any = None,
    n_paths: int = 20,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Reachability map: mean cost as colour where reached, unreachable cells hatched.

    Parameters
    ----------
    modulation_map : ModulationMap
        From :func:`~nwb_dicpop.neuromodulation.modulation_map`.
    after : (float, float), optional
        ``(g_s, g_u)`` of the "after" state, drawn as a star.
    moved : Population, optional
        Members after the move (same order as the map's starting population); arrows join
        ``n_paths`` of them to their starting DICs.
    n_paths : int
        Arrows drawn.
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save the figure there.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    m = modulation_map
    s, u = m.g_s_values, m.g_u_values
    cost = np.where(m.fraction > 0, m.mean_cost, np.nan)
    extent = (s[0], s[-1], u[0], u[-1])
    image = ax.imshow(cost, origin="lower", extent=extent, aspect="auto", cmap="viridis")
    ax.figure.colorbar(image, ax=ax, label="mean cost  sum |ln(g_after / g_before)|")
    unreachable = (m.fraction == 0).astype(float)
    if unreachable.any():
        ax.contourf(s, u, unreachable, levels=[0.5, 1.5], colors="none", hatches=["//"])
    if np.any(m.fraction > 0) and np.any(m.fraction < 1):
        lines = ax.contour(s, u, m.fraction, levels=[0.25, 0.5, 0.75], colors="white", linewidths=0.8)
        ax.clabel(lines, fmt=lambda v: f"{v:.0%}", fontsize=7)
    start = m.start_dics
    ax.scatter(start[:, 1], start[:, 2], s=6, c="black", alpha=0.5, label="before population")
    if moved is not None:
        end = np.asarray(moved.dics)
        for i in range(min(n_paths, end.shape[0], start.shape[0])):
            ax.annotate("", xy=(end[i, 1], end[i, 2]), xytext=(start[i, 1], start[i, 2]),
                        arrowprops={"arrowstyle": "->", "color": "tab:red", "lw": 0.6, "alpha": 0.7})
    if after is not None:
        ax.scatter([after[0]], [after[1]], marker="*", s=160, c="tab:red", edgecolors="white", label="after")
    ax.set_xlim(s[0], s[-1])
    ax.set_ylim(u[0], u[-1])
    ax.set_xlabel("g_s (slow DIC)")
    ax.set_ylabel("g_u (ultraslow DIC)")
    ax.set_title(f"{m.model_name}: reachable by {'+'.join(m.subset)} (hatched: unreachable)")
    ax.legend(loc="upper right", fontsize=7)
    _save(ax, path)
    return ax


def plot_ranking(result: NeuromodulationResult, *, top: int = 12, ax: Any = None, path: str | Path | None = None) -> Any:
    """The ranked subsets: log Bayes factor against no change, first rank highlighted.

    Parameters
    ----------
    result : NeuromodulationResult
    top : int
        Subsets shown (best first).
    ax : matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (6.0, 0.3 * top + 1.5))
    frame = result.ranking.head(top)
    factors = frame["log_bayes_factor"].to_numpy(dtype=float)
    first = (frame["rank"] == 1).fillna(False).to_numpy(dtype=bool)
    colours = np.where(first, "tab:red", "tab:gray")
    positions = np.arange(len(frame))[::-1]
    ax.barh(positions, np.where(np.isfinite(factors), factors, 0.0), color=colours)
    ranks = frame["rank"].astype("Int64")
    labels = [
        name if ranks.isna().iloc[i] else f"{name}  (rank {int(ranks.iloc[i])})"
        for i, name in enumerate(frame["subset"])
    ]
    ax.set_yticks(positions, labels, fontsize=8)
    threshold = result.settings.get("detection_threshold")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=0.8, label="detection threshold")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("log Bayes factor against no change")
    title = "first rank: " + ", ".join(result.top) if result.detectable else "not detectable"
    ax.set_title(title, fontsize=9)
    _save(ax, path)
    return ax


def plot_conductances(
    result: NeuromodulationResult, subset: str | None = None, *, ax: Any = None, path: str | Path | None = None
) -> Any:
    """Distributions of each conductance (log scale) before and after a subset's move.

    Parameters
    ----------
    result : NeuromodulationResult
    subset : str, optional
        A key of ``result.moved``; default the first one.
    ax : matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    matplotlib Axes
    """
    if not result.moved:
        msg = "`result` holds no moved population to plot."
        raise ValueError(msg)
    name = subset if subset is not None else next(iter(result.moved))
    if name not in result.moved:
        msg = f"`subset` {name!r} is not among the moved populations {list(result.moved)}."
        raise ValueError(msg)
    ax = _axes(ax, (7.0, 4.0))
    before = result.before_population
    after = result.moved[name]
    names = before.conductance_names
    positions = np.arange(len(names))
    for offset, population, colour, label in ((-0.2, before, "tab:blue", "before"), (0.2, after, "tab:red", f"after ({name})")):
        values = [np.log10(np.clip(population.conductances[:, j], 1e-12, None)) for j in range(len(names))]
        parts = ax.violinplot(values, positions=positions + offset, widths=0.35, showmedians=True)
        for body in parts["bodies"]:
            body.set_facecolor(colour)
            body.set_alpha(0.5)
        ax.plot([], [], color=colour, lw=6, alpha=0.5, label=label)
    changed = set(name.split("+"))
    ax.set_xticks(positions, [f"{n}*" if n in changed else n for n in names])
    ax.set_ylabel("log10 maximal conductance (mS/cm^2)")
    ax.set_title("conductances before and after (* changed)", fontsize=9)
    ax.legend(fontsize=7)
    _save(ax, path)
    return ax


def plot_trajectory(trajectory: DICTrajectory, *, axes: Any = None, path: str | Path | None = None) -> Any:
    """``g_s`` and ``g_u`` over time, with one-sigma bands; windows without estimates are gaps.

    Each window's marker shows the class the network assigned to its train
    (``DICTrajectory.network_class``; one legend entry per class present); windows without an
    estimate are marked along the bottom edge of each panel.

    Parameters
    ----------
    trajectory : DICTrajectory
    axes : sequence of two matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    sequence of matplotlib Axes
    """
    if axes is None:
        _, axes = _pyplot().subplots(2, 1, figsize=(7.0, 4.5), sharex=True, constrained_layout=True)
    t = trajectory.times
    classes = np.array([str(c) for c in trajectory.network_class], dtype=object)
    shown = [c for c in _CLASS_STYLES if np.any(classes == c)] + sorted(set(classes) - set(_CLASS_STYLES))
    for ax, value, std, label in ((axes[0], trajectory.g_s, trajectory.g_s_std, "g_s"),
                                  (axes[1], trajectory.g_u, trajectory.g_u_std, "g_u")):
        ax.plot(t, value, "-", lw=1.0, color="tab:blue")
        ax.fill_between(t, value - std, value + std, color="tab:blue", alpha=0.25, lw=0)
        ax.set_ylabel(label)
        for name in shown:
            marker, colour = _CLASS_STYLES.get(name, ("D", "tab:gray"))
            where = classes == name
            estimated = where & np.isfinite(value)
            ax.scatter(t[estimated], value[estimated], marker=marker, s=16, color=colour, zorder=3, label=name)
            # windows without an estimate (too few spikes) are marked along the bottom edge
            missing = where & ~np.isfinite(value)
            ax.scatter(t[missing], np.full(missing.sum(), 0.04), marker=marker, s=16, color=colour, zorder=3,
                       transform=ax.get_xaxis_transform(), clip_on=False)
    axes[0].legend(title="network's class of each window", fontsize=7, title_fontsize=7)
    if t.size:
        pad = 0.03 * (float(t.max() - t.min()) or 1.0)
        for ax in (axes[0], axes[1]):
            ax.set_xlim(float(t.min()) - pad, float(t.max()) + pad)
    axes[1].set_xlabel("time (s, window centre)")
    axes[0].set_title(f"{trajectory.model_name}: DICs over sliding windows", fontsize=9)
    if path is not None:
        axes[0].figure.savefig(Path(path), dpi=150)
    return axes


# --------------------------------------------------------------------------- spike trains and populations
def plot_raster(
    spiketrains: Any,
    *,
    reference: Any = None,
    reference_label: str = "recording",
    labels: Any = None,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Spike raster: one row per train, an optional reference train on top in red.

    Parameters
    ----------
    spiketrains : SpikeTrains or sequence of array of float
        Spike times in seconds, one train per row.
    reference : array of float, optional
        A train drawn above the others (e.g. the recording that simulated members should
        reproduce), in seconds.
    reference_label : str
        Row label of ``reference``.
    labels : sequence of str, optional
        Row labels of ``spiketrains``; default their unit ids (or 0, 1, ...).
    ax : matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    matplotlib Axes
    """
    trains = [np.asarray(t, dtype=float) for t in getattr(spiketrains, "times", spiketrains)]
    names = [str(u) for u in (labels if labels is not None else getattr(spiketrains, "unit_ids", range(len(trains))))]
    if len(names) != len(trains):
        msg = f"`labels` needs one label per train ({len(trains)}); got {len(names)}."
        raise ValueError(msg)
    rows = [(names[i], trains[i], "black") for i in range(len(trains))]
    if reference is not None:
        rows.insert(0, (reference_label, np.asarray(reference, dtype=float), "tab:red"))
    ax = _axes(ax, (7.0, 0.35 * len(rows) + 1.5))
    for k, (_, times, colour) in enumerate(rows):
        position = len(rows) - 1 - k
        ax.vlines(times, position - 0.4, position + 0.4, color=colour, lw=0.8)
    ax.set_yticks(np.arange(len(rows))[::-1], [name for name, _, _ in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("time (s)")
    _save(ax, path)
    return ax


def plot_isi_histogram(
    spiketrain: Any, *, bins: int = 40, title: str | None = None, ax: Any = None, path: str | Path | None = None
) -> Any:
    """Histogram of the inter-spike intervals of one train, on log-spaced bins.

    Bursting trains show two modes (intra-burst and inter-burst intervals); tonic trains one.

    Parameters
    ----------
    spiketrain : array of float
        Spike times in seconds.
    bins : int
        Number of log-spaced bins.
    title : str, optional
    ax : matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (5.0, 3.5))
    isi = np.diff(np.sort(np.asarray(spiketrain, dtype=float)))
    isi = isi[isi > 0]
    if isi.size:
        edges = np.geomspace(isi.min() * 0.9, isi.max() * 1.1, int(bins) + 1)
        ax.hist(isi * 1e3, bins=edges * 1e3, color="tab:blue")
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "fewer than two spikes", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("inter-spike interval (ms)")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title, fontsize=9)
    _save(ax, path)
    return ax


def plot_dic_estimates(
    estimate: DICEstimate,
    *,
    unit: Any = None,
    n_samples: int = 500,
    rng: Any = 0,
    truth: Any = None,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Each unit in the ``(g_s, g_u)`` plane with one-sigma bars; one unit's posterior as a cloud.

    Parameters
    ----------
    estimate : DICEstimate
    unit : object, optional
        Unit id whose posterior draws (:meth:`~nwb_dicpop.DICEstimate.sample`) are drawn.
    n_samples : int
        Posterior draws shown.
    rng : None, int or numpy.random.Generator
        Seed of the draws.
    truth : array of float, shape (n_units, 2), optional
        Known ``(g_s, g_u)`` per unit (simulated data), drawn as crosses.
    ax : matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    matplotlib Axes

    Notes
    -----
    The dashed box is the network's training support (``posterior_support``) when the
    estimate has a joint posterior; units marked with a red ring are out of distribution.
    """
    ax = _axes(ax, (6.0, 4.5))
    ids = list(estimate.unit_ids)
    support = estimate.posterior_support
    if support is not None:
        (s_lo, s_hi), (u_lo, u_hi) = support
        ax.add_patch(_pyplot().Rectangle((s_lo, u_lo), s_hi - s_lo, u_hi - u_lo, fill=False, ls="--", lw=0.8,
                                          ec="gray", label="training support"))
    if unit is not None:
        if unit not in ids:
            msg = f"`unit` {unit!r} is not among the estimate's units {ids}."
            raise ValueError(msg)
        draws = estimate.sample(int(n_samples), rng=rng)[ids.index(unit)]
        ax.scatter(draws[:, 0], draws[:, 1], s=4, alpha=0.25, color="tab:blue", label=f"posterior of unit {unit}")
    ok = np.asarray(estimate.ok, dtype=bool)
    ax.errorbar(estimate.g_s[ok], estimate.g_u[ok], xerr=estimate.g_s_std[ok], yerr=estimate.g_u_std[ok], fmt="o",
                ms=5, color="black", ecolor="gray", lw=0.8, label="estimate (one sigma)")
    for i in np.flatnonzero(ok):
        ax.annotate(str(ids[i]), (estimate.g_s[i], estimate.g_u[i]), xytext=(4, 4), textcoords="offset points",
                    fontsize=7)
    ood = ok & np.asarray(estimate.out_of_distribution, dtype=bool)
    if ood.any():
        ax.scatter(estimate.g_s[ood], estimate.g_u[ood], s=120, facecolors="none", edgecolors="tab:red",
                   label="out of distribution")
    if truth is not None:
        known = np.asarray(truth, dtype=float).reshape(-1, 2)
        ax.scatter(known[:, 0], known[:, 1], marker="x", color="tab:green", label="true")
    ax.set_xlabel("g_s (slow DIC)")
    ax.set_ylabel("g_u (ultraslow DIC)")
    ax.set_title(f"{estimate.model_name}: inferred DICs", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    _save(ax, path)
    return ax


def plot_population_distributions(population: Population, *, axes: Any = None, path: str | Path | None = None) -> Any:
    """Histogram of each maximal conductance of a population (log10 scale), one panel each.

    Parameters
    ----------
    population : Population
    axes : sequence of matplotlib Axes, optional
        One per conductance.
    path : str or Path, optional

    Returns
    -------
    sequence of matplotlib Axes
    """
    names = population.conductance_names
    if axes is None:
        columns = 4
        rows = int(np.ceil(len(names) / columns))
        _, grid = _pyplot().subplots(rows, columns, figsize=(2.2 * columns, 1.9 * rows), constrained_layout=True)
        axes = list(np.ravel(grid))
        for extra in axes[len(names):]:
            extra.set_visible(False)
    for j, name in enumerate(names):
        values = np.log10(np.clip(population.conductances[:, j], 1e-12, None))
        axes[j].hist(values, bins=20, color="tab:blue")
        axes[j].set_title(name, fontsize=9)
        axes[j].tick_params(labelsize=7)
    axes[0].figure.supxlabel("log10 maximal conductance (mS/cm^2)", fontsize=8)
    axes[0].figure.supylabel("number of members", fontsize=8)
    if path is not None:
        axes[0].figure.savefig(Path(path), dpi=150)
    return axes


def plot_population_scatter(
    population: Population, x: str, y: str, *, highlight: Any = None, ax: Any = None, path: str | Path | None = None
) -> Any:
    """Two maximal conductances of every member against each other (log-log).

    Parameters
    ----------
    population : Population
    x, y : str
        Conductance names.
    highlight : sequence of int, optional
        Members drawn in red (e.g. those simulated).
    ax : matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    matplotlib Axes
    """
    names = list(population.conductance_names)
    for label, name in (("x", x), ("y", y)):
        if name not in names:
            msg = f"`{label}` {name!r} is not a conductance of the population; choose one of {names}."
            raise ValueError(msg)
    ax = _axes(ax, (5.0, 4.0))
    gx, gy = population.conductance(x), population.conductance(y)
    ax.scatter(gx, gy, s=10, color="tab:blue", alpha=0.7, label="members")
    if highlight is not None and len(highlight):
        chosen = np.asarray(highlight, dtype=int)
        ax.scatter(gx[chosen], gy[chosen], s=30, color="tab:red", label="chosen")
        ax.legend(fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"g_{x} (mS/cm^2)")
    ax.set_ylabel(f"g_{y} (mS/cm^2)")
    ax.set_title(f"{population.n_models} members, unit {population.unit_id}", fontsize=9)
    _save(ax, path)
    return ax


def plot_voltage_traces(
    simulation: SimulationResult, *, max_traces: int = 4, axes: Any = None, path: str | Path | None = None
) -> Any:
    """Membrane voltage of the recorded members of a simulation, one panel each.

    Parameters
    ----------
    simulation : SimulationResult
        Simulated with ``record_voltage`` (see :func:`~nwb_dicpop.simulate_population`).
    max_traces : int
        Panels drawn at most.
    axes : sequence of matplotlib Axes, optional
    path : str or Path, optional

    Returns
    -------
    sequence of matplotlib Axes
    """
    voltage = np.asarray(simulation.voltage)
    if voltage.size == 0:
        msg = "`simulation` holds no voltage traces; simulate with record_voltage=[...] (member indices)."
        raise ValueError(msg)
    n = min(int(max_traces), voltage.shape[0])
    if axes is None:
        _, axes = _pyplot().subplots(n, 1, figsize=(7.0, 1.4 * n + 0.8), sharex=True, squeeze=False,
                                     constrained_layout=True)
        axes = list(axes[:, 0])
    t = np.arange(voltage.shape[1]) * simulation.dt
    for k in range(n):
        axes[k].plot(t, voltage[k], lw=0.6, color="black")
        axes[k].set_ylabel(f"member {int(simulation.voltage_members[k])}\nV (mV)", fontsize=7)
        axes[k].tick_params(labelsize=7)
    axes[n - 1].set_xlabel("time (s, after the transient)")
    if path is not None:
        axes[0].figure.savefig(Path(path), dpi=150)
    return axes


def save_figure(figure: Any, path: str | Path, *, close: bool = True) -> Path:
    """Save a figure atomically (format from the suffix: .png, .svg, .pdf) and close it.

    Parameters
    ----------
    figure : matplotlib Figure, Axes or sequence of Axes
        What a ``plot_*`` function returned, or its figure.
    path : str or Path
        Destination; its folder must exist.  Written to a temporary file first, then moved.
    close : bool
        Close the figure afterwards (frees its memory in long sessions and scripts).

    Returns
    -------
    pathlib.Path
    """
    from nwb_dicpop._files import atomic_destination

    first = np.ravel(np.asarray(figure, dtype=object))[0] if isinstance(figure, (list, tuple, np.ndarray)) else figure
    fig = getattr(first, "figure", first)
    target = Path(path)
    with atomic_destination(target) as tmp:
        fig.savefig(tmp, dpi=150, format=target.suffix.lstrip(".").lower() or None)
    if close:
        _pyplot().close(fig)
    return target
