"""DIC network: features, shapes, training on synthetic trains, weight files, infer_dics."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nwb_dicpop.containers import DICEstimate, SpikeTrains
from nwb_dicpop.inference.data import TrainingSet
from nwb_dicpop.inference.features import (
    encode_spike_trains,
    firing_class_labels,
    network_inputs,
    perturb_spike_trains,
    summary_inputs,
)
from nwb_dicpop.inference.network import DICNet, NetworkConfig, load_network, save_network
from nwb_dicpop.inference.predict import infer_dics
from nwb_dicpop.inference.training import TrainingConfig, fit_network

TINY = NetworkConfig(d_model=16, n_blocks=2, kernel_size=3, expansion=2, d_trunk=16, dropout=0.0)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- synthetic data
def regular_train(rate: float, duration: float = 3.0, jitter: float = 0.0, rng=None) -> np.ndarray:
    """Tonic spiking at ``rate`` Hz (seconds)."""
    times = np.arange(0.0, duration, 1.0 / rate)
    if jitter and rng is not None:
        times = np.sort(times + jitter * rng.standard_normal(times.size))
    return times


def burst_train(n_per_burst: int, period: float, intra: float = 0.008, duration: float = 3.0) -> np.ndarray:
    """Bursts of ``n_per_burst`` spikes ``intra`` s apart, every ``period`` s."""
    onsets = np.arange(0.0, duration - n_per_burst * intra, period)
    return np.sort((onsets[:, None] + intra * np.arange(n_per_burst)).ravel())


def synthetic_set(n_groups: int = 80, per_group: int = 3, seed: int = 0) -> TrainingSet:
    """Trains whose pattern is a known function of (g_s, g_u): spiking for g_s >= 0, bursting below."""
    rng = np.random.default_rng(seed)
    trains, targets, groups = [], [], []
    for group in range(n_groups):
        g_s, g_u = rng.uniform(-20, 20), rng.uniform(0, 20)
        for _ in range(per_group):
            if g_s >= 0:
                train = regular_train(4.0 + g_s + 0.3 * g_u, jitter=0.001, rng=rng)
            else:
                train = burst_train(2 + int(-g_s / 4), 0.15 + 0.02 * g_u)
                train = np.sort(train + 0.0005 * rng.standard_normal(train.size))
            trains.append(train)
            targets.append((g_s, g_u))
            groups.append(group)
    return TrainingSet.from_trains(trains, np.array(targets), model_name="stg", duration=3.0, groups=np.array(groups))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny network trained on synthetic trains, saved as weights/stg-v0."""
    torch.set_num_threads(1)
    data = synthetic_set()
    config = TrainingConfig(epochs=6, batch_size=32, learning_rate=3e-3, patience=10)
    result = fit_network(data, network_config=TINY, config=config, seed=0)
    folder = tmp_path_factory.mktemp("weights")
    card = dict(result.card, version="stg-v0", threshold=-51.0)
    pt_path, json_path = save_network(result.network, folder / "stg-v0", card=card)
    return result, data, pt_path, json_path


# --------------------------------------------------------------------------- features
def test_tokens_of_hand_made_trains():
    train = np.array([0.0, 0.01, 0.03, 0.06])  # ISIs 10, 20, 30 ms
    batch = encode_spike_trains([train, np.array([1.0, 1.1, 1.2])])
    z1 = np.log1p([10.0, 20.0, 30.0])
    np.testing.assert_allclose(batch.tokens[0, :, 0], z1, rtol=1e-6)
    np.testing.assert_allclose(batch.tokens[0, :, 1], [0.0, z1[1] - z1[0], z1[2] - z1[1]], rtol=1e-5, atol=1e-6)
    assert batch.mask.tolist() == [[True, True, True], [True, True, False]]
    np.testing.assert_array_equal(batch.tokens[1, 2], 0.0)  # padding is zero
    np.testing.assert_allclose(batch.summary[1], [10.0, 3.0, 0.0], atol=1e-9)
    isi = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(batch.summary[0], [1e3 / isi.mean(), 4.0, isi.std() / isi.mean()])


