"""Accuracy, calibration and robustness metrics of a trained DIC network.

Metrics: mean absolute error of ``g_s`` and ``g_u`` overall and split by the true
firing class, spiking-vs-bursting accuracy, coverage of the nominal 90 % intervals, fraction
flagged out of distribution; robustness under spike jitter, spike deletion, and on Poisson
trains.

Uncertainty metrics (:func:`~nwb_dicpop.inference.posterior.calibration_report`):
coverage of the central 90 % (and 50 %) marginal intervals of the network's posterior (the
joint posterior for networks with a posterior head, else ``mean +- 1.645 std``), the energy
score of the posterior and of today's independent Gaussians (``N(mean, std^2)`` of the sigma
head) with their ratio, and simulation-based calibration rank histograms per DIC.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dicpop._files import write_bytes_atomic
from nwb_dicpop._validation import normalize_rng
from nwb_dicpop.inference.data import TrainingSet, load_training_data
from nwb_dicpop.inference.features import MIN_SPIKES, perturb_spike_trains
from nwb_dicpop.inference.network import LoadedNetwork, load_network
from nwb_dicpop.inference.ood import irregular_isis
from nwb_dicpop.inference.predict import predict_arrays, resolve_weights

__all__ = [
    "evaluate",
    "evaluate_end_to_end",
    "evaluate_network",
    "poisson_trains",
    "record_evaluation",
    "record_isi_check",
]

Z90 = 1.6448536269514722


def _network(model: str | None, weights: str | Path | LoadedNetwork | None, data: TrainingSet) -> LoadedNetwork:
    if isinstance(weights, LoadedNetwork):
        return weights
    return load_network(resolve_weights(model or data.model_name, weights))


def evaluate_network(
    data: TrainingSet | str | Path | Sequence[str | Path],
    *,
    weights: str | Path | LoadedNetwork | None = None,
    model: str | None = None,
    jitter: float = 0.0,
    drop_fraction: float = 0.0,
    batch_size: int = 1024,
    max_spikes: int | None = None,
    rng: int | np.random.Generator | None = 0,
    posterior_metrics: bool = True,
    n_draws: int = 199,
) -> dict[str, Any]:
    """Accuracy and calibration metrics of a network on labelled trains.

    Parameters
    ----------
    data : TrainingSet or dataset path(s)
        Labelled trains (generated with a different seed than the training set).
    weights : None, str, Path or LoadedNetwork
        Network (default: the newest shipped one for the data's model).
    model : str, optional
        Defaults to the data's model.
    jitter : float
        Gaussian spike jitter (seconds) applied before inference (robustness).
    drop_fraction : float
        Probability of deleting each spike before inference (robustness).
    batch_size, max_spikes
        As in :func:`~nwb_dicpop.inference.predict.infer_dics`.
    rng : None, int or numpy.random.Generator
        Seeds the perturbations.
    posterior_metrics : bool
        Also compute the energy scores and rank histograms (a few seconds per 1,000 trains).
    n_draws : int
        Posterior draws per train for the energy score and the ranks (seeded, seed 0).

    Returns
    -------
    dict
        ``n_trains``, ``n_silent``, ``mae_g_s``, ``mae_g_u``, ``mae_g_s_spiking``,
        ``mae_g_u_spiking``, ``mae_g_s_bursting``, ``mae_g_u_bursting``, ``class_accuracy``,
        ``coverage90_g_s``, ``coverage90_g_u`` (the posterior's central 90 % marginal
        intervals), ``coverage90_gaussian_g_s``, ``coverage90_gaussian_g_u`` (today's
        ``mean +- 1.645 std`` of the sigma head), ``mean_std_g_s``, ``mean_std_g_u``,
        ``ood_fraction``, ``ood_isi_fraction`` (flagged by the ISI check alone),
        ``trains_per_second``, ``has_posterior``, ``point_estimate``; for networks with a
        posterior head also ``mae_*_point_head`` (the point head's error, overall and per class)
        and ``posterior_mae_<dic>_<class>`` (the error the posterior expects of its median,
        ``E|X - median|`` over 400 seeded draws: equal to the measured MAE when the posterior is
        calibrated, so no other point estimate from it can do much better); with
        ``posterior_metrics``: ``energy_score``, ``energy_score_gaussian``,
        ``energy_score_ratio`` (and per true class), ``coverage50_*``, ``interval90_width_*``,
        ``gaussian_mass_outside_support``, ``sbc_g_s``, ``sbc_g_u`` (rank histograms) and
        ``sbc_n_draws`` (see :func:`~nwb_dicpop.inference.posterior.calibration_report`).
    """
    if not isinstance(data, TrainingSet):
        data = load_training_data(data)
    loaded = _network(model, weights, data)
    trains = data.trains(np.arange(len(data)))
    if jitter > 0 or drop_fraction > 0:
        trains = perturb_spike_trains(trains, jitter=jitter, drop_fraction=drop_fraction, rng=normalize_rng(rng))
    lengths = np.array([t.size for t in trains])
    active = np.flatnonzero((data.labels > 0) & (lengths >= MIN_SPIKES))
    start = time.perf_counter()
    out = predict_arrays(loaded, [trains[i] for i in active], batch_size=batch_size, max_spikes=max_spikes)
    elapsed = time.perf_counter() - start
    targets = data.targets[active]
    labels = data.labels[active]
    error = np.abs(out.mean - targets)
    backbone = out.mean if out.backbone_mean is None else out.backbone_mean
    backbone_error = np.abs(backbone - targets)
    gaussian_std = out.std if out.gaussian_std is None else out.gaussian_std
    covered = backbone_error <= Z90 * gaussian_std
    predicted = np.where(out.p_bursting > 0.5, 2, 1)
    metrics: dict[str, Any] = {
        "n_trains": int(active.size),
        "n_silent": int(len(data) - active.size),
        "mae_g_s": float(error[:, 0].mean()),
        "mae_g_u": float(error[:, 1].mean()),
        "class_accuracy": float(np.mean(predicted == labels)),
        "coverage90_g_s": float(covered[:, 0].mean()),
        "coverage90_g_u": float(covered[:, 1].mean()),
        "coverage90_gaussian_g_s": float(covered[:, 0].mean()),
        "coverage90_gaussian_g_u": float(covered[:, 1].mean()),
        "mean_std_g_s": float(out.std[:, 0].mean()),
        "mean_std_g_u": float(out.std[:, 1].mean()),
        "ood_fraction": float(out.out_of_distribution.mean()),
        "ood_isi_fraction": float(irregular_isis([trains[i] for i in active], loaded.card.get("support"),
                                                 max_spikes=max_spikes or loaded.card.get("max_spikes")).mean()),
        "point_estimate": "posterior median" if out.has_posterior else "point head",
        "trains_per_second": float(active.size / elapsed) if elapsed > 0 else float("nan"),
        "has_posterior": bool(out.has_posterior),
    }
    expected = None
    if out.has_posterior:  # the posterior's own central 90 % intervals
        from nwb_dicpop.inference.posterior import marginal_quantiles, mixture_draws

        low, high = marginal_quantiles(out.weights, out.means, out.scale_tril, out.support, [0.05, 0.95])
        inside = (targets >= low) & (targets <= high)
        metrics["coverage90_g_s"], metrics["coverage90_g_u"] = float(inside[:, 0].mean()), float(inside[:, 1].mean())
        # the error the posterior itself expects of its median: E|X - median| over its draws (seeded)
        draws = mixture_draws(out.weights, out.means, out.scale_tril, out.support, 400, np.random.default_rng(0))
        expected = np.abs(draws - out.mean[:, None, :]).mean(axis=1)
    for label, name in ((1, "spiking"), (2, "bursting")):
        chosen = labels == label
        metrics[f"n_{name}"] = int(chosen.sum())
        metrics[f"mae_g_s_{name}"] = float(error[chosen, 0].mean()) if chosen.any() else float("nan")
        metrics[f"mae_g_u_{name}"] = float(error[chosen, 1].mean()) if chosen.any() else float("nan")
        if expected is not None and chosen.any():
            metrics[f"posterior_mae_g_s_{name}"] = float(expected[chosen, 0].mean())
            metrics[f"posterior_mae_g_u_{name}"] = float(expected[chosen, 1].mean())
        if out.has_posterior:  # the point head's error, for comparison with the posterior median
            metrics[f"mae_g_s_{name}_point_head"] = float(backbone_error[chosen, 0].mean()) if chosen.any() else float("nan")
            metrics[f"mae_g_u_{name}_point_head"] = float(backbone_error[chosen, 1].mean()) if chosen.any() else float("nan")
    if out.has_posterior:
        metrics["mae_g_s_point_head"] = float(backbone_error[:, 0].mean())
        metrics["mae_g_u_point_head"] = float(backbone_error[:, 1].mean())
    if posterior_metrics and active.size:
        metrics.update(_uncertainty_metrics(loaded, out, targets, labels, n_draws))
    return metrics


def _uncertainty_metrics(
    loaded: LoadedNetwork, out: Any, targets: np.ndarray, labels: np.ndarray, n_draws: int
) -> dict[str, Any]:
    """Energy scores, interval coverage and SBC ranks (seeded draws)."""
    from nwb_dicpop.inference.posterior import calibration_report
    from nwb_dicpop.models import available_models, get_model

    support = out.support
    model = loaded.card.get("model")
    if support is None and model in available_models() and get_model(model).training is not None:
        support = np.array(get_model(model).training.target_box, dtype=np.float64)
    gaussian_std = out.std if out.gaussian_std is None else out.gaussian_std
    backbone = out.mean if out.backbone_mean is None else out.backbone_mean
    report = calibration_report(
        targets, mean=backbone, std=gaussian_std, weights=out.weights, means=out.means, scale_tril=out.scale_tril,
        support=support, n_draws=n_draws, rng=0, classes={"spiking": labels == 1, "bursting": labels == 2},
    )
    # the same exact interval coverage as evaluate_network's own keys
    return {k: v for k, v in report.items() if k not in ("coverage90_g_s", "coverage90_g_u")}


def poisson_trains(
    rates: Sequence[float], *, duration: float, n_per_rate: int, rng: int | np.random.Generator | None = 0
) -> list[np.ndarray]:
    """Homogeneous Poisson spike trains (seconds) at each rate (Hz), ``n_per_rate`` each."""
    generator = normalize_rng(rng)
    trains = []
    for rate in rates:
        for _ in range(n_per_rate):
            n = generator.poisson(rate * duration)
            trains.append(np.sort(generator.uniform(0.0, duration, n)))
    return trains


END_TO_END_TARGETS = ("point", "sampled", "true")
"""Where the members' targets come from in :func:`evaluate_end_to_end`."""


def evaluate_end_to_end(
    data: TrainingSet | str | Path | Sequence[str | Path],
    *,
    weights: str | Path | None = None,
    model: str | None = None,
    n_trains: int = 100,
    n_models: int = 20,
    transient: float = 3.0,
    seed: int = 0,
    targets: Sequence[str] = END_TO_END_TARGETS,
) -> dict[str, Any]:
    """Spike trains -> DICs -> populations -> simulation -> validation, on test trains.

    ``n_trains`` non-silent trains are drawn from ``data`` (seeded). For each, one round of
    ``n_models`` members is drawn and simulated for ``transient`` seconds (discarded; 3 s in
    the training protocol) plus the data's recorded duration, and every member is scored
    against the input train under the default rule of :func:`~nwb_dicpop.validate_population`.
    The figure per train is the *first-round yield*: valid members / simulated members
    (:func:`~nwb_dicpop.run_pipeline` with ``max_rounds=1``, read from the unit's outcome),
    before any redrawing; :func:`~nwb_dicpop.run_pipeline`'s later rounds turn a yield into
    exactly ``n_models`` valid members at a cost of about ``n_models / yield`` simulations.
    The members' targets come from, for each entry of ``targets``:

    - ``"point"``: the inferred DICs (``uncertainty_scale=0``: every member at the point
      estimate);
    - ``"sampled"``: drawn from the inferred posterior (the pipeline's default);
    - ``"true"``: the train's own true DICs, no network involved: how well the DICs alone
      determine the train under the validation rule (not an upper bound for the network,
      which may pick DICs nearer the middle of the train's firing regime).

    Returns
    -------
    dict
        ``n_trains``, ``n_models``, ``max_rounds`` (1); per variant ``v``:
        ``mean_valid_fraction_<v>`` (the first-round yield averaged over the trains, 0 for a
        train that got no population) and its split by the true firing class
        (``..._<v>_spiking``, ``..._<v>_bursting``; trains with a population only).
        ``mean_valid_fraction`` repeats the first variant. ``n_failed`` / ``failures``:
        trains that got no population to simulate (first variant), by status.
    """
    from nwb_dicpop.containers import SpikeTrains
    from nwb_dicpop.pipeline import run_pipeline

    unknown = [t for t in targets if t not in END_TO_END_TARGETS]
    if unknown or not targets:
        msg = f"`targets` must be a non-empty subset of {END_TO_END_TARGETS}; got {list(targets)!r}."
        raise ValueError(msg)
    if not isinstance(data, TrainingSet):
        data = load_training_data(data)
    generator = np.random.default_rng(seed)
    eligible = np.flatnonzero((data.labels > 0) & (data.n_spikes >= MIN_SPIKES))
    chosen = np.sort(generator.choice(eligible, size=min(n_trains, eligible.size), replace=False))
    trains = data.trains(chosen)
    spikes = SpikeTrains(trains, unit_ids=[int(i) for i in chosen],
                         t_start=[min(0.0, float(t[0])) for t in trains],
                         t_stop=[max(data.duration, float(t[-1])) for t in trains])
    labels = data.labels[chosen]
    common = {"n_models": n_models, "duration": data.duration, "transient": transient}
    report: dict[str, Any] = {"n_trains": int(chosen.size), "n_models": int(n_models), "max_rounds": 1}
    for variant in targets:
        if variant == "true":
            fractions, failures = _true_target_validity(spikes, data.targets[chosen], model or data.model_name,
                                                        seed=seed, **common)
        else:
            result = run_pipeline(spikes, model=model or data.model_name, weights=weights, seed=seed, write=False,
                                  max_rounds=1, uncertainty_scale=0.0 if variant == "point" else 1.0, **common)
            simulated = result.summary["n_simulated"].to_numpy() > 0
            fractions = np.where(simulated, result.summary["yield"].to_numpy(dtype=np.float64), np.nan)
            failures = result.summary.loc[~simulated, "status"].value_counts().to_dict()
        fractions = np.asarray(fractions, dtype=np.float64)
        mean = float(np.nan_to_num(fractions, nan=0.0).sum() / max(chosen.size, 1))
        report[f"mean_valid_fraction_{variant}"] = mean
        if variant == targets[0]:
            report.update(mean_valid_fraction=mean, n_failed=int(sum(failures.values())), failures=failures)
        for label, name in ((1, "spiking"), (2, "bursting")):
            rows = (labels == label) & np.isfinite(fractions)
            report[f"mean_valid_fraction_{variant}_{name}"] = float(fractions[rows].mean()) if rows.any() else float("nan")
    return report


def _true_target_validity(
    spikes: Any, true_dics: np.ndarray, model: str, *, n_models: int, duration: float, transient: float, seed: int
) -> tuple[np.ndarray, dict[str, int]]:
    """First-round yield per train of populations built at the trains' true DICs."""
    from nwb_dicpop._tasks import (
        PopulationSettings,
        SimulationWindow,
        batch_tasks,
        run_batch,
        target_estimate,
    )

    estimate = target_estimate(model, spikes.unit_ids, true_dics[:, 0], true_dics[:, 1])
    tasks = batch_tasks(estimate, PopulationSettings(n_models=n_models, seed=seed),
                        observed=[spikes.times[i] - spikes.t_start[i] for i in range(len(spikes.unit_ids))],
                        validation=SimulationWindow(duration=duration, transient=transient))
    outcomes = {o.unit_id: o for task in tasks for o in run_batch(task)}
    fractions = np.array([outcomes[u].yield_ for u in spikes.unit_ids])  # NaN where nothing was simulated
    failures: dict[str, int] = {}
    for outcome in outcomes.values():
        if outcome.n_simulated == 0:
            failures[outcome.status] = failures.get(outcome.status, 0) + 1
    return fractions, failures


def evaluate(
    model: str,
    data_dir: str | Path | Sequence[str | Path],
    *,
    weights: str | Path | None = None,
    noisy_data_dir: str | Path | Sequence[str | Path] | None = None,
    jitters: Sequence[float] = (0.001, 0.002, 0.005),
    drop_fraction: float = 0.05,
    poisson_rates: Sequence[float] = (2.0, 5.0, 10.0, 15.0, 30.0),
    end_to_end: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """The issue's evaluation report for one model (CLI hook).

    Parameters
    ----------
    model : {"stg", "da"}
    data_dir : path(s)
        Test dataset(s) generated with a seed different from the training data.
    weights : optional
        Network to evaluate (default: the newest shipped one).
    noisy_data_dir : path(s), optional
        Test datasets simulated with current noise, one report entry ``noise_sigma_<sigma>``
        per dataset.
    jitters : sequence of float
        Spike jitters (seconds) for the robustness rows.
    drop_fraction : float
        Spike deletion probability for the robustness row.
    poisson_rates : sequence of float
        Rates (Hz) of the Poisson trains (recorded duration of the test data).
    end_to_end : int
        Test trains run through :func:`evaluate_end_to_end` (0: skip; it simulates
        20 members per train).
    seed : int

    Returns
    -------
    dict
        ``{"clean": metrics, "jitter_1ms": ..., "drop_5pct": ..., "noise_sigma_3": ..., "poisson": {...}}``.
    """
    data = load_training_data(data_dir)
    loaded = load_network(resolve_weights(model, weights))
    report: dict[str, Any] = {"network": loaded.version, "model": model, "clean": evaluate_network(data, weights=loaded)}
    for k, jitter in enumerate(jitters):
        report[f"jitter_{jitter * 1e3:g}ms"] = evaluate_network(data, weights=loaded, jitter=jitter, rng=seed + k)
    if drop_fraction > 0:
        report[f"drop_{drop_fraction * 100:g}pct"] = evaluate_network(
            data, weights=loaded, drop_fraction=drop_fraction, rng=seed + 100
        )
    if noisy_data_dir is not None:
        folders = [noisy_data_dir] if isinstance(noisy_data_dir, (str, Path)) else list(noisy_data_dir)
        for folder in folders:  # one row per noise level
            noisy = load_training_data(folder)
            sigma = float(np.max(noisy.noise_sigma, initial=0.0))
            report[f"noise_sigma_{sigma:g}"] = evaluate_network(noisy, weights=loaded)
    poisson: dict[str, Any] = {}
    for rate in poisson_rates:
        trains = [t for t in poisson_trains([rate], duration=data.duration, n_per_rate=200, rng=seed) if t.size >= MIN_SPIKES]
        if not trains:
            continue
        out = predict_arrays(loaded, trains)
        poisson[f"{rate:g}Hz"] = {
            "n_trains": len(trains),
            "ood_fraction": float(out.out_of_distribution.mean()),
            "ood_isi_fraction": float(irregular_isis(trains, loaded.card.get("support"),
                                                     max_spikes=loaded.card.get("max_spikes")).mean()),
            "bursting_fraction": float(np.mean(out.p_bursting > 0.5)),
            "mean_g_s": float(out.mean[:, 0].mean()),
            "mean_g_u": float(out.mean[:, 1].mean()),
        }
    report["poisson"] = poisson
    if end_to_end > 0:
        report["end_to_end"] = evaluate_end_to_end(data, weights=loaded.path, model=model, n_trains=end_to_end,
                                                   seed=seed)
    return report


def record_evaluation(
    card_path: str | Path, name: str, metrics: dict[str, Any], *, section: str = "evaluation"
) -> Path:
    """Store ``metrics`` under ``card[section][name]`` in a network's JSON card (atomic).

    ``section`` is ``"evaluation"`` (``nwb-dicpop evaluate-network --record``) or
    ``"identifiability"`` (``benchmarks/bench_identifiability.py --record``).  The card's
    checksum covers the ``.pt`` weights only, so recording metrics does not invalidate it.
    """
    import json

    if section not in ("evaluation", "identifiability"):
        msg = f"`section` must be 'evaluation' or 'identifiability'; got {section!r}."
        raise ValueError(msg)
    path = Path(card_path)
    card = json.loads(path.read_text())
    card.setdefault(section, {})[name] = metrics
    write_bytes_atomic(path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    return path


def record_isi_check(
    card_path: str | Path,
    data: TrainingSet | str | Path | Sequence[str | Path],
    *,
    quantile: float = 0.995,
    tolerated_jitter: float = 0.005,
    seed: int = 0,
    n_chunks: int | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Calibrate the ISI check of the out-of-distribution flag and store it in a network's card.

    The thresholds come from :func:`~nwb_dicpop.inference.ood.calibrate_isi_check` on the
    non-silent trains of ``data`` (simulated trains of the card's model, from another seed
    than the test sets) and are written, atomically, to ``card["support"]["isi_periodicity"]``
    with the data's path(s) and ``command``.  ``n_chunks`` uses only the first simulation
    chunks of a dataset folder (a reproducible subset of a larger generation, see
    :func:`~nwb_dicpop.inference.data.load_training_data`).  The card's checksum covers the
    ``.pt`` weights only, so the weights stay valid.

    Returns
    -------
    dict
        What was stored.
    """
    import json

    from nwb_dicpop.inference.ood import calibrate_isi_check

    path = Path(card_path)
    card = json.loads(path.read_text())
    names = [str(data)] if isinstance(data, (str, Path)) else [] if isinstance(data, TrainingSet) \
        else [str(p) for p in data]
    if not isinstance(data, TrainingSet):
        data = load_training_data(data, n_chunks=n_chunks)
    if data.model_name != card.get("model"):
        msg = f"`data` holds {data.model_name!r} trains but the card {path.name} is for {card.get('model')!r}."
        raise ValueError(msg)
    active = np.flatnonzero((data.labels > 0) & (data.n_spikes >= MIN_SPIKES))
    check = calibrate_isi_check(data.trains(active), max_spikes=card.get("max_spikes"), quantile=quantile,
                                tolerated_jitter=tolerated_jitter, rng=seed)
    check["data"] = names
    manifests = [Path(name) / "manifest.json" for name in names]
    check["generation"] = [json.loads(m.read_text()) if m.is_file() else {} for m in manifests]
    if n_chunks is not None:
        check["n_chunks"] = int(n_chunks)
    if command:
        check["command"] = command
    card.setdefault("support", {})["isi_periodicity"] = check
    write_bytes_atomic(path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    return check
