"""The built-in demo: simulated units with known conductances, run through the whole pipeline.

:func:`make_demo_recordings` simulates STG and DA neurons whose DICs are known (a mix of tonic
spikers and bursters). Each neuron is one member of a degenerate population drawn at a chosen
``(g_s, g_u)`` and simulated with Brian2 for as long as the network's training recordings last.
The spike trains go into mock NWB files, one per model, with the true DICs as Units columns.
:func:`run_demo` then runs :func:`~nwb_dicpop.run_pipeline` on each file and compares the
inferred DICs with the true ones. Nothing is downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop.containers import SpikeTrains

if TYPE_CHECKING:
    import pandas as pd

    from nwb_dicpop.pipeline import PipelineResult

__all__ = ["DEMO_TARGETS", "DemoResult", "make_demo_recordings", "run_demo"]

log = logging.getLogger(__name__)

# (g_s, g_u) of the demo units: tonic spikers (g_s > 0) and bursters (g_s < 0)
DEMO_TARGETS: dict[str, tuple[tuple[float, float], ...]] = {
    "stg": ((8.0, 4.0), (3.0, 7.0), (-3.0, 5.0), (-8.0, 6.0), (-12.0, 10.0), (-16.0, 14.0)),
    "da": ((6.0, 5.0), (2.0, 8.0), (-3.0, 6.0), (-6.0, 10.0)),
}
# recorded duration after a 3 s transient, as in the network's training data (science.md 7)
RECORDED_SECONDS = {"stg": 3.0, "da": 9.0}
TRANSIENT_SECONDS = 3.0


def make_demo_recordings(
    output_dir: str | Path,
    *,
    models: tuple[str, ...] = ("stg", "da"),
    units_per_target: int = 1,
    rng: int = 0,
) -> dict[str, Path]:
    """Simulate demo units and write one mock NWB file per model.

    Parameters
    ----------
    output_dir : path
        Folder for ``demo_<model>.nwb`` (created if missing).
    models : tuple of str
    units_per_target : int
        Units simulated per ``DEMO_TARGETS`` entry (different members of the same population).
    rng : int
        Seed.

    Returns
    -------
    dict of str to pathlib.Path
        The file of each model.
    """
    import nwb_dicpop as ndp
    from nwb_dicpop.testing import write_mock_nwb

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for k, model in enumerate(models):
        targets = DEMO_TARGETS[model]
        g_s = np.repeat([t[0] for t in targets], units_per_target)
        g_u = np.repeat([t[1] for t in targets], units_per_target)
        populations = ndp.generate_populations(model, [t[0] for t in targets], [t[1] for t in targets],
                                               n_models=units_per_target, rng=rng + k, thresholds=False)
        conductances = np.concatenate([p.conductances for p in populations])
        duration = RECORDED_SECONDS[model]
        result = ndp.simulate_population(conductances, model=model, duration=TRANSIENT_SECONDS + duration,
                                         transient=TRANSIENT_SECONDS, rng=rng + k)
        spikes = SpikeTrains(list(result.spike_times), t_start=0.0, t_stop=duration, source=f"demo {model}")
        true_dics = np.concatenate([p.dics for p in populations])
        paths[model] = write_mock_nwb(
            folder / f"demo_{model}.nwb", spikes, epochs={},
            unit_columns={"model": [model] * len(g_s), "true_g_f": true_dics[:, 0], "true_g_s": g_s, "true_g_u": g_u},
        )
        log.info("wrote %d simulated %s units to %s", len(g_s), model, paths[model])
    return paths


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    recordings : dict of str to pathlib.Path
        The simulated input files.
    results : dict of str to PipelineResult
        The pipeline result of each model.
    comparison : pandas.DataFrame
        One row per unit: true and inferred DICs, uncertainty, status, valid fraction.
    figure : pathlib.Path or None
        Summary PNG (None when matplotlib is missing).
    skipped : tuple of str
        Models left out because no network weights ship for them yet.
    """

    recordings: dict[str, Path]
    results: dict[str, PipelineResult]
    comparison: pd.DataFrame
    figure: Path | None
    skipped: tuple[str, ...] = ()