def test_burst_summaries_of_hand_made_trains():
    bursts = burst_train(4, 0.2, intra=0.01)  # 4 spikes 10 ms apart, every 200 ms
    batch = encode_spike_trains([bursts, regular_train(10.0)])
    short, long, fraction = batch.bursts[0]
    assert short == pytest.approx(10.0)
    assert long == pytest.approx(170.0)
    assert fraction == pytest.approx(1 / 4, abs=0.02)
    np.testing.assert_allclose(batch.bursts[1, :2], [100.0, 100.0])  # tonic: no long ISIs
    assert batch.bursts[1, 2] == 0.0
    inputs = network_inputs(batch)
    assert inputs.shape == (2, 6)
    np.testing.assert_array_equal(inputs[:, :3], summary_inputs(batch.summary))
    assert network_inputs(batch, 3).shape == (2, 3)
    with pytest.raises(ValueError, match="n_inputs"):
        network_inputs(batch, 4)


def test_max_spikes_cap_is_reported():
    train = np.arange(100) * 0.01
    batch = encode_spike_trains([train, train[:10]], max_spikes=20)
    assert batch.n_spikes.tolist() == [100, 10]
    assert batch.n_spikes_used.tolist() == [20, 10]
    assert batch.tokens.shape == (2, 19, 2)


def test_encoding_rejects_short_trains_and_bad_cap():
    with pytest.raises(ValueError, match="at least 3"):
        encode_spike_trains([np.array([0.0, 1.0])])
    with pytest.raises(ValueError, match="max_spikes"):
        encode_spike_trains([np.arange(5.0)], max_spikes=2)


def test_features_are_shift_invariant():
    train = burst_train(4, 0.3)
    a = encode_spike_trains([train])
    b = encode_spike_trains([train + 12.5])
    np.testing.assert_allclose(a.tokens, b.tokens, atol=1e-4)


def test_firing_class_labels():
    labels = firing_class_labels([regular_train(10.0), burst_train(4, 0.3), np.array([0.1, 0.2]), np.zeros(0)])
    assert labels.tolist() == [1, 2, 0, 0]


def test_perturbation_is_seeded_and_keeps_input():
    train = regular_train(20.0)
    before = train.copy()
    a = perturb_spike_trains([train], jitter=0.002, drop_fraction=0.1, window=True, rng=3)
    b = perturb_spike_trains([train], jitter=0.002, drop_fraction=0.1, window=True, rng=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(train, before)
    assert np.all(np.diff(a[0]) >= 0)
    assert train.size // 2 * 0.8 <= a[0].size < train.size


# --------------------------------------------------------------------------- network
def test_network_shapes_and_padding_invariance():
    torch.manual_seed(0)
    net = DICNet(TINY).eval()
    short, long = regular_train(10.0), burst_train(3, 0.2)
    alone = encode_spike_trains([short])
    together = encode_spike_trains([short, long])
    args = [torch.from_numpy(x) for x in (together.tokens, together.mask, network_inputs(together))]
    mean, log_sigma, logits = net(*args)
    assert mean.shape == log_sigma.shape == logits.shape == (2, 2)
    single = net(*[torch.from_numpy(x) for x in (alone.tokens, alone.mask, network_inputs(alone))])
    torch.testing.assert_close(single[0][0], mean[0], atol=1e-5, rtol=1e-5)


def test_inference_path_equals_the_training_path():
    torch.manual_seed(1)
    net = DICNet(TINY).eval()
    batch = encode_spike_trains([regular_train(10.0), burst_train(3, 0.2), regular_train(40.0)])
    args = [torch.from_numpy(x) for x in (batch.tokens, batch.mask, network_inputs(batch))]
    with torch.no_grad():
        fast = net(*args)
    with torch.enable_grad():
        slow = net(*args)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-5)


def test_network_config_is_validated():
    with pytest.raises(ValueError, match="kernel_size"):
        NetworkConfig(kernel_size=4)
    with pytest.raises(ValueError, match="d_model"):
        NetworkConfig(d_model=0)


# --------------------------------------------------------------------------- training
def test_tiny_training_decreases_the_loss(trained):
    result, *_ = trained
    history = result.history
    assert len(history) == 6
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.5
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    # much better than predicting the mean target (MAE of a constant ~ 10 for g_s in [-20, 20])
    assert result.card["validation"]["mae_g_s"] < 6.0
    assert result.card["validation"]["class_accuracy"] > 0.9


