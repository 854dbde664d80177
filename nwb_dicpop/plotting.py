"""Figures of the neuromodulation analysis (matplotlib, imported when a function is called).

One module that tutorials, the command line and a GUI can share.  Every function draws on a
given ``ax`` (or a new figure), returns the axes, and can save the figure to ``path``.

* :func:`plot_modulation_map`: reachability of a ``(g_s, g_u)`` grid by a subset, cost as
  colour, unreachable regions hatched, the "before" population, the "after" DICs and the
  moved members' paths;
* :func:`plot_ranking`: the ranked subsets with their log Bayes factors and ties;
* :func:`plot_conductances`: conductance distributions before and after a subset's move;
* :func:`plot_trajectory`: the DIC trajectory over time, with uncertainty.

Install with ``pip install 'nwb_dicpop[plot]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nwb_dicpop.neuromodulation import DICTrajectory, ModulationMap, NeuromodulationResult

__all__ = ["plot_conductances", "plot_modulation_map", "plot_ranking", "plot_trajectory"]


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
    for ax, value, std, label in ((axes[0], trajectory.g_s, trajectory.g_s_std, "g_s"),
                                  (axes[1], trajectory.g_u, trajectory.g_u_std, "g_u")):
        ax.plot(t, value, "o-", ms=3, color="tab:blue")
        ax.fill_between(t, value - std, value + std, color="tab:blue", alpha=0.25, lw=0)
        ax.set_ylabel(label)
        bursting = np.array([c == "bursting" for c in trajectory.firing_class])
        if bursting.any():
            ax.scatter(t[bursting], value[bursting], marker="s", s=14, color="tab:red", zorder=3, label="bursting")
            ax.legend(fontsize=7)
    axes[1].set_xlabel("time (s, window centre)")
    axes[0].set_title(f"{trajectory.model_name}: DICs over sliding windows", fontsize=9)
    if path is not None:
        axes[0].figure.savefig(Path(path), dpi=150)
    return axes
