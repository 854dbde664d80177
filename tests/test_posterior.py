"""The joint (g_s, g_u) posterior (issue 13): mixture maths, scores, the head, DICEstimate.sample."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from nwb_dicpop.containers import DICEstimate
from nwb_dicpop.inference.data import TrainingSet
from nwb_dicpop.inference.network import DICNet, NetworkConfig, load_network, save_network
from nwb_dicpop.inference.posterior import (
    calibration_report,
    energy_score,
    from_latent,
    marginal_quantiles,
    mixture_draws,
    mixture_moments,
    posterior_median,
    rank_histogram,
    sbc_ranks,
    to_latent,
)
from nwb_dicpop.inference.predict import infer_dics, predict_arrays
from nwb_dicpop.inference.training import PosteriorConfig, TrainingConfig, fit_network, fit_posterior_head

TINY = NetworkConfig(d_model=16, n_blocks=2, kernel_size=3, expansion=2, d_trunk=16, dropout=0.0)
BOX = np.array([[-20.0, 20.0], [0.0, 20.0]])


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _tonic(rate: float, rng: np.random.Generator) -> np.ndarray:
    times = np.arange(0.005, 3.0, 1.0 / rate)
    return np.sort(times + 0.001 * rng.standard_normal(times.size))


def _bursts(n_per_burst: int, period: float, rng: np.random.Generator) -> np.ndarray:
    onsets = np.arange(0.005, 3.0 - n_per_burst * 0.008, period)
    train = (onsets[:, None] + 0.008 * np.arange(n_per_burst)).ravel()
    return np.sort(train + 0.0005 * rng.standard_normal(train.size))


def synthetic_set(n_groups: int, per_group: int = 3, seed: int = 0) -> TrainingSet:
    """Trains that are a known function of (g_s, g_u) (tonic for g_s >= 0), with a g_f."""
    rng = np.random.default_rng(seed)
    trains, targets, groups, g_f = [], [], [], []
    for group in range(n_groups):
        g_s, g_u = rng.uniform(-20, 20), rng.uniform(0, 20)
        for _ in range(per_group):
            trains.append(_tonic(4.0 + g_s + 0.3 * g_u, rng) if g_s >= 0 else _bursts(2 + int(-g_s / 4), 0.15 + 0.02 * g_u, rng))
            targets.append((g_s, g_u))
            groups.append(group)
            g_f.append(-4.0 - 0.1 * g_s + 0.3 * rng.standard_normal())
    return TrainingSet.from_trains(trains, np.array(targets), model_name="stg", duration=3.0, groups=np.array(groups),
                                   g_f=np.array(g_f))


@pytest.fixture(scope="module")
def with_head(tmp_path_factory):
    """A tiny base network (stg-v0) and the same network with a fitted posterior head (stg-v1)."""
    torch.set_num_threads(1)
    base = fit_network(synthetic_set(60), network_config=TINY, config=TrainingConfig(epochs=4, batch_size=32), seed=0)
    folder = tmp_path_factory.mktemp("weights")
    save_network(base.network, folder / "stg-v0", card=dict(base.card, version="stg-v0", threshold=-51.0))
    fresh = synthetic_set(60, seed=1)  # other trains than the base network's
    config = PosteriorConfig(n_components=3, hidden=16, epochs=4, batch_size=64, patience=10)
    result = fit_posterior_head(base.network, fresh, support=BOX, max_spikes=int(base.card["max_spikes"]),
                                config=config, seed=0)
    card = dict(base.card, version="stg-v1", threshold=-51.0, encoder_from={"version": "stg-v0"},
                posterior=result.card)
    _, json_path = save_network(result.network, folder / "stg-v1", card=card)
    return base, result, folder / "stg-v0.json", json_path


def _mixture(n: int = 5, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(k), size=n)
    means = rng.normal(0.0, 1.0, (n, k, 2))
    tril = np.zeros((n, k, 2, 2))
    tril[..., 0, 0] = rng.uniform(0.1, 1.0, (n, k))
    tril[..., 1, 1] = rng.uniform(0.1, 1.0, (n, k))
    tril[..., 1, 0] = rng.uniform(-0.8, 0.8, (n, k))
    return weights, means, tril


# --------------------------------------------------------------------------- scores
def test_energy_score_known_cases():
    truth = np.array([[0.0, 0.0]])
    # a point forecast: the distance to the truth
    assert energy_score(np.full((1, 4, 2), [3.0, 4.0]), truth)[0] == pytest.approx(5.0)
    # two draws (0, 0) and (3, 4): mean distance 2.5, pairwise (i != j) distance 5 -> 2.5 - 2.5
    assert energy_score(np.array([[[0.0, 0.0], [3.0, 4.0]]]), truth)[0] == pytest.approx(0.0, abs=1e-12)
    # in one dimension the energy score is the CRPS; of N(0, 1) at y: closed form
    rng = np.random.default_rng(0)
    y = 0.7
    draws = np.zeros((1, 4000, 2))
    draws[0, :, 0] = rng.standard_normal(4000)
    crps = y * (2 * stats.norm.cdf(y) - 1) + 2 * stats.norm.pdf(y) - 1 / math.sqrt(math.pi)
    assert energy_score(draws, np.array([[y, 0.0]]))[0] == pytest.approx(crps, abs=0.02)
    with pytest.raises(ValueError, match="must have shape"):
        energy_score(np.zeros((2, 1, 2)), np.zeros((2, 2)))


def test_energy_score_prefers_the_true_distribution():
    """Proper: the correlated truth beats independent Gaussians with the same marginals."""
    rng = np.random.default_rng(1)
    cov = np.array([[1.0, 0.95], [0.95, 1.0]])
    chol = np.linalg.cholesky(cov)
    truth = rng.standard_normal((2000, 2)) @ chol.T
    joint = rng.standard_normal((2000, 100, 2)) @ chol.T
    independent = rng.standard_normal((2000, 100, 2))
    assert energy_score(joint, truth).mean() < 0.97 * energy_score(independent, truth).mean()


def test_rank_histogram():
    ranks = np.arange(100).repeat(3)  # exactly uniform over 0..99
    hist = rank_histogram(ranks, n_draws=99, n_bins=10)
    assert hist["counts"] == [30] * 10
    assert hist["chi2"] == 0.0
    assert hist["p_value"] == pytest.approx(1.0)
    skewed = rank_histogram(np.zeros(100, dtype=int), n_draws=99, n_bins=10)
    assert skewed["counts"][0] == 100
    assert skewed["p_value"] < 1e-10
    with pytest.raises(ValueError, match="multiple"):
        rank_histogram(ranks, n_draws=100, n_bins=10)
    assert sbc_ranks(np.array([[[1.0], [2.0], [3.0]]]), np.array([[2.5]])).tolist() == [[2]]


def test_calibrated_gaussians_have_uniform_ranks_and_coverage():
    rng = np.random.default_rng(3)
    mean = rng.normal(0.0, 5.0, (3000, 2))
    std = rng.uniform(0.5, 2.0, (3000, 2))
    truth = mean + std * rng.standard_normal((3000, 2))
    report = calibration_report(truth, mean=mean, std=std, n_draws=99, rng=0)
    assert report["posterior"] == "gaussian"
    assert 0.88 <= report["coverage90_g_s"] <= 0.92
    assert report["energy_score_ratio"] == 1.0
    assert report["sbc_g_s"]["max_deviation"] < 0.025
    overconfident = calibration_report(truth, mean=mean, std=0.5 * std, n_draws=99, rng=0)
    assert overconfident["coverage90_g_s"] < 0.7
    assert overconfident["sbc_g_s"]["fractions"][0] > 0.15  # too narrow: truths pile up in the outer bins


# --------------------------------------------------------------------------- mixture maths
def test_latent_map_round_trips_and_clips():
    g = np.array([[-20.0, 0.0], [0.0, 10.0], [19.0, 19.9]])
    z = to_latent(g, BOX, margin=1e-3)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(from_latent(z[1:], BOX), g[1:], atol=1e-9)
    np.testing.assert_allclose(from_latent(z[:1], BOX), [[-20 + 0.04, 0.02]], atol=1e-9)


def test_mixture_moments_and_quantiles_match_draws():
    weights, means, tril = _mixture(n=4)
    draws = mixture_draws(weights, means, tril, BOX, 200_000, np.random.default_rng(0))
    mean, std = mixture_moments(weights, means, tril, BOX)
    np.testing.assert_allclose(mean, draws.mean(axis=1), atol=0.03)
    np.testing.assert_allclose(std, draws.std(axis=1), rtol=0.01)
    q = marginal_quantiles(weights, means, tril, BOX, [0.05, 0.5, 0.95])
    np.testing.assert_allclose(q, np.moveaxis(np.quantile(draws, [0.05, 0.5, 0.95], axis=1), 0, 0), atol=0.06)
    assert np.all((draws > BOX[:, 0]) & (draws < BOX[:, 1]))


def test_posterior_median_minimises_the_expected_absolute_error():
    weights, means, tril = _mixture(n=4)
    draws = mixture_draws(weights, means, tril, BOX, 100_000, np.random.default_rng(1))
    median = posterior_median(weights, means, tril, BOX)
    assert median.shape == (4, 2)
    np.testing.assert_allclose(median, np.median(draws, axis=1), atol=0.06)
    mean, _ = mixture_moments(weights, means, tril, BOX)
    error_at = lambda point: np.abs(draws - point[:, None, :]).mean(axis=1)
    assert np.all(error_at(median) <= error_at(mean) + 1e-3)


# --------------------------------------------------------------------------- DICEstimate
def _estimate(with_posterior: bool) -> DICEstimate:
    weights, means, tril = _mixture(n=3)
    weights[2] = np.nan  # the silent unit has no posterior
    extra = {"posterior_weights": weights, "posterior_means": means, "posterior_scale_tril": tril,
             "posterior_support": ((-20.0, 20.0), (0.0, 20.0))} if with_posterior else {}
    return DICEstimate(unit_ids=(1, 2, 3), model_name="stg", threshold=-51.0, g_s=[1.0, -3.0, np.nan],
                       g_u=[4.0, 0.5, np.nan], g_s_std=[2.0, 1.0, np.nan], g_u_std=[1.0, 1.5, np.nan],
                       network_class=("spiking", "bursting", "silent"), out_of_distribution=False,
                       status=("ok", "ok", "silent"), **extra)


@pytest.mark.parametrize("with_posterior", [True, False])
def test_sample_shape_seeding_and_silent_units(with_posterior):
    est = _estimate(with_posterior)
    assert est.has_posterior is with_posterior
    draws = est.sample(500, rng=0)
    assert draws.shape == (3, 500, 2)
    assert np.isnan(draws[2]).all()
    assert np.isfinite(draws[:2]).all()
    np.testing.assert_array_equal(draws, est.sample(500, rng=0))
    assert not np.array_equal(draws, est.sample(500, rng=1))
    intervals = est.interval(0.9)
    assert intervals.shape == (3, 2, 2)
    assert np.isnan(intervals[2]).all()
    inside = (draws[:2] >= intervals[:2, None, :, 0]) & (draws[:2] <= intervals[:2, None, :, 1])
    assert inside.mean() == pytest.approx(0.9, abs=0.03)
    with pytest.raises(ValueError, match="`n`"):
        est.sample(0)
    with pytest.raises(ValueError, match="level"):
        est.interval(1.0)


def test_sample_without_posterior_draws_independent_gaussians():
    draws = _estimate(False).sample(20_000, rng=0)
    np.testing.assert_allclose(draws[0].mean(axis=0), [1.0, 4.0], atol=0.05)
    np.testing.assert_allclose(draws[0].std(axis=0), [2.0, 1.0], rtol=0.03)
    assert abs(np.corrcoef(draws[0].T)[0, 1]) < 0.03
    assert (draws[1, :, 1] < 0).any()  # unbounded: the old output puts mass at g_u < 0


def test_sample_with_posterior_stays_in_the_support():
    draws = _estimate(True).sample(20_000, rng=0)
    assert np.all(np.abs(draws[:2, :, 0]) < 20)
    assert np.all(draws[:2, :, 1] > 0)
    assert np.all(draws[:2, :, 1] < 20)


def test_posterior_fields_are_validated_and_sliced():
    est = _estimate(True)
    with pytest.raises(ValueError, match="posterior parameters"):
        dataclasses.replace(est, posterior_means=est.posterior_means[:, :2])
    with pytest.raises(ValueError, match="posterior_support"):
        dataclasses.replace(est, posterior_support=((1.0, 0.0), (0.0, 20.0)))
    from nwb_dicpop._tasks import select_units

    two = select_units(est, [1, 0])
    assert two.unit_ids == (2, 1)
    np.testing.assert_array_equal(two.posterior_means[0], est.posterior_means[1])
    np.testing.assert_array_equal(two.posterior_weights, est.posterior_weights[[1, 0]])
    assert two.posterior_support == est.posterior_support
    assert two.sample(10, rng=0).shape == (2, 10, 2)


# --------------------------------------------------------------------------- the head
def test_head_keeps_the_base_network_and_round_trips(with_head):
    base, result, base_path, head_path = with_head
    loaded_base, loaded = load_network(base_path), load_network(head_path)
    assert loaded.network.config.posterior_components == 3
    assert loaded_base.network.posterior is None
    for name, value in base.network.state_dict().items():  # frozen: bit-identical
        torch.testing.assert_close(loaded.network.state_dict()[name], value, rtol=0, atol=0)
    for name, value in result.network.state_dict().items():  # saved and loaded unchanged
        torch.testing.assert_close(loaded.network.state_dict()[name], value, rtol=0, atol=0)
    assert loaded.network.n_parameters() > loaded_base.network.n_parameters()
    assert json.loads(head_path.read_text())["n_parameters"] == loaded.network.n_parameters()
    posterior = result.card
    assert posterior["epochs_run"] >= 1
    assert posterior["n_train_features"] == 2 * posterior["n_train"]
    assert {"energy_score", "energy_score_gaussian", "sbc_g_s", "g_f_mae"} <= set(posterior["validation"])


def test_infer_dics_with_and_without_head(with_head):
    _, _, base_path, head_path = with_head
    rng = np.random.default_rng(5)
    trains = [_tonic(12.0, rng), _bursts(4, 0.3, rng), np.array([0.2, 0.4])]
    old, new = infer_dics(trains, weights=base_path), infer_dics(trains, weights=head_path)
    # the point estimate is the posterior's marginal median; the point head stays in the outputs
    median = marginal_quantiles(new.posterior_weights[:2], new.posterior_means[:2], new.posterior_scale_tril[:2],
                                BOX, [0.5])[0]
    np.testing.assert_allclose(np.stack([new.g_s, new.g_u], 1)[:2], median, rtol=1e-9)
    outputs = predict_arrays(load_network(head_path), trains[:2])
    np.testing.assert_allclose(outputs.backbone_mean, np.stack([old.g_s, old.g_u], 1)[:2], rtol=1e-6)
    assert not old.has_posterior
    assert new.has_posterior
    assert np.isnan(old.g_f).all()
    assert np.isfinite(new.g_f[:2]).all()
    assert np.isfinite(new.g_f_std[:2]).all()
    assert np.isnan(new.g_f[2])
    assert new.posterior_support == ((-20.0, 20.0), (0.0, 20.0))
    # the reported spread is the posterior's marginal standard deviation
    _, std = mixture_moments(new.posterior_weights[:2], new.posterior_means[:2], new.posterior_scale_tril[:2], BOX)
    np.testing.assert_allclose(np.stack([new.g_s_std, new.g_u_std], 1)[:2], std, rtol=1e-5)
    draws = new.sample(1000, rng=0)
    assert np.isnan(draws[2]).all()
    assert np.all((draws[:2] > BOX[:, 0]) & (draws[:2] < BOX[:, 1]))
    # batching does not change the posterior
    loaded = load_network(head_path)
    one = predict_arrays(loaded, trains[:2], batch_size=1)
    both = predict_arrays(loaded, trains[:2], batch_size=8)
    np.testing.assert_allclose(one.means, both.means, rtol=1e-5, atol=1e-6)


def test_head_fit_is_seeded_and_needs_data(with_head):
    base, result, _, _ = with_head
    fresh = synthetic_set(60, seed=1)
    config = PosteriorConfig(n_components=3, hidden=16, epochs=4, batch_size=64, patience=10)
    again = fit_posterior_head(base.network, fresh, support=BOX, max_spikes=int(base.card["max_spikes"]),
                               config=config, seed=0)
    for name, value in result.network.state_dict().items():
        torch.testing.assert_close(again.network.state_dict()[name], value, rtol=0, atol=0)
    with pytest.raises(ValueError, match="Not enough"):
        fit_posterior_head(base.network, synthetic_set(1, per_group=2), support=BOX, max_spikes=64, config=config)
    with pytest.raises(ValueError, match="margin"):
        PosteriorConfig(margin=0.0)


def test_network_config_without_head_is_the_old_architecture():
    assert DICNet(NetworkConfig()).posterior is None
    assert "posterior.mixture.weight" in DICNet(NetworkConfig(posterior_components=2)).state_dict()
    with pytest.raises(ValueError, match="posterior_components"):
        NetworkConfig(posterior_components=-1)


def test_train_posterior_head_from_the_command_line(with_head, tmp_path, capsys):
    from nwb_dicpop.cli import main
    from nwb_dicpop.inference.card import render_model_card
    from nwb_dicpop.inference.training import train

    _, _, base_path, _ = with_head
    synthetic_set(40, seed=3).save(tmp_path / "data" / "dataset.npz")
    out = tmp_path / "weights" / "stg-v2"
    assert main(["train", "--model", "stg", "--data", str(tmp_path / "data"), "-o", str(out), "--init-weights",
                 str(base_path), "--posterior-head", "--epochs", "2", "--seed", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["posterior"]["epochs_run"] == 2
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["encoder_from"]["version"] == "stg-v0"
    assert card["posterior"]["seed"] == 3
    assert "--posterior-head" in card["posterior"]["command"]
    assert "--seed 3" in card["posterior"]["command"]
    assert card["posterior"]["data"]["n_trains"] == 120
    assert load_network(out.with_suffix(".json")).network.posterior is not None
    text = render_model_card(out.parent)
    assert "### Joint posterior head" in text
    assert "those of `stg-v0`" in text
    with pytest.raises(ValueError, match="needs `init_weights`"):
        train("stg", tmp_path / "data", tmp_path / "weights" / "stg-v3", posterior_head=True)
    with pytest.raises(TypeError, match="Unknown posterior option"):
        train("stg", tmp_path / "data", tmp_path / "weights" / "stg-v3", posterior_head=True,
              init_weights=base_path, loss="gaussian")