def test_training_is_deterministic():
    data = synthetic_set(n_groups=20, per_group=2, seed=1)
    config = TrainingConfig(epochs=2, batch_size=16)
    a = fit_network(data, network_config=TINY, config=config, seed=5)
    b = fit_network(data, network_config=TINY, config=config, seed=5)
    for (name, x), (_, y) in zip(a.network.state_dict().items(), b.network.state_dict().items(), strict=True):
        torch.testing.assert_close(x, y, msg=name)
    assert a.history == [dict(h, minutes=a.history[i]["minutes"]) for i, h in enumerate(b.history)]


def test_training_needs_data():
    data = synthetic_set(n_groups=1, per_group=2)
    with pytest.raises(ValueError, match="Not enough"):
        fit_network(data, network_config=TINY, config=TrainingConfig(epochs=1))


# --------------------------------------------------------------------------- weight files
def test_save_load_roundtrip_with_checksum(trained):
    result, _, _pt_path, json_path = trained
    card = json.loads(json_path.read_text())
    assert len(card["sha256"]) == 64
    assert card["architecture"]["d_model"] == 16
    loaded = load_network(json_path)
    assert loaded.version == "stg-v0"
    for name, value in result.network.state_dict().items():
        torch.testing.assert_close(loaded.network.state_dict()[name], value)


def test_corrupted_weights_are_detected(trained, tmp_path):
    _, _, pt_path, json_path = trained
    (tmp_path / json_path.name).write_text(json_path.read_text())
    data = bytearray(pt_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / pt_path.name).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="Checksum mismatch"):
        load_network(tmp_path / json_path.name)
    (tmp_path / pt_path.name).unlink()
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "stg-v0")


# --------------------------------------------------------------------------- infer_dics
def test_infer_dics_on_arrays_spiketrains_and_neo(trained):
    _, _, _, json_path = trained
    trains = [regular_train(12.0), burst_train(4, 0.3), np.array([0.2, 0.4])]
    est = infer_dics(trains, model="stg", weights=json_path)
    assert isinstance(est, DICEstimate)
    assert est.status == ("ok", "ok", "silent")
    assert est.network_class == ("spiking", "bursting", "silent")
    assert np.isfinite(est.g_s[:2]).all()
    assert np.isnan(est.g_s[2])
    assert (est.g_s_std[:2] > 0).all()
    assert est.g_s[0] > 0 > est.g_s[1]
    assert est.threshold == -51.0
    assert est.network_version == "stg-v0"
    assert est.n_spikes_used.tolist() == [36, 40, 0]  # silent: no spikes used
    from_container = infer_dics(SpikeTrains(trains, ["a", "b", "c"]), model="stg", weights=json_path)
    np.testing.assert_allclose(from_container.g_s, est.g_s, equal_nan=True)
    assert from_container.unit_ids == ("a", "b", "c")
    neo = pytest.importorskip("neo")
    import quantities as pq

    neo_trains = [neo.SpikeTrain(t * 1e3, units="ms", t_stop=3500.0, name=f"u{i}") for i, t in enumerate(trains)]
    from_neo = infer_dics(neo_trains, model="stg", weights=json_path)
    np.testing.assert_allclose(from_neo.g_s, est.g_s, rtol=1e-5, equal_nan=True)
    assert from_neo.unit_ids == ("u0", "u1", "u2")
    single = infer_dics(neo.SpikeTrain(trains[0] * pq.s, t_stop=4.0), model="stg", weights=json_path)
    assert single.n_units == 1
    one_array = infer_dics(trains[0], model="stg", weights=json_path)  # one array is one train
    np.testing.assert_allclose(one_array.g_s, est.g_s[:1])


def test_infer_dics_batches_do_not_change_results(trained):
    _, data, _, json_path = trained
    trains = SpikeTrains(data.trains(np.arange(40)))  # jittered: some start just before 0
    a = infer_dics(trains, weights=json_path, batch_size=7)
    b = infer_dics(trains, weights=json_path, batch_size=512)
    np.testing.assert_allclose(a.g_s, b.g_s, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.g_u_std, b.g_u_std, rtol=1e-4, atol=1e-4)


