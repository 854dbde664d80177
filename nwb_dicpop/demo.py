"""The built-in demo: simulated units with known conductances, run through the whole pipeline.

:func:`make_demo_recordings` simulates STG and DA neurons whose DICs are known (a mix of tonic
spikers and bursters). Each neuron is one member of a degenerate population drawn at one of its
model's ``evaluation.demo_targets`` ``(g_s, g_u)`` and simulated with Brian2 as the network's
training recordings were (the model's ``training.duration`` recorded after its
``training.transient``).
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
from nwb_dicpop.models import NeuronModel, available_models, get_model

if TYPE_CHECKING:
    import pandas as pd

    from nwb_dicpop.pipeline import PipelineResult

__all__ = ["DemoResult", "make_demo_recordings", "run_demo"]

log = logging.getLogger(__name__)


def _demo_settings(model: str | NeuronModel) -> tuple[NeuronModel, tuple[tuple[float, float], ...], float, float]:
    """``(declaration, demo targets, recorded seconds, transient seconds)`` of a model.

    The targets are its ``evaluation.demo_targets`` (tonic spikers have g_s > 0, bursters
    g_s < 0); the times are its training protocol's, as in the network's training data.
    """
    spec = get_model(model)
    targets = tuple(spec.evaluation.demo_targets)
    if not targets:
        msg = (
            f"Model {spec.name!r} declares no demo units (`evaluation.demo_targets` is empty); declare "
            "EvaluationSettings(demo_targets=((g_s, g_u), ...)) in the model, or leave it out of `models`."
        )
        raise ValueError(msg)
    if spec.training is None:
        msg = (
            f"Model {spec.name!r} declares no training protocol (`training` is None), which sets how "
            "long the demo units are simulated; declare TrainingProtocol(...) in the model."
        )
        raise ValueError(msg)
    return spec, targets, float(spec.training.duration), float(spec.training.transient)


def _demo_models() -> tuple[str, ...]:
    """Registered models that declare demo units, in registration order (STG, DA, ...)."""
    return tuple(m for m in available_models() if get_model(m).evaluation.demo_targets)


def make_demo_recordings(
    output_dir: str | Path,
    *,
    models: tuple[str | NeuronModel, ...] = ("stg", "da"),
    units_per_target: int = 1,
    rng: int = 0,
) -> dict[str, Path]:
    """Simulate demo units and write one mock NWB file per model.

    Parameters
    ----------
    output_dir : path
        Folder for ``demo_<model>.nwb`` (created if missing).
    models : tuple of str
        Registered models with ``evaluation.demo_targets`` and a ``training`` protocol.
    units_per_target : int
        Units simulated per demo target of the model (different members of the same
        population).
    rng : int
        Seed.

    Returns
    -------
    dict of str to pathlib.Path
        The file of each model.

    Raises
    ------
    ValueError
        A model without demo targets or without a training protocol.
    """
    return {name: path for name, (path, _) in _write_recordings(output_dir, models, units_per_target, rng).items()}


def _write_recordings(
    output_dir: str | Path, models: tuple[str | NeuronModel, ...], units_per_target: int, rng: int
) -> dict[str, tuple[Path, pd.DataFrame]]:
    """:func:`make_demo_recordings`, also returning each file's true DICs per unit
    (columns ``unit_id``, ``true_g_s``, ``true_g_u``, as written in its Units table)."""
    import pandas as pd

    import nwb_dicpop as ndp
    from nwb_dicpop.testing import write_mock_nwb

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, model in enumerate(models):
        spec, targets, duration, transient = _demo_settings(model)
        name = spec.name
        g_s = np.repeat([t[0] for t in targets], units_per_target)
        g_u = np.repeat([t[1] for t in targets], units_per_target)
        populations = ndp.generate_populations(spec, [t[0] for t in targets], [t[1] for t in targets],
                                               n_models=units_per_target, rng=rng + k, thresholds=False)
        conductances = np.concatenate([p.conductances for p in populations])
        result = ndp.simulate_population(conductances, model=spec, duration=duration, transient=transient,
                                         rng=rng + k)
        spikes = SpikeTrains(list(result.spike_times), t_start=0.0, t_stop=duration, source=f"demo {name}")
        true_dics = np.concatenate([p.dics for p in populations])
        path = write_mock_nwb(
            folder / f"demo_{name}.nwb", spikes, epochs={},
            unit_columns={"model": [name] * len(g_s), "true_g_f": true_dics[:, 0], "true_g_s": g_s, "true_g_u": g_u},
        )
        truth = pd.DataFrame({"unit_id": np.asarray(spikes.unit_ids, dtype=np.int64), "true_g_s": g_s,
                              "true_g_u": g_u})
        out[name] = (path, truth)
        log.info("wrote %d simulated %s units to %s", len(g_s), name, path)
    return out


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
    candidates = _demo_models()
    models = tuple(m for m in candidates if m in weights or shipped.get(m))
    skipped = [m for m in candidates if m not in models]
    if not models:
        msg = "No network weights are available for the demo models; pass weights= (see nwb_dicpop.inference)."
        raise ValueError(msg)
    if skipped:
        log.warning("no network weights ship for model(s) %s yet: the demo runs %s only", skipped, list(models))
    written = _write_recordings(folder, models, 1, seed)
    recordings = {model: path for model, (path, _) in written.items()}
    results = {}
    frames = []
    for model, (path, truth) in written.items():
        _, _, duration, transient = _demo_settings(model)
        result = run_pipeline(
            path, model=model, n_models=n_models, validate=validate, seed=seed, overwrite=True,
            duration=duration, transient=transient, scheduler=scheduler,
            weights=weights.get(model), progress=progress,
        )
        results[model] = result
        frame = result.summary.merge(truth, on="unit_id", how="left")
        frame.insert(0, "model", model)
        frames.append(frame)
    comparison = pd.concat(frames, ignore_index=True)
    figure = _summary_figure(comparison, folder / "demo_summary.png")
    return DemoResult(recordings=recordings, results=results, comparison=comparison, figure=figure,
                      skipped=tuple(skipped))


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
