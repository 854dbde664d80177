"""A model declared outside the package goes through every stage, with no edit to the package.

The Hodgkin-Huxley model with an M current of ``tests/hh_model.py`` gets its settings (a
training protocol, simulation settings, evaluation settings) in its declaration, and then:
training data are simulated, a tiny network is trained on them, DICs are inferred from a new
train, a population is built at the inferred DICs, simulated with Brian2 and validated against
the train.  This is the proof that a model carries its own settings.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hh_model import make_hh

import nwb_dicpop as ndp
from nwb_dicpop.inference.data import load_training_data, make_training_data
from nwb_dicpop.inference.network import NetworkConfig, save_network
from nwb_dicpop.inference.training import TrainingConfig, fit_network
from nwb_dicpop.models import Current, EvaluationSettings, SimulationSettings, TrainingProtocol

pytestmark = pytest.mark.slow


def _declared_hh():
    """The HH model with its leak reversal at -50 mV (so that it fires without injected current),
    a spiking base at (g_f, g_s, g_u) = (-5, 0.6, 0.3), and its settings."""
    base = make_hh((-5.0, 0.6, 0.3))
    return dataclasses.replace(
        base,
        currents=(*base.currents[:-1], Current("leak", -50.0)),
        simulation=SimulationSettings(method="rk4", dt=2.5e-5, noise_dt=1e-4),
        training=TrainingProtocol(g_s_range=(0.3, 1.0), g_u_range=(0.2, 0.4), duration=1.0, transient=0.2,
                                  fallback_compensating_set=None),
        evaluation=EvaluationSettings(demo_targets=((0.6, 0.3),)),
    )


def test_a_model_declared_in_the_tests_runs_through_every_stage(tmp_path):
    import torch

    torch.set_num_threads(1)
    hh = _declared_hh()
    ndp.register_model(hh, replace=True)

    folder = make_training_data(hh.name, tmp_path / "data", n_targets=12, n_per_target=4, seed=0, chunk_size=24)
    data = load_training_data(folder)
    assert data.model_name == hh.name
    assert data.duration == hh.training.duration
    assert len(data) == 48
    assert np.all(data.targets[:, 0] >= 0.3 - 1e-6)
    assert np.all(data.targets[:, 0] <= 1.0 + 1e-6)
    assert (data.labels > 0).sum() >= 24, "most HH members in the box fire"

    tiny = NetworkConfig(d_model=16, n_blocks=2, kernel_size=3, expansion=2, d_trunk=16, dropout=0.0)
    fit = fit_network(data, network_config=tiny, config=TrainingConfig(epochs=3, batch_size=16, patience=5), seed=0)
    card = dict(fit.card, version=f"{hh.name}-v0", threshold=float(hh.threshold))
    _, weights = save_network(fit.network, tmp_path / "weights" / f"{hh.name}-v0", card=card)

    # a new train of the model, from a member of a population at the middle of the box
    member = ndp.generate_population(hh.name, 0.6, 0.3, n_models=1, rng=5)
    observed = ndp.simulate_population(member, duration=1.0, transient=0.2).spike_times[0]
    assert observed.size >= 3

    estimate = ndp.infer_dics([observed], model=hh.name, weights=weights)
    assert estimate.model_name == hh.name
    assert estimate.threshold == hh.threshold
    assert np.isfinite(estimate.g_s[0])
    assert np.isfinite(estimate.g_u[0])

    population = ndp.generate_population(hh.name, float(estimate.g_s[0]), float(estimate.g_u[0]), n_models=6, rng=0)
    assert population.model_name == hh.name
    np.testing.assert_allclose(population.dics[:, 1], estimate.g_s[0], atol=1e-5)

    check = ndp.validate_population(observed, population, duration=1.0, transient=0.2)
    assert check.simulation.method == "rk4"
    assert check.simulation.dt == 2.5e-5
    assert len(check.members) == 6
    assert check.observed_class in {"spiking", "bursting"}
    assert 0.0 <= check.fraction_valid <= 1.0