def test_infer_dics_flags_out_of_distribution(trained):
    _, _, _, json_path = trained
    est = infer_dics([regular_train(12.0), regular_train(900.0, duration=0.2)], weights=json_path)
    assert est.out_of_distribution.tolist() == [False, True]


def test_infer_dics_max_spikes(trained):
    _, _, _, json_path = trained
    est = infer_dics([regular_train(10.0, duration=30.0)], weights=json_path, max_spikes=50)
    assert est.n_spikes_used.tolist() == [50]
    assert est.status == ("ok",)


@pytest.mark.parametrize(
    ("spiketrains", "error", "match"),
    [
        ([], ValueError, "`spiketrains` is empty"),
        ([np.array([0.1, np.nan, 0.3])], ValueError, "NaN"),
        ([np.array([0.3, 0.1, 0.2])], ValueError, "not sorted"),
        ([np.array([-0.3, 0.1, 0.2])], ValueError, "negative"),
        (np.zeros((2, 5)), ValueError, "1-D"),
        ("spikes.csv", TypeError, "`spiketrains` must be spike trains"),
        ([["a", "b"]], TypeError, "must be numbers"),
    ],
)
def test_infer_dics_bad_input(trained, spiketrains, error, match):
    _, _, _, json_path = trained
    with pytest.raises(error, match=match):
        infer_dics(spiketrains, weights=json_path)


def test_infer_dics_bad_arguments(trained, tmp_path):
    _, _, _, json_path = trained
    with pytest.raises(ValueError, match="Did you mean 'stg'"):
        infer_dics([regular_train(5.0)], model="stgg", weights=json_path)
    with pytest.raises(ValueError, match="not 'da'"):
        infer_dics([regular_train(5.0)], model="da", weights=json_path)
    with pytest.raises(ValueError, match="batch_size"):
        infer_dics([regular_train(5.0)], weights=json_path, batch_size=0)
    with pytest.raises(FileNotFoundError):
        infer_dics([regular_train(5.0)], weights=tmp_path / "nothing-v1")


# --------------------------------------------------------------------------- evaluation
def test_evaluation_metrics(trained, tmp_path):
    from nwb_dicpop.inference.evaluation import evaluate, evaluate_network, poisson_trains

    _, _, _, json_path = trained
    test_set = synthetic_set(n_groups=30, per_group=2, seed=7)  # other seed than training
    metrics = evaluate_network(test_set, weights=json_path)
    assert metrics["n_trains"] == 60
    assert metrics["n_spiking"] + metrics["n_bursting"] == 60
    assert 0.0 < metrics["mae_g_s"] < 8.0
    assert 0.5 <= metrics["coverage90_g_s"] <= 1.0
    assert metrics["class_accuracy"] > 0.9
    jittered = evaluate_network(test_set, weights=json_path, jitter=0.005, rng=1)
    assert jittered["mae_g_s"] != metrics["mae_g_s"]
    test_set.save(tmp_path / "test" / "dataset.npz")
    report = evaluate("stg", tmp_path / "test", weights=json_path, poisson_rates=(10.0,))
    assert report["network"] == "stg-v0"
    assert set(report) >= {"clean", "jitter_1ms", "jitter_2ms", "jitter_5ms", "drop_5pct", "poisson"}
    assert report["clean"]["mae_g_s"] == pytest.approx(metrics["mae_g_s"])
    assert report["poisson"]["10Hz"]["n_trains"] == 200
    assert len(poisson_trains([5.0], duration=2.0, n_per_rate=3, rng=0)) == 3


