"""Inference of DICs from spike times with a small neural network (the package's torch boundary).

Modules
-------
features
    Spike times -> ISI tokens and train-level summaries (numpy only).
network
    The :class:`~nwb_dicpop.inference.network.DICNet` module, and saving / loading weights with
    a checksum.
training
    Seeded training loop with augmentation, validation and early stopping.
data
    The training-data generator (targets -> populations -> Brian2 simulations).
predict
    :func:`~nwb_dicpop.inference.predict.infer_dics`, the public entry point.
evaluation
    Accuracy, calibration and robustness metrics of a trained network.
posterior
    The joint (g_s, g_u) posterior (a logit-space Gaussian mixture): sampling, moments,
    quantiles, the energy score and simulation-based-calibration ranks (numpy only).

Only ``network``, ``training``, ``predict`` and ``evaluation`` import torch; importing this
package itself imports nothing heavy.
"""

from __future__ import annotations

__all__: list[str] = []
