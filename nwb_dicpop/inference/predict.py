"""``infer_dics``: spike trains in, DICs with uncertainty out.

The shipped networks live in ``nwb_dicpop/inference/weights/`` as ``<model>-v<N>.pt`` (state
dict) + ``<model>-v<N>.json`` (card with the SHA-256 of the ``.pt`` file, the normalisation,
the training support and the metrics); the highest version of a model is used unless
``weights=`` names another file.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nwb_dicpop._validation import check_positive
from nwb_dicpop.containers import DICEstimate
from nwb_dicpop.inference.features import MIN_SPIKES, encode_spike_trains, network_inputs
from nwb_dicpop.inference.network import LoadedNetwork, load_network
from nwb_dicpop.inference.ood import irregular_isis
from nwb_dicpop.inference.posterior import posterior_median
from nwb_dicpop.statistics import as_spike_trains

__all__ = ["NetworkOutputs", "available_weights", "infer_dics", "network_card", "predict_arrays", "resolve_weights"]

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_SILENT = "silent"


def weights_dir() -> Path:
    """Folder of the shipped network weights (``nwb_dicpop/inference/weights``)."""
    return Path(str(resources.files("nwb_dicpop.inference") / "weights"))


def available_weights() -> dict[str, list[str]]:
    """Shipped network versions per model, oldest first, e.g. ``{"stg": ["stg-v1"]}``."""
    found: dict[str, list[tuple[int, str]]] = {}
    for card in weights_dir().glob("*.json"):
        match = re.fullmatch(r"(.+)-v(\d+)", card.stem)
        if match and card.with_suffix(".pt").is_file():
            found.setdefault(match.group(1), []).append((int(match.group(2)), card.stem))
    return {model: [name for _, name in sorted(items)] for model, items in found.items()}


def resolve_weights(model: str, weights: str | Path | None = None) -> Path:
    """Path of the ``.json`` card to load for ``model``.

    Parameters
    ----------
    model : str
    weights : None, str or Path
        None: the newest shipped version for ``model``; a shipped version name
        (``"stg-v1"``); or a path to a ``.json``/``.pt`` file or their stem.
    """
    if weights is None:
        versions = available_weights().get(model)
        if not versions:
            msg = (
                f"No shipped network weights for model {model!r} (have: {sorted(available_weights())}). "
                "Train one with `nwb-dicpop train` and pass weights=<path>."
            )
            raise FileNotFoundError(msg)
        return weights_dir() / f"{versions[-1]}.json"
    path = Path(weights)
    if path.suffix == ".json":
        return path
    if path.suffix == ".pt":
        return path.with_suffix(".json")
    candidate = path.parent / f"{path.name}.json"
    if candidate.is_file():
        return candidate
    shipped = weights_dir() / f"{path.name}.json"
    return shipped if shipped.is_file() else candidate


@functools.lru_cache(maxsize=8)
def _cached_network(path: str, mtime: float) -> LoadedNetwork:
    return load_network(path)


def _load(model: str, weights: str | Path | None) -> LoadedNetwork:
    path = resolve_weights(model, weights)
    if not path.is_file():
        msg = f"Network card {path} not found; pass weights=None for the shipped network or a valid path."
        raise FileNotFoundError(msg)
    loaded = _cached_network(str(path.resolve()), path.stat().st_mtime)
    card_model = loaded.card.get("model")
    if card_model != model:
        msg = f"Weights {path.name} are for model {card_model!r}, not {model!r}; pass model={card_model!r}."
        raise ValueError(msg)
    return loaded


def network_card(model: str = "stg", weights: str | Path | None = None) -> dict[str, Any]:
    """The JSON card of a network (version, data, support, calibration, metrics).

    Loading verifies the weights' SHA-256 against the card.
    """
    from nwb_dicpop.models import get_model

    return dict(_load(get_model(model).name, weights).card)


# --------------------------------------------------------------------------- prediction
@dataclass(frozen=True)
class NetworkOutputs:
    """Raw network outputs for trains with >= 3 spikes.

    Attributes
    ----------
    mean, std : ndarray of float, shape (n, 2)
        The point estimate of ``(g_s, g_u)`` and its one-sigma uncertainty.  Networks with a
        posterior head: the medians and standard deviations of the joint posterior's
        marginals (the median is the estimate with the least expected absolute error under
        the posterior); others: the point head and the calibrated sigma of the sigma head.
    p_bursting : ndarray of float, shape (n,)
    distance : ndarray of float, shape (n,)
        Mahalanobis distance of the trunk features to the training features.
    summary : ndarray of float, shape (n, 3)
        Rate (Hz), spikes used, ISI CV.
    n_spikes_used : ndarray of int, shape (n,)
    out_of_distribution : ndarray of bool, shape (n,)
        Outside the card's support (rate, spike count, ISI CV; irregular ISIs, see
        :mod:`~nwb_dicpop.inference.ood`) or features far from the training ones.
    gaussian_std : ndarray of float, shape (n, 2)
        The calibrated sigma of the sigma head (the independent Gaussians of networks without
        a posterior head; equal to ``std`` for them).
    weights, means, scale_tril : ndarray or None
        The joint posterior (shapes (n, K), (n, K, 2), (n, K, 2, 2); logit space of
        ``support``, see :mod:`~nwb_dicpop.inference.posterior`); None without a posterior head.
    support : ndarray of float, shape (2, 2), or None
        ``[[g_s_low, g_s_high], [g_u_low, g_u_high]]`` of the posterior.
    g_f, g_f_std : ndarray of float, shape (n,)
        Fast DIC and its one-sigma uncertainty (NaN without a posterior head).
    backbone_mean : ndarray of float, shape (n, 2), or None
        The point head's ``(g_s, g_u)`` (the centre of the independent Gaussians); equal to
        ``mean`` for networks without a posterior head.
    """

    mean: np.ndarray
    std: np.ndarray
    p_bursting: np.ndarray
    distance: np.ndarray
    summary: np.ndarray
    n_spikes_used: np.ndarray
    out_of_distribution: np.ndarray
    gaussian_std: np.ndarray | None = None
    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    scale_tril: np.ndarray | None = None
    support: np.ndarray | None = None
    g_f: np.ndarray | None = None
    g_f_std: np.ndarray | None = None
    backbone_mean: np.ndarray | None = None

    @property
    def has_posterior(self) -> bool:
        """True for networks with a joint-posterior head."""
        return self.weights is not None


def _outside_support(summary: np.ndarray, support: dict[str, Any] | None) -> np.ndarray:
    if not support:
        return np.zeros(summary.shape[0], dtype=bool)
    tol = float(support.get("rate_tolerance", 1.0))
    cv_tol = float(support.get("isi_cv_tolerance", 0.0))
    rate_lo, rate_hi = support["rate"]
    n_lo, _ = support["n_spikes"]
    cv_lo, cv_hi = support["isi_cv"]
    rate, n_used, cv = summary.T
    return (
        (rate < rate_lo / tol) | (rate > rate_hi * tol) | (n_used < np.floor(n_lo)) | (cv < cv_lo - cv_tol)
        | (cv > cv_hi + cv_tol)
    )


def predict_arrays(
    loaded: LoadedNetwork,
    trains: Sequence[np.ndarray],
    *,
    batch_size: int = 512,
    max_spikes: int | None = None,
    max_tokens: int | None = None,
) -> NetworkOutputs:
    """Run the network on spike-time arrays (seconds), each with >= 3 spikes.

    Trains are sorted by length into batches (less padding); outputs are in input order.
    ``max_spikes`` caps the spikes read (default: the card's); ``max_tokens`` caps the ISI
    tokens the network reads per train while the train-level summaries still describe all the
    spikes read (see :func:`~nwb_dicpop.inference.features.encode_spike_trains`; default: the
    card's ``max_tokens`` if it has one, else no token cap).
    """
    network = loaded.network
    cap = int(max_spikes if max_spikes is not None else loaded.card.get("max_spikes", 1024))
    if max_tokens is None and loaded.card.get("max_tokens") is not None:
        max_tokens = int(loaded.card["max_tokens"])
    n = len(trains)
    lengths = np.array([len(t) for t in trains])
    width = np.minimum(lengths, cap) if max_tokens is None else np.minimum(np.minimum(lengths, cap), max_tokens + 1)
    order = np.argsort(width, kind="stable")
    head = network.posterior
    k = 0 if head is None else head.n_components
    arrays = {
        "mean": np.zeros((n, 2)), "std": np.zeros((n, 2)), "p_bursting": np.zeros(n), "distance": np.zeros(n),
        "weights": np.zeros((n, k)), "means": np.zeros((n, k, 2)), "scale_tril": np.zeros((n, k, 2, 2)),
        "posterior_std": np.zeros((n, 2)), "g_f": np.full(n, np.nan), "g_f_std": np.full(n, np.nan),
    }
    summary = np.zeros((n, 3))
    used = np.zeros(n, dtype=np.int64)
    network.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = encode_spike_trains([trains[i] for i in idx], max_spikes=cap, max_tokens=max_tokens)
            out = network.infer(
                torch.from_numpy(batch.tokens), torch.from_numpy(batch.mask),
                torch.from_numpy(network_inputs(batch, network.config.n_summary)),
            )
            for name, value in out.items():
                if name in arrays:
                    arrays[name][idx] = value.numpy()
            summary[idx] = batch.summary
            used[idx] = batch.n_spikes_used
    distance = arrays["distance"]
    ood = _outside_support(summary, loaded.card.get("support")) | (distance > float(network.ood_threshold))
    ood |= irregular_isis(trains, loaded.card.get("support"), max_spikes=cap)
    common = (arrays["p_bursting"], distance, summary, used, ood)
    if head is None:
        return NetworkOutputs(arrays["mean"], arrays["std"], *common, gaussian_std=arrays["std"],
                              g_f=arrays["g_f"], g_f_std=arrays["g_f_std"], backbone_mean=arrays["mean"])
    support = head.support.double().numpy()
    return NetworkOutputs(
        posterior_median(arrays["weights"], arrays["means"], arrays["scale_tril"], support), arrays["posterior_std"],
        *common, gaussian_std=arrays["std"], weights=arrays["weights"], means=arrays["means"],
        scale_tril=arrays["scale_tril"], support=support, g_f=arrays["g_f"], g_f_std=arrays["g_f_std"],
        backbone_mean=arrays["mean"],
    )


def infer_dics(
    spiketrains: Any,
    *,
    model: str = "stg",
    batch_size: int = 512,
    weights: str | Path | None = None,
    max_spikes: int | None = None,
) -> DICEstimate:
    """Infer the slow and ultraslow DICs of each spike train with the trained network.

    Parameters
    ----------
    spiketrains : SpikeTrains, array, list, dict, neo object, quantities array or DataFrame
        Anything :func:`~nwb_dicpop.as_spike_trains` accepts (a single array is one train);
        plain arrays are in seconds and must be sorted, finite and >= 0.  Only the intervals
        between spikes matter (the network is invariant to a time shift).
    model : {"stg", "da"}
        Model whose DICs are inferred (at its fixed ``V_th``).
    batch_size : int
        Trains per network call.
    weights : None, str or Path
        Network to use: None for the newest shipped one, a version name (``"stg-v1"``) or a
        path to a ``.json``/``.pt`` pair written by training.
    max_spikes : int, optional
        Read at most this many spikes per train (the first ones); default: the cap the
        network was trained with (its card's ``max_spikes``).  Trains that are cut are
        logged, and the estimate's ``n_spikes_used`` says how many spikes each unit used.

    Returns
    -------
    DICEstimate
        Per unit: ``g_s``, ``g_u`` (the point estimate: the joint posterior's marginal medians
        for networks with a posterior head, else the point head; NaN unless ``status == "ok"``), their
        one-sigma uncertainty ``g_s_std``, ``g_u_std``, ``network_class`` ("spiking", "bursting" or
        "silent"), ``out_of_distribution`` (the train's rate, spike count or ISI CV lies outside
        the training support, its ISIs are irregular at every period unlike the model's
        trains, or its network features are far from the training ones),
        ``status`` ("ok", or "silent" for trains with fewer than 3 spikes), the threshold
        ``V_th`` (mV) and the network version.  Networks with a posterior head (``stg-v4``,
        ``da-v3``, the defaults) also give the joint posterior of ``(g_s, g_u)`` (per-unit
        mixture parameters; draw from it with :meth:`~nwb_dicpop.DICEstimate.sample`, central
        intervals with :meth:`~nwb_dicpop.DICEstimate.interval`), ``g_s_std``, ``g_u_std`` as
        its marginal standard deviations, and the fast DIC ``g_f`` with ``g_f_std``.  Older
        networks give independent Gaussian sigmas (calibrated so that mean +- 1.645 std
        covers about 90 % of validation targets) and ``g_f`` NaN.

    Raises
    ------
    TypeError
        For inputs that are not spike trains (see :func:`~nwb_dicpop.as_spike_trains`).
    ValueError
        For empty input, NaN, unsorted or negative spike times, or an unknown model.
    FileNotFoundError
        If no weights exist for ``model``.

    Examples
    --------
    >>> import numpy as np, nwb_dicpop as ndp
    >>> regular = np.arange(30) * 0.1  # 10 Hz, seconds
    >>> est = ndp.infer_dics([regular, np.array([0.5])], model="stg")  # doctest: +SKIP
    >>> est.status, est.network_class  # doctest: +SKIP
    (('ok', 'silent'), ('spiking', 'silent'))
    """
    from nwb_dicpop.models import get_model

    spec = get_model(model)
    check_positive("batch_size", batch_size, integer=True)
    if max_spikes is not None:
        check_positive("max_spikes", max_spikes, integer=True)
    spikes = as_spike_trains(spiketrains, input_name="spiketrains")
    loaded = _load(spec.name, weights)
    n = spikes.n_units
    active = np.flatnonzero(spikes.n_spikes >= MIN_SPIKES)
    g = np.full((n, 2), np.nan)
    g_std = np.full((n, 2), np.nan)
    classes = ["silent"] * n
    status = [STATUS_SILENT] * n
    ood = np.zeros(n, dtype=bool)
    used = np.zeros(n, dtype=np.int64)
    head = loaded.network.posterior
    k = 0 if head is None else head.n_components
    g_f = np.full((n, 2), np.nan)
    weights, means, tril = np.full((n, k), np.nan), np.full((n, k, 2), np.nan), np.full((n, k, 2, 2), np.nan)
    if active.size:
        outputs = predict_arrays(loaded, [spikes.times[i] for i in active], batch_size=batch_size, max_spikes=max_spikes)
        g[active], g_std[active] = outputs.mean, outputs.std
        ood[active] = outputs.out_of_distribution
        used[active] = outputs.n_spikes_used
        g_f[active, 0], g_f[active, 1] = outputs.g_f, outputs.g_f_std
        if outputs.has_posterior:
            weights[active], means[active], tril[active] = outputs.weights, outputs.means, outputs.scale_tril
        for k, i in enumerate(active):
            classes[i] = "bursting" if outputs.p_bursting[k] > 0.5 else "spiking"
            status[i] = STATUS_OK
        cut = active[outputs.n_spikes_used < spikes.n_spikes[active]]
        if cut.size:
            logger.info(
                "%d train(s) longer than max_spikes=%d: only their first spikes were used (see n_spikes_used)",
                cut.size, int(outputs.n_spikes_used.max()),
            )
    return DICEstimate(
        unit_ids=spikes.unit_ids,
        model_name=spec.name,
        threshold=float(spec.threshold),
        g_s=g[:, 0],
        g_u=g[:, 1],
        g_s_std=g_std[:, 0],
        g_u_std=g_std[:, 1],
        network_class=tuple(classes),
        out_of_distribution=ood,
        status=tuple(status),
        network_version=loaded.version,
        n_spikes_used=used,
        g_f=g_f[:, 0],
        g_f_std=g_f[:, 1],
        posterior_weights=weights,
        posterior_means=means,
        posterior_scale_tril=tril,
        posterior_support=None if head is None else tuple(map(tuple, head.support.double().tolist())),
    )