def test_train_hook_writes_versioned_weights(tmp_path):
    from nwb_dicpop.inference.training import train

    synthetic_set(n_groups=20, per_group=2, seed=2).save(tmp_path / "data" / "dataset.npz")
    card_path = train("stg", tmp_path / "data", tmp_path / "weights" / "stg-v7", seed=1, epochs=2,
                      network_config=TINY, batch_size=16)
    card = json.loads(card_path.read_text())
    assert card_path.name == "stg-v7.json"
    assert card["version"] == "stg-v7"
    assert card["model"] == "stg"
    assert card["threshold"] == -51.0
    assert len(card["history"]) == 2
    assert card["training"]["seed"] == 1
    assert set(card["support"]) >= {"rate", "n_spikes", "isi_cv"}
    est = infer_dics([regular_train(8.0)], weights=card_path)
    assert est.network_version == "stg-v7"
    with pytest.raises(ValueError, match="holds 'stg' trains"):
        train("da", tmp_path / "data", tmp_path / "weights" / "da-v1", epochs=1, network_config=TINY)
    with pytest.raises(TypeError, match="Unknown training option"):
        train("stg", tmp_path / "data", tmp_path / "weights" / "stg-v8", epochs=1, batch_sise=3)


def test_end_to_end_evaluation(trained):
    from nwb_dicpop.inference.evaluation import evaluate_end_to_end

    _, _, _, json_path = trained
    test_set = synthetic_set(n_groups=4, per_group=1, seed=11)
    report = evaluate_end_to_end(test_set, weights=json_path, n_trains=3, n_models=2, transient=0.2, seed=0)
    assert report["n_trains"] == 3
    assert report["n_models"] == 2
    assert report["max_rounds"] == 1  # the first-round yield, before any redrawing
    for variant in ("point", "sampled", "true"):
        assert 0.0 <= report[f"mean_valid_fraction_{variant}"] <= 1.0
    assert report["mean_valid_fraction"] == report["mean_valid_fraction_point"]
    assert report["n_failed"] == sum(report["failures"].values())
    again = evaluate_end_to_end(test_set, weights=json_path, n_trains=3, n_models=2, transient=0.2, seed=0)
    assert json.dumps(again, sort_keys=True) == json.dumps(report, sort_keys=True)  # seeded (NaN-aware)
    only_true = evaluate_end_to_end(test_set, weights=json_path, n_trains=3, n_models=2, transient=0.2, seed=0,
                                    targets=["true"])
    assert only_true["mean_valid_fraction_true"] == report["mean_valid_fraction_true"]
    with pytest.raises(ValueError, match="`targets` must be"):
        evaluate_end_to_end(test_set, weights=json_path, n_trains=3, targets=["oracle"])


# --------------------------------------------------------------------------- the ISI check of the OOD flag
def test_isi_periodicity_separates_model_like_trains_from_poisson():
    from nwb_dicpop.inference.evaluation import poisson_trains
    from nwb_dicpop.inference.ood import MIN_ISIS, isi_periodicity

    rng = np.random.default_rng(0)
    periodic = [regular_train(7.0), regular_train(30.0, jitter=0.001, rng=rng), burst_train(5, 0.4),
                burst_train(3, 0.25, intra=0.02)]
    relative, absolute = isi_periodicity(periodic)
    assert np.all(relative < 0.1)
    assert np.all(absolute < 0.003)
    poisson = poisson_trains([5.0, 20.0], duration=9.0, n_per_rate=20, rng=0)
    relative, absolute = isi_periodicity(poisson)
    assert np.median(relative) > 0.35
    assert np.all(relative > 0.15)
    # the median is in seconds, at the best lag: about ln(2) / rate for exponential ISIs
    assert 0.05 < np.median(absolute[:20]) < 0.3
    short, _ = isi_periodicity([np.arange(MIN_ISIS) * 0.1, np.arange(MIN_ISIS + 1) * 0.1])
    assert np.isnan(short[0])
    assert short[1] == pytest.approx(0.0, abs=1e-9)
    # only the spikes the network reads count
    tail_noise = np.concatenate([regular_train(10.0), 3.0 + np.sort(rng.uniform(0, 9, 90))])
    assert isi_periodicity([tail_noise], max_spikes=30)[0][0] == pytest.approx(0.0, abs=1e-9)
    assert isi_periodicity([tail_noise])[0][0] > 0.05
    with pytest.raises(ValueError, match="`max_lag`"):
        isi_periodicity(periodic, max_lag=0)


