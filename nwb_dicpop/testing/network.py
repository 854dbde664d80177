"""A stand-in network for tests and tutorials that must not depend on the shipped weights.

:func:`write_mock_weights` trains a tiny :class:`~nwb_dicpop.inference.network.DICNet` for a few
seconds on synthetic spike trains whose pattern is a fixed function of ``(g_s, g_u)``: tonic
spiking at a rate that grows with ``g_s`` when ``g_s >= 0``, bursts whose size grows with
``-g_s`` below. Its estimates mean nothing physiologically. It exercises the whole
inference path (features, network, uncertainty, weights file with checksum) in the same format
as the real weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nwb_dicpop.models import get_model

__all__ = ["synthetic_training_trains", "write_mock_weights"]


def synthetic_training_trains(
    n_groups: int = 80, per_group: int = 3, *, duration: float = 3.0, rng: int | np.random.Generator | None = 0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Synthetic spike trains (seconds) with their ``(g_s, g_u)`` labels and group ids.

    Returns
    -------
    trains : list of ndarray
    targets : ndarray, shape (n_groups * per_group, 2)
    groups : ndarray of int
    """
    generator = np.random.default_rng(rng)
    trains, targets, groups = [], [], []
    for group in range(n_groups):
        g_s, g_u = generator.uniform(-20, 20), generator.uniform(0, 20)
        for _ in range(per_group):
            if g_s >= 0:
                train = np.arange(0.0, duration, 1.0 / (4.0 + g_s + 0.3 * g_u))
                train = train + 0.001 * generator.standard_normal(train.size)
            else:
                n_per_burst, period = 2 + int(-g_s / 4), 0.15 + 0.02 * g_u
                onsets = np.arange(0.0, duration - n_per_burst * 0.008, period)
                train = (onsets[:, None] + 0.008 * np.arange(n_per_burst)).ravel()
                train = train + 0.0005 * generator.standard_normal(train.size)
            trains.append(np.sort(np.clip(train, 0.0, duration)))
            targets.append((g_s, g_u))
            groups.append(group)
    return trains, np.array(targets), np.array(groups)


def write_mock_weights(folder: str | Path, *, model: str = "stg", epochs: int = 6, rng: int = 0) -> Path:
    """Train a tiny network on synthetic trains and save it as ``<folder>/<model>-v0``.

    Parameters
    ----------
    folder : path
        Created if missing.
    model : str
        Model whose threshold the card records (``"stg"`` or ``"da"``).
    epochs : int
    rng : int
        Seed.

    Returns
    -------
    pathlib.Path
        The weights' JSON card, to pass as ``weights=`` to ``infer_dics`` / ``run_pipeline``.
    """
    import torch

    from nwb_dicpop.inference.data import TrainingSet
    from nwb_dicpop.inference.network import NetworkConfig, save_network
    from nwb_dicpop.inference.training import TrainingConfig, fit_network

    spec = get_model(model)
    torch.set_num_threads(1)
    trains, targets, groups = synthetic_training_trains(rng=rng)
    data = TrainingSet.from_trains(trains, targets, model_name=spec.name, duration=3.0, groups=groups)
    tiny = NetworkConfig(d_model=16, n_blocks=2, kernel_size=3, expansion=2, d_trunk=16, dropout=0.0)
    config = TrainingConfig(epochs=epochs, batch_size=32, learning_rate=3e-3, patience=10)
    result = fit_network(data, network_config=tiny, config=config, seed=rng)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    card = dict(result.card, version=f"{spec.name}-v0", threshold=float(spec.threshold))
    _, json_path = save_network(result.network, out / f"{spec.name}-v0", card=card)
    return Path(json_path)
