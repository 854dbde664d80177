"""Injected current noise: per-member seeds and low-passed Gaussian white noise (Brandoit et al. 2025).

The grid on which the white noise is drawn is the model's ``simulation.noise_dt``
(:class:`~nwb_dicpop.models.SimulationSettings`; sigma is the pre-filter standard deviation on
that grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nwb_dicpop._validation import normalize_rng

__all__ = ["NOISE_CUTOFF", "filtered_noise", "member_seeds"]

NOISE_CUTOFF = 1000.0
"""Cut-off (Hz) of the 4th-order Butterworth low-pass applied to the current noise."""


def member_seeds(rng: int | np.random.Generator | None, n_members: int, *, offset: int = 0) -> list[Any]:
    """Per-member ``SeedSequence`` of the current noise.

    Member ``k`` gets ``SeedSequence(seed, spawn_key=(offset + k,))``, so a member's noise
    depends only on the seed and its global index, not on how members are grouped in chunks.
    A Generator (or None) first draws the integer seed.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seed = int(rng)
    else:
        seed = int(normalize_rng(rng).integers(0, 2**63 - 1))
    return [np.random.SeedSequence(seed, spawn_key=(offset + k,)) for k in range(n_members)]


def filtered_noise(seeds: Sequence[Any], n_samples: int, sample_dt: float, sigma: float) -> np.ndarray:
    """White Gaussian noise (std ``sigma``) low-passed forward-backward, shape (n_samples, n)."""
    from scipy.signal import butter, sosfiltfilt

    white = np.empty((n_samples, len(seeds)))
    for k, seed in enumerate(seeds):
        white[:, k] = np.random.default_rng(seed).standard_normal(n_samples)
    white *= sigma
    fs = 1.0 / sample_dt
    if fs / 2 <= NOISE_CUTOFF:
        return white
    sos = butter(4, NOISE_CUTOFF, btype="low", fs=fs, output="sos")
    return sosfiltfilt(sos, white, axis=0)