def test_isi_check_is_calibrated_and_read_from_the_card(trained, tmp_path):
    from nwb_dicpop.inference.evaluation import poisson_trains, record_isi_check
    from nwb_dicpop.inference.ood import calibrate_isi_check, irregular_isis
    from nwb_dicpop.inference.predict import predict_arrays

    _, _, _, json_path = trained
    calibration = synthetic_set(n_groups=40, per_group=2, seed=3)
    check = calibrate_isi_check(calibration.trains(range(len(calibration))), rng=0)
    assert 0.0 < check["relative"] < 0.3
    assert 0.0 < check["absolute"] < 0.02  # 5 ms of jitter is tolerated, not more
    assert check == calibrate_isi_check(calibration.trains(range(len(calibration))), rng=0)  # seeded
    poisson = poisson_trains([4.0, 8.0], duration=3.0, n_per_rate=30, rng=1)
    assert irregular_isis(poisson, {"isi_periodicity": check}).mean() > 0.9
    test = synthetic_set(n_groups=20, per_group=2, seed=8)
    assert irregular_isis(test.trains(range(len(test))), {"isi_periodicity": check}).mean() < 0.05
    assert not irregular_isis(poisson, {"rate": [1.0, 50.0]}).any()  # cards without the check
    with pytest.raises(ValueError, match="`quantile`"):
        calibrate_isi_check(poisson, quantile=1.0)
    with pytest.raises(ValueError, match="6 ISIs"):
        calibrate_isi_check([np.array([0.1, 0.2, 0.3])])
    # stored in a copy of the card, and read by the network's out-of-distribution flag
    card = tmp_path / "stg-v0.json"
    card.write_text(json_path.read_text())
    (tmp_path / "stg-v0.pt").write_bytes(json_path.with_suffix(".pt").read_bytes())
    loaded_before = load_network(card)
    calibration.save(tmp_path / "calibration" / "dataset.npz")
    stored = record_isi_check(card, tmp_path / "calibration", command="record it")
    assert json.loads(card.read_text())["support"]["isi_periodicity"] == stored
    assert stored["command"] == "record it"
    before = predict_arrays(loaded_before, poisson).out_of_distribution
    after = predict_arrays(load_network(card), poisson).out_of_distribution  # the checksum still holds
    assert after.mean() > 0.9
    assert np.all(after >= before)
    with pytest.raises(ValueError, match="is for 'stg'"):
        record_isi_check(card, TrainingSet.from_trains(poisson[:3], np.zeros((3, 2)), model_name="da", duration=3.0))


def test_end_to_end_reads_the_first_round_yield(trained):
    """Each train's figure is valid / simulated members of one round (a partial unit counts its
    yield, not zero), as run_pipeline(max_rounds=1) reports it."""
    from nwb_dicpop.inference.evaluation import evaluate_end_to_end
    from nwb_dicpop.pipeline import run_pipeline

    _, _, _, json_path = trained
    test_set = synthetic_set(n_groups=4, per_group=1, seed=11)  # every train is chosen
    report = evaluate_end_to_end(test_set, weights=json_path, n_trains=4, n_models=3, transient=0.2, seed=0,
                                 targets=["point"])
    trains = test_set.trains(range(4))
    spikes = SpikeTrains(trains, unit_ids=list(range(4)), t_start=[min(0.0, t[0]) for t in trains],
                         t_stop=[max(3.0, t[-1]) for t in trains])
    result = run_pipeline(spikes, model="stg", weights=json_path, n_models=3, duration=3.0, transient=0.2, seed=0,
                          write=False, max_rounds=1, uncertainty_scale=0.0)
    summary = result.summary
    assert (summary["n_simulated"] == 3).all()  # one round: no redrawing
    assert report["mean_valid_fraction_point"] == pytest.approx(summary["yield"].mean())


def test_training_calibrates_the_isi_check_when_it_has_enough_trains():
    from nwb_dicpop.inference.ood import MIN_CALIBRATION_TRAINS, training_isi_check

    few = synthetic_set(n_groups=20, per_group=3, seed=4)
    assert training_isi_check(few.trains(range(len(few)))) is None  # 60 trains: no check
    many = synthetic_set(n_groups=120, per_group=3, seed=4)
    check = training_isi_check(many.trains(range(len(many))), max_spikes=100)
    assert len(many) >= MIN_CALIBRATION_TRAINS
    assert check is not None
    assert 0.0 < check["relative"] < 0.3
    assert check == training_isi_check(many.trains(range(len(many))), max_spikes=100)  # seeded