def run_demo(
    output_dir: str | Path,
    *,
    n_models: int = 20,
    validate: bool = True,
    seed: int = 0,
    scheduler: Any = None,
    weights: dict[str, str | Path] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoResult:
    """Generate the demo recordings, run the pipeline on them and compare with the truth.

    Parameters
    ----------
    output_dir : path
        Where the demo NWB files, the annotated files and ``demo_summary.png`` go.
    n_models : int
        Members per unit population.
    validate : bool
        Simulate and score every population.
    seed : int
    scheduler : None, "local", address or distributed.Client
    weights : dict of str to path, optional
        Network weights per model; default the shipped weights.
    progress : callable, optional
        ``progress(stage, n_done, n_total)``.

    Returns
    -------
    DemoResult
    """
    import pandas as pd

    from nwb_dicpop.inference.predict import available_weights
    from nwb_dicpop.io import read_spike_trains  # noqa: F401 - fail early if I/O is unavailable
    from nwb_dicpop.pipeline import run_pipeline

    folder = Path(output_dir)
    weights = dict(weights or {})
    shipped = available_weights()
    models = tuple(m for m in DEMO_TARGETS if m in weights or shipped.get(m))
    skipped = [m for m in DEMO_TARGETS if m not in models]
    if not models:
        msg = "No network weights are available for the demo models; pass weights= (see nwb_dicpop.inference)."
        raise ValueError(msg)
    if skipped:
        log.warning("no network weights ship for model(s) %s yet: the demo runs %s only", skipped, list(models))
    recordings = make_demo_recordings(folder, models=models, rng=seed)
    results = {}
    frames = []
    for model, path in recordings.items():
        result = run_pipeline(
            path, model=model, n_models=n_models, validate=validate, seed=seed, overwrite=True,
            duration=TRANSIENT_SECONDS + RECORDED_SECONDS[model], transient=TRANSIENT_SECONDS, scheduler=scheduler,
            weights=weights.get(model), progress=progress,
        )
        results[model] = result
        truth = _true_dics(path)
        frame = result.summary.merge(truth, on="unit_id", how="left")
        frame.insert(0, "model", model)
        frames.append(frame)
    comparison = pd.concat(frames, ignore_index=True)
    figure = _summary_figure(comparison, folder / "demo_summary.png")
    return DemoResult(recordings=recordings, results=results, comparison=comparison, figure=figure,
                      skipped=tuple(skipped))


def _true_dics(path: Path) -> pd.DataFrame:
    import pandas as pd
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        return pd.DataFrame(
            {
                "unit_id": np.asarray(units.id.data[:]),
                "true_g_s": np.asarray(units["true_g_s"].data[:]),
                "true_g_u": np.asarray(units["true_g_u"].data[:]),
            }
        )


def _summary_figure(comparison: pd.DataFrame, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no summary figure (pip install 'nwb_dicpop[plot]')")
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    colors = {"stg": "tab:blue", "da": "tab:orange"}
    for k, name in enumerate(("g_s", "g_u")):
        ax = axes[k]
        for model, group in comparison.groupby("model"):
            ax.errorbar(group[f"true_{name}"], group[name], yerr=group[f"{name}_std"], fmt="o",
                        color=colors.get(model, "k"), label=model.upper(), capsize=3)
        limits = [comparison[[f"true_{name}", name]].min().min() - 1, comparison[[f"true_{name}", name]].max().max() + 1]
        ax.plot(limits, limits, "k--", lw=0.8)
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"inferred {name} (±1 sd)")
        ax.set_title(f"{name}: inferred vs true")
        ax.legend()
    ax = axes[2]
    labels = [f"{m} {u}" for m, u in zip(comparison["model"], comparison["unit_id"], strict=True)]
    ax.bar(range(len(labels)), comparison["valid_fraction"].fillna(0.0),
           color=[colors.get(m, "k") for m in comparison["model"]])
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of valid members")
    ax.set_title("populations that fire like the recording")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
