"""Training-data generator pieces, dataset files, and the evaluation metrics."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.inference.data import (
    TrainingSet,
    _check_manifest,
    _make_populations,
    load_training_data,
    make_training_data,
    sample_targets,
)
from nwb_dicpop.models import TrainingProtocol, get_model

sys.path.insert(0, str(Path(__file__).parent))
from hh_model import REFERENCE, make_hh


@pytest.mark.parametrize("model", ["stg", "da"])
def test_latin_hypercube_targets_fill_the_box(model):
    targets = sample_targets(model, 50, rng=3)
    (s_lo, s_hi), (u_lo, u_hi) = get_model(model).training.target_box
    assert targets.shape == (50, 2)
    for k, (lo, hi) in enumerate(((s_lo, s_hi), (u_lo, u_hi))):
        strata = np.floor((targets[:, k] - lo) / (hi - lo) * 50).astype(int)
        assert sorted(strata.tolist()) == list(range(50))  # one target per stratum
    np.testing.assert_array_equal(targets, sample_targets(model, 50, rng=3))
    assert not np.array_equal(targets, sample_targets(model, 50, rng=4))


def test_targets_bad_arguments():
    with pytest.raises(ValueError, match="Did you mean 'stg'"):
        sample_targets("sgt", 5)
    with pytest.raises(ValueError, match="n_targets"):
        sample_targets("stg", 0)
    with pytest.raises(ValueError, match="method"):
        sample_targets("stg", 5, method="sobol")


def test_populations_hit_targets_and_record_unreachable(tmp_path):
    # (7.3, 0.5) and (12, 0.3) are not reachable with the DA rule's pair; "auto" finds another pair
    targets = np.array([[2.0, 5.0], [7.3, 0.5], [-5.0, 10.0], [12.0, 0.3]])
    pops = _make_populations(tmp_path, "da", targets, 4, seed=0, progress=None)
    n = pops["conductances"].shape[0]
    skipped = json.loads((tmp_path / "skipped_targets.json").read_text())
    assert n == 4 * (len(targets) - len(skipped))
    achieved = pops["dics"][:, 1:]
    np.testing.assert_allclose(achieved, targets[pops["target_index"]], atol=1e-5)
    assert (pops["conductances"] >= 0).all()
    again = _make_populations(tmp_path, "da", targets, 4, seed=0, progress=None)  # resumes from the file
    np.testing.assert_array_equal(again["conductances"], pops["conductances"])


def test_manifest_mismatch_is_refused(tmp_path):
    _check_manifest(tmp_path, {"model": "stg", "seed": 0})
    _check_manifest(tmp_path, {"model": "stg", "seed": 0})
    with pytest.raises(ValueError, match="seed: 0 -> 1"):
        _check_manifest(tmp_path, {"model": "stg", "seed": 1})


def _small_set(offset: float = 0.0) -> TrainingSet:
    trains = [np.arange(10) * 0.1 + offset, np.array([0.0, 0.01, 0.3, 0.31, 0.6]), np.array([1.0])]
    return TrainingSet.from_trains(trains, [[1.0, 2.0], [-3.0, 4.0], [0.0, 1.0]], model_name="stg", duration=3.0)


def test_training_set_roundtrip_and_concatenation(tmp_path):
    first = _small_set()
    assert first.labels.tolist() == [1, 2, 0]
    first.save(tmp_path / "a" / "dataset.npz")
    _small_set(0.5).save(tmp_path / "b.npz")
    loaded = load_training_data(tmp_path / "a")
    np.testing.assert_array_equal(loaded.spike_times, first.spike_times)
    assert loaded.model_name == "stg"
    both = load_training_data([tmp_path / "a", tmp_path / "b.npz"])
    assert len(both) == 6
    np.testing.assert_array_equal(both.train(3), first.train(0) + 0.5)
    assert both.groups.tolist() == [0, 1, 2, 3, 4, 5]
    sub = both.subset([4, 0])
    np.testing.assert_array_equal(sub.train(0), first.train(1))
    with pytest.raises(FileNotFoundError, match="make_training_data"):
        load_training_data(tmp_path / "missing")


def test_make_training_data_end_to_end_and_resume(tmp_path):
    settings = {"n_targets": 2, "n_per_target": 2, "seed": 3, "duration": 0.3, "transient": 0.1, "chunk_size": 3}
    path = make_training_data("stg", tmp_path, **settings)
    data = load_training_data(tmp_path)
    assert len(data) == 4
    assert data.duration == 0.3  # the recorded window, after the transient
    assert all(data.train(i).size == 0 or data.train(i).max() <= 0.3 for i in range(len(data)))
    chunks = sorted((tmp_path / "simulation").glob("chunk_*.parquet"))
    assert len(chunks) == 2
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["n_targets"] == 2
    assert (manifest["format_version"], manifest["duration"], manifest["transient"]) == (2, 0.3, 0.1)
    with np.load(path) as saved:
        np.testing.assert_allclose(saved["dics"][:, 1:], saved["target"], atol=1e-5)
        assert saved["conductances"].shape == (4, 8)
        assert saved["compensating_set"].shape == (4,)
        np.testing.assert_array_equal(saved["stat_n_spikes"], data.n_spikes)
    # an interrupted run (dataset and one chunk missing) resumes to the same data
    path.unlink()
    chunks[1].unlink()
    make_training_data("stg", tmp_path, **settings)
    again = load_training_data(tmp_path)
    np.testing.assert_array_equal(again.spike_times, data.spike_times)
    np.testing.assert_array_equal(again.offsets, data.offsets)
    with pytest.raises(ValueError, match="other settings"):
        make_training_data("stg", tmp_path, **dict(settings, seed=4))


def test_partial_dataset_from_finished_chunks(tmp_path):
    settings = {"n_targets": 2, "n_per_target": 2, "seed": 3, "duration": 0.3, "transient": 0.1, "chunk_size": 3}
    path = make_training_data("stg", tmp_path, **settings)
    full = load_training_data(tmp_path)
    path.unlink()
    min((tmp_path / "simulation").glob("chunk_*.parquet")).unlink()
    with pytest.raises(FileNotFoundError, match="allow_partial"):
        load_training_data(tmp_path)
    partial = load_training_data(tmp_path, allow_partial=True)
    assert len(partial) == 1  # chunk 1 holds member 3 only
    np.testing.assert_array_equal(partial.train(0), full.train(3))
    np.testing.assert_array_equal(partial.targets[0], full.targets[3])
    assert partial.groups[0] == full.groups[3]
    with pytest.raises(FileNotFoundError, match="not simulated yet"):
        load_training_data(tmp_path, n_chunks=2)
    make_training_data("stg", tmp_path, **settings)  # resumes: simulates chunk 0 again
    first = load_training_data(tmp_path, n_chunks=1)
    assert len(first) == 3
    np.testing.assert_array_equal(first.targets, full.targets[:3])
    np.testing.assert_array_equal(first.spike_times, full.spike_times[: full.offsets[3]])


def test_version_1_generations_are_read_and_resumed(tmp_path):
    """Version-1 manifests stored the total simulated time (transient included) as duration."""
    settings = {"n_targets": 2, "n_per_target": 2, "seed": 3, "duration": 0.3, "transient": 0.1, "chunk_size": 3}
    path = make_training_data("stg", tmp_path, **settings)
    full = load_training_data(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest.update(format_version=1, duration=0.1 + 0.3)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    path.unlink()
    partial = load_training_data(tmp_path, allow_partial=True)
    assert partial.duration == pytest.approx(0.3)
    make_training_data("stg", tmp_path, **settings)  # the same settings: resumed, not refused
    np.testing.assert_array_equal(load_training_data(tmp_path).spike_times, full.spike_times)
    with pytest.raises(ValueError, match="duration"):
        make_training_data("stg", tmp_path, **dict(settings, duration=0.4))


def test_training_data_follow_the_model_declaration(tmp_path):
    """Any declared model: its TrainingProtocol gives the box, the times and the fallback set;
    without one, a clear error."""
    hh = make_hh(tuple(ndp.compute_dics(make_hh((0, 0, 0)), REFERENCE, -51.0)))
    assert hh.training is None
    for call in (lambda: sample_targets(hh, 4), lambda: make_training_data(hh, tmp_path / "none", n_targets=2)):
        with pytest.raises(ValueError, match=r"'hh-m' declares no training protocol.*TrainingProtocol\("):
            call()
    assert not (tmp_path / "none" / "manifest.json").exists()
    protocol = TrainingProtocol(g_s_range=(0.55, 0.65), g_u_range=(0.15, 0.25), duration=0.2, transient=0.05,
                                fallback_compensating_set=None)
    declared = dataclasses.replace(hh, training=protocol)
    targets = sample_targets(declared, 20, rng=0)
    assert ((targets >= [0.55, 0.15]) & (targets <= [0.65, 0.25])).all()
    (tmp_path / "pops").mkdir()
    pops = _make_populations(tmp_path / "pops", declared, targets[:3], 2, seed=0, progress=None)
    np.testing.assert_allclose(pops["dics"][:, 1:], targets[pops["target_index"]], atol=1e-5)


def test_silent_screen_skips_only_members_that_simulation_finds_silent(tmp_path):
    """DA members screened silent (one stable fixed point) are not simulated; the dataset has the
    labels and trains of a run that simulates every member; the setting is part of the manifest."""
    settings = {"n_targets": 4, "n_per_target": 4, "seed": 2, "duration": 1.0, "chunk_size": 8}
    screened_path = make_training_data("da", tmp_path / "screened", **settings)
    full_path = make_training_data("da", tmp_path / "full", silent_screen=False, **settings)
    screened, full = load_training_data(screened_path), load_training_data(full_path)
    with np.load(screened_path) as saved:
        skipped = saved["screened_silent"]
    with np.load(full_path) as saved:
        assert not saved["screened_silent"].any()
    assert 0 < skipped.sum() < len(screened)
    np.testing.assert_array_equal(screened.labels, full.labels)
    assert (full.labels[skipped] == 0).all()
    for i in range(len(full)):
        np.testing.assert_array_equal(screened.train(i), full.train(i))
    simulated = sum(1 for _ in (tmp_path / "screened" / "simulation").glob("chunk_*.parquet"))
    assert simulated == int(np.ceil((~skipped).sum() / 8))
    assert json.loads((tmp_path / "screened" / "manifest.json").read_text())["silent_screen"] is True
    with pytest.raises(ValueError, match="silent_screen: True -> False"):
        make_training_data("da", tmp_path / "screened", silent_screen=False, **settings)
    assert make_training_data("da", tmp_path / "screened", **settings) == screened_path  # resumes as made


def test_silent_screen_is_off_with_current_noise_and_for_old_folders(tmp_path):
    noisy = {"n_targets": 1, "n_per_target": 2, "seed": 2, "duration": 0.2, "transient": 0.1, "noise_sigma": 1.0}
    make_training_data("da", tmp_path / "noisy", **noisy)
    assert json.loads((tmp_path / "noisy" / "manifest.json").read_text())["silent_screen"] is False
    # a folder written before the screen existed (no key) resumes as "every member simulated"
    settings = {"n_targets": 1, "n_per_target": 2, "seed": 3, "duration": 0.2, "transient": 0.1}
    path = make_training_data("stg", tmp_path / "old", silent_screen=False, **settings)
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    del manifest["silent_screen"]
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest))
    path.unlink()
    make_training_data("stg", tmp_path / "old", **settings)  # the default follows the folder
    with pytest.raises(ValueError, match="silent_screen: False -> True"):
        make_training_data("stg", tmp_path / "old", silent_screen=True, **settings)
