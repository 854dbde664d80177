"""Brian2 simulation: generated equations, spike detection, noise, fidelity to BDF, batches."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nwb_dicpop as ndp
from nwb_dicpop import simulation
from nwb_dicpop.models import get_model
from nwb_dicpop.models.dynamics import detect_spikes
from nwb_dicpop.simulation import _targets
from nwb_dicpop.simulation._noise import filtered_noise

sys.path.insert(0, str(Path(__file__).parent))
from fidelity import EXAMPLE_NEURONS, compare_trains, random_members, reference_trains
from hh_model import REFERENCE, make_hh

ROOT = Path(__file__).parents[1]

STG_SPIKING = np.array(EXAMPLE_NEURONS["stg_spiking"][1])
STG_BURSTING = np.array(EXAMPLE_NEURONS["stg_bursting"][1])


@pytest.fixture(scope="module", autouse=True)
def _brian2_cache():
    """Compiled Brian2 code is cached under /tmp between test sessions (cold compile ~10 s each)."""
    key = "NWB_DICPOP_CACHE_DIR"
    previous = os.environ.get(key)
    if previous is None:
        os.environ[key] = str(Path(tempfile.gettempdir()) / "nwb_dicpop-test-brian2")
    yield
    if previous is None:
        os.environ.pop(key, None)


@pytest.fixture(scope="module")
def stg_population():
    return ndp.generate_population("stg", -4.0, 5.0, n_models=4, rng=0, thresholds=False)


# ---------------------------------------------------------------------------------- equations
def test_equations_are_generated_from_the_declaration():
    text = ndp.simulation.brian2_equations("stg")
    for state in ("x_Na_m", "x_Na_h", "x_Kd_m", "x_CaT_m", "x_KCa_m", "x_A_m", "x_A_h", "x_H_m", "x_Ca"):
        assert f"d{state}/dt" in text
    assert "dv/dt" in text
    # the reserved unit names (mA, ms, ...) never appear as variables
    assert "dmA/dt" not in text
    assert "g_leak : 1 (constant)" in text
    da = ndp.simulation.brian2_equations("da", noise=True)
    assert "x_ERG_o" in da
    assert "x_ERG_i" in da
    assert "I_noise = nwb_dicpop_noise(t, i)" in da


# ---------------------------------------------------------------------------------- simulation
def test_simulate_population_result_and_input_forms(stg_population):
    result = ndp.simulate_population(stg_population, duration=0.4, transient=0.2)
    assert isinstance(result, ndp.SimulationResult)
    assert result.n_members == 4
    assert result.duration == 0.4
    assert result.transient == pytest.approx(0.2)
    assert result.method == "rush_larsen2"
    assert result.dt == pytest.approx(1e-4)
    assert result.code_target in ("cython", "numpy")
    assert result.simulator_version.startswith("brian2 ")
    for train in result.spike_times:
        assert train.size > 0
        assert np.all(np.diff(train) > 0)
        assert train[0] >= 0.0
        assert train[-1] <= 0.4
    np.testing.assert_array_equal(result.conductances, stg_population.conductances)
    # the same conductances as a DataFrame ("g_Na" or "Na" columns) or an array give the same spikes
    frame = stg_population.to_dataframe()
    plain = pd.DataFrame(stg_population.conductances, columns=list(stg_population.conductance_names))
    for table in (frame, plain, stg_population.conductances):
        other = ndp.simulate_population(table, model="stg", duration=0.4, transient=0.2)
        for a, b in zip(result.spike_times, other.spike_times, strict=True):
            np.testing.assert_array_equal(a, b)


def test_spike_times_follow_the_detection_rule_on_the_recorded_trace():
    result = ndp.simulate_population(
        STG_BURSTING[None, :], model="stg", duration=0.3, transient=0.2, record_voltage=[0]
    )
    assert result.voltage.shape == (1, round(0.3 / result.dt))
    np.testing.assert_array_equal(result.voltage_members, [0])
    time = (np.arange(result.voltage.shape[1]) + 1) * result.dt  # samples at the end of each step
    detected = detect_spikes(time, result.voltage[0])
    # +10 mV upward crossing, counted once until V falls below 0 mV
    np.testing.assert_allclose(result.spike_times[0], detected, atol=1e-9)
    assert result.spike_times[0].size >= 5


def test_noise_is_reproducible_and_seeded_per_member(stg_population):
    kwargs = {"duration": 0.4, "transient": 0.1, "noise_sigma": 3.0}
    a = ndp.simulate_population(stg_population, rng=7, **kwargs)
    b = ndp.simulate_population(stg_population, rng=7, **kwargs)
    c = ndp.simulate_population(stg_population, rng=8, **kwargs)
    quiet = ndp.simulate_population(stg_population, duration=0.4, transient=0.1)
    assert a.noise_sigma == 3.0
    assert a.seed == 7
    for x, y in zip(a.spike_times, b.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(x.size != y.size or not np.allclose(x, y) for x, y in zip(a.spike_times, c.spike_times, strict=True))
    assert any(x.size != y.size or not np.allclose(x, y) for x, y in zip(a.spike_times, quiet.spike_times, strict=True))
    # member k's noise depends on (seed, k) only
    seeds = simulation.member_seeds(7, 2, offset=2)
    assert seeds[0].spawn_key == (2,)
    noise = filtered_noise(seeds, 2000, 1e-4, 3.0)
    full = filtered_noise(simulation.member_seeds(7, 4), 2000, 1e-4, 3.0)
    np.testing.assert_array_equal(noise, full[:, 2:])
    # low-passed at 1 kHz: under 1 % of the power above 2 kHz (60 % for white noise)
    spectrum = np.abs(np.fft.rfft(full[:, 0])) ** 2
    frequency = np.fft.rfftfreq(2000, 1e-4)
    assert spectrum[frequency > 2000].sum() < 1e-2 * spectrum.sum()


def test_fidelity_against_bdf_reference_small():
    """Fast version of the fidelity check: the two STG example neurons, 1 s recorded."""
    conductances = np.array([STG_SPIKING, STG_BURSTING])
    simulated = ndp.simulate_population(conductances, model="stg", duration=1.0, transient=0.5)
    reference = reference_trains("stg", conductances, duration=1.0, transient=0.5)
    report = compare_trains(reference, list(simulated.spike_times), duration=1.0)
    assert list(report["reference_class"]) == ["spiking", "bursting"]
    assert report["same_class"].all()
    assert (report["max_error"] <= 0.02).all(), report.to_string()


@pytest.mark.slow
def test_fidelity_against_bdf_reference_examples_and_random_members():
    """science.md 15 examples + 100 random members (50 per model, spiking and bursting targets),
    training-data protocols (``model.training``: STG 3 s, DA 9 s recorded after a 3 s transient):
    firing rate, spikes per burst and burst frequency within 2 % of BDF at rtol 1e-6 (about an
    hour of BDF on two cores)."""
    reports = []
    for model, seed in (("stg", 11), ("da", 12)):
        training = get_model(model).training
        duration, transient = training.duration, training.transient
        examples = [np.array(g) for m, g in EXAMPLE_NEURONS.values() if m == model]
        conductances = np.concatenate([examples, random_members(model, 50, seed=seed)])
        simulated = ndp.simulate_population(conductances, model=model, duration=duration, transient=transient)
        reference = reference_trains(model, conductances, duration=duration, transient=transient, n_workers=2)
        report = compare_trains(reference, list(simulated.spike_times), duration=duration)
        assert (report["max_error"].iloc[:2] <= 0.02).all(), report.iloc[:2].to_string()
        reports.append(report)
    report = pd.concat(reports, ignore_index=True)
    assert report["same_class"].mean() >= 0.97, report.to_string()
    assert (report["max_error"] <= 0.02).mean() >= 0.95, report.to_string()


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"duration": 0.0}, "`duration` must be positive"),
        ({"duration": -1.0}, "`duration` must be positive"),
        ({"duration": 1.0, "transient": -0.1}, "`transient` must be >= 0"),
        ({"total_duration": 1.0}, "not both"),
        ({"duration": None, "total_duration": 0.5, "transient": 0.5}, "must be longer than `transient`"),
        ({"dt": 2e-4}, "larger than this model and method allow"),
        ({"dt": 0.0}, "`dt` must be a positive"),
        ({"method": "rk5"}, "Unknown method 'rk5'"),
        ({"code_target": "gpu"}, "Unknown code_target"),
        ({"record_voltage": [9]}, "record_voltage"),
        ({"noise_sigma": -1.0}, "noise_sigma"),
        ({"noise_sigma": 1.0, "noise_dt": 7e-5}, "integer multiple"),
    ],
)
def test_bad_arguments_raise_clear_errors(stg_population, kwargs, match):
    arguments = {"duration": 0.5, "transient": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        ndp.simulate_population(stg_population, **arguments)


def test_bad_populations_raise_clear_errors(stg_population):
    with pytest.raises(ValueError, match="empty"):
        ndp.simulate_population(np.zeros((0, 8)), model="stg")
    with pytest.raises(ValueError, match="belongs to model 'stg'"):
        ndp.simulate_population(stg_population, model="da")
    with pytest.raises(ValueError, match="`model` is required"):
        ndp.simulate_population(stg_population.conductances)
    with pytest.raises(ValueError, match="one column per conductance"):
        ndp.simulate_population(stg_population.conductances, model="da")
    bad = stg_population.conductances.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ndp.simulate_population(bad, model="stg")
    bad[1, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        ndp.simulate_population(bad, model="stg")
    no_leak = stg_population.conductances.copy()
    no_leak[:, -1] = 0.0
    with pytest.raises(ValueError, match="leak conductance"):
        ndp.simulate_population(no_leak, model="stg")
    frame = stg_population.to_dataframe().drop(columns=["g_CaS"])
    with pytest.raises(ValueError, match="Did you mean"):
        ndp.simulate_population(frame, model="stg")
    with pytest.raises(ValueError, match="Unknown model"):
        ndp.simulate_population(stg_population.conductances, model="stgg")


def test_missing_compiler_falls_back_to_numpy_with_a_warning(monkeypatch, stg_population):
    monkeypatch.setattr(_targets, "cython_available", lambda: False)
    with pytest.warns(simulation.CodeTargetWarning, match="numpy"):
        result = ndp.simulate_population(stg_population.conductances[:1], model="stg", duration=0.001, transient=0.001)
    assert result.code_target == "numpy"
    with pytest.raises(ValueError, match="code_target='cython' was requested"):
        ndp.simulate_population(stg_population, duration=0.001, transient=0.001, code_target="cython")


def test_numpy_target_matches_cython_on_a_short_run(stg_population):
    fast = ndp.simulate_population(STG_SPIKING[None, :], model="stg", duration=0.06, transient=0.0)
    slow = ndp.simulate_population(STG_SPIKING[None, :], model="stg", duration=0.06, transient=0.0, code_target="numpy")
    assert slow.code_target == "numpy"
    assert fast.spike_times[0].size == slow.spike_times[0].size >= 1
    np.testing.assert_allclose(fast.spike_times[0], slow.spike_times[0], atol=1e-4)


def test_divergence_is_reported(stg_population):
    # explicit RK4 cannot integrate the stiff STG voltage equation at this step
    with pytest.warns(simulation.NumericalInstabilityWarning, match="diverged"):
        ndp.simulate_population(stg_population, duration=0.02, transient=0.0, method="rk4", dt=2e-5)


def test_inputs_are_not_modified(stg_population):
    table = stg_population.conductances.copy()
    ndp.simulate_population(table, model="stg", duration=0.01, transient=0.0)
    np.testing.assert_array_equal(table, stg_population.conductances)


# ---------------------------------------------------------------------------------- batches
def test_batches_resume_and_do_not_depend_on_chunking(tmp_path, stg_population):
    conductances = np.concatenate([stg_population.conductances, stg_population.conductances[:1]])
    kwargs = {"model": "stg", "duration": 0.2, "transient": 0.1, "noise_sigma": 2.0, "seed": 3}
    calls = []
    first = ndp.simulate_batches(
        conductances, output_dir=tmp_path / "a", chunk_size=2, progress=lambda d, n: calls.append((d, n)), **kwargs
    )
    assert calls[-1] == (3, 3)
    assert sorted(p.name for p in first.iterdir()) == [
        "chunk_000000.parquet", "chunk_000001.parquet", "chunk_000002.parquet", "manifest.json",
    ]
    result = ndp.read_batches(first)
    np.testing.assert_array_equal(result.conductances, conductances)
    assert result.seed == 3
    assert result.noise_sigma == 2.0
    other = ndp.read_batches(ndp.simulate_batches(conductances, output_dir=tmp_path / "b", chunk_size=4, **kwargs))
    direct = ndp.simulate_population(conductances, model="stg", duration=0.2, transient=0.1, noise_sigma=2.0, rng=3)
    for x, y, z in zip(result.spike_times, other.spike_times, direct.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    # interrupted run: a missing chunk is an error until the run is resumed; finished chunks are kept
    kept = (first / "chunk_000000.parquet").stat().st_mtime_ns
    (first / "chunk_000001.parquet").unlink()
    with pytest.raises(ValueError, match="incomplete"):
        ndp.read_batches(first)
    assert ndp.read_batches(first, allow_incomplete=True).n_members == 3
    ndp.simulate_batches(conductances, output_dir=first, chunk_size=2, **kwargs)
    assert (first / "chunk_000000.parquet").stat().st_mtime_ns == kept
    resumed = ndp.read_batches(first)
    for x, y in zip(result.spike_times, resumed.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="different run"):
        ndp.simulate_batches(conductances, output_dir=first, chunk_size=2, **(kwargs | {"seed": 4}))
    assert not list(first.glob("*.tmp"))


@pytest.mark.slow
def test_batches_as_dask_tasks(tmp_path, stg_population):
    kwargs = {"model": "stg", "duration": 0.1, "transient": 0.1, "chunk_size": 2}
    sequential = ndp.read_batches(ndp.simulate_batches(stg_population, output_dir=tmp_path / "s", **kwargs))
    tasks = ndp.read_batches(
        ndp.simulate_batches(stg_population, output_dir=tmp_path / "d", scheduler="local", **kwargs)
    )
    for x, y in zip(sequential.spike_times, tasks.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)


def test_batches_bad_input(tmp_path, stg_population):
    with pytest.raises(ValueError, match="chunk_size"):
        ndp.simulate_batches(stg_population, model=None, output_dir=tmp_path, chunk_size=0, duration=1.0, transient=0.5)
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        ndp.read_batches(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="transient"):
            ndp.simulate_batches(stg_population, model=None, output_dir=tmp_path, duration=1.0, transient=-1.0)
        with pytest.raises(TypeError, match="`duration` is required"):
            ndp.simulate_batches(stg_population, model=None, output_dir=tmp_path, transient=1.0)
        with pytest.raises(ValueError, match="not both"):
            ndp.simulate_batches(stg_population, model=None, output_dir=tmp_path, duration=1.0, total_duration=2.0,
                                 transient=1.0)
    assert not (tmp_path / "manifest.json").exists()


# ---------------------------------------------------------------------------------- duration
def _assert_within(result, duration):
    for train in result.spike_times:
        assert train.size == 0 or (train.min() >= 0.0 and train.max() <= duration), train


def test_duration_is_the_recorded_window_after_the_transient():
    """``duration`` is the recorded window: the transient (even a longer one) comes on top."""
    result = ndp.simulate_population(STG_SPIKING[None, :], model="stg", duration=0.3, transient=0.4,
                                     record_voltage=[0])
    assert result.duration == 0.3
    assert result.transient == 0.4
    assert result.voltage.shape == (1, round(0.3 / result.dt))
    assert result.spike_times[0].size >= 3
    _assert_within(result, 0.3)
    # the same 0.7 s run recorded from the start holds these spikes 0.4 s later
    whole = ndp.simulate_population(STG_SPIKING[None, :], model="stg", duration=0.7, transient=0.0)
    assert whole.duration == 0.7
    _assert_within(whole, 0.7)
    late = whole.spike_times[0][whole.spike_times[0] >= 0.4 - 1e-9] - 0.4
    np.testing.assert_allclose(result.spike_times[0], late, atol=1e-9)


def test_default_window_is_two_seconds_after_two_seconds():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ndp.simulate_population(STG_SPIKING[None, :], model="stg")
    assert (result.duration, result.transient) == (2.0, 2.0)
    _assert_within(result, 2.0)


def test_deprecated_total_duration_gives_the_same_spikes(stg_population):
    kwargs = {"transient": 0.3, "noise_sigma": 2.0, "rng": 5}
    new = ndp.simulate_population(stg_population, duration=0.2, **kwargs)
    with pytest.warns(FutureWarning, match=r"Pass duration=0\.2 \(total_duration - transient\)"):
        old = ndp.simulate_population(stg_population, total_duration=0.5, **kwargs)
    assert new.duration == 0.2
    assert old.duration == pytest.approx(0.2, abs=1e-12)
    assert old.transient == new.transient == 0.3
    for x, y in zip(new.spike_times, old.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
    _assert_within(new, 0.2)


def test_batches_duration_is_the_recorded_window(tmp_path, stg_population):
    kwargs = {"model": None, "chunk_size": 3, "transient": 0.3}
    folder = ndp.simulate_batches(stg_population, output_dir=tmp_path / "new", duration=0.2, **kwargs)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["version"], manifest["duration"], manifest["transient"]) == (2, 0.2, 0.3)
    result = ndp.read_batches(folder)
    assert result.duration == 0.2
    _assert_within(result, 0.2)
    direct = ndp.simulate_population(stg_population, duration=0.2, transient=0.3)
    with pytest.warns(FutureWarning, match="total_duration"):
        old = ndp.read_batches(ndp.simulate_batches(stg_population, output_dir=tmp_path / "old", total_duration=0.5,
                                                    **kwargs))
    assert old.duration == pytest.approx(0.2, abs=1e-12)
    for x, y, z in zip(result.spike_times, direct.spike_times, old.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    # the same run with duration=0.2 resumes the folder made with total_duration=0.5
    ndp.simulate_batches(stg_population, output_dir=tmp_path / "old", duration=0.2, **kwargs)


def test_batches_version_1_folders_are_read_and_resumed(tmp_path, stg_population):
    """Version-1 manifests stored the total simulated time (and a noise grid without noise)."""
    kwargs = {"model": None, "chunk_size": 2, "transient": 0.1}
    folder = ndp.simulate_batches(stg_population, output_dir=tmp_path, duration=0.2, **kwargs)
    expected = ndp.read_batches(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(version=1, duration=0.1 + 0.2, noise_dt=1e-4)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    old = ndp.read_batches(folder)
    assert old.duration == pytest.approx(0.2)
    (folder / "chunk_000001.parquet").unlink()
    ndp.simulate_batches(stg_population, output_dir=folder, duration=0.2, **kwargs)  # resumes, no "different run"
    for x, y in zip(expected.spike_times, ndp.read_batches(folder).spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match=r"different run \(differs in \['duration'\]\)"):
        ndp.simulate_batches(stg_population, output_dir=folder, duration=0.3, **kwargs)


def test_validate_population_simulates_the_recorded_window():
    truth = ndp.generate_population("stg", 4.0, 5.0, n_models=2, rng=1, thresholds=False)
    observed = ndp.simulate_population(truth.conductances[:1], model="stg", duration=0.5, transient=0.4)
    assert observed.spike_times[0].size >= 3
    result = ndp.validate_population(observed.spike_times[0], truth, duration=0.5, transient=0.4)
    assert result.simulation.duration == 0.5
    assert result.simulation.transient == 0.4
    _assert_within(result.simulation, 0.5)
    np.testing.assert_array_equal(result.simulation.spike_times[0], observed.spike_times[0])
    assert bool(result.members.loc[0, "valid"])


# ---------------------------------------------------------------------------------- model settings
def test_any_declared_model_simulates_with_its_own_settings():
    """A model declared outside the package (tests/hh_model.py) gets its SimulationSettings."""
    hh = make_hh(tuple(ndp.compute_dics(make_hh((0, 0, 0)), REFERENCE, -51.0)))
    conductances = np.array([REFERENCE, REFERENCE])
    kwargs = {"model": hh, "duration": 0.1, "transient": 0.05, "record_voltage": [0]}
    result = ndp.simulate_population(conductances, noise_sigma=1.0, rng=0, **kwargs)
    quiet = ndp.simulate_population(conductances, **kwargs)
    assert result.model_name == "hh-m"
    assert (result.method, result.dt) == (hh.simulation.method, hh.simulation.dt)
    assert result.duration == 0.1
    assert result.voltage.shape == quiet.voltage.shape == (1, round(0.1 / hh.simulation.dt))
    assert not np.allclose(result.voltage, quiet.voltage)  # noise on the model's own grid
    _assert_within(result, 0.1)
    assert simulation.max_dt(hh, "rk4") < simulation.MAX_DT


def test_default_integration_comes_from_the_declaration():
    for name in ("stg", "da"):
        spec = get_model(name)
        conductances = np.array([EXAMPLE_NEURONS[f"{name}_spiking"][1]])
        result = ndp.simulate_population(conductances, model=name, duration=0.001, transient=0.0)
        assert (result.method, result.dt) == (spec.simulation.method, spec.simulation.dt)


# ---------------------------------------------------------------------------------- structure
def _imported_private_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nwb_dicpop"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_simulation_modules_import_no_private_names():
    """The simulation side imports no underscore-prefixed name of another module, and nothing in
    the package imports one from the simulation package."""
    package = ROOT / "nwb_dicpop"
    own = [*sorted((package / "simulation").glob("*.py")), package / "batches.py", package / "demo.py",
           package / "inference" / "data.py", package / "inference" / "card.py"]
    assert {p.name for p in own} >= {"_engine.py", "_functions.py", "_noise.py", "_targets.py"}
    offending = {str(p.relative_to(ROOT)): _imported_private_names(p) for p in own}
    assert not any(offending.values()), offending
    for path in package.rglob("*.py"):
        assert not [n for n in _imported_private_names(path) if n.startswith("nwb_dicpop.simulation")], path
    assert not hasattr(simulation, "simulate_batches")  # no re-export of the batch runner (import cycle)
    assert not (package / "_fidelity.py").exists()


def test_brian2_does_not_take_over_the_excepthook(tmp_path):
    """Brian2's excepthook blamed Brian2 for any later uncaught exception; ours stay ours."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import nwb_dicpop as ndp\n"
        "hook = sys.excepthook\n"
        f"ndp.simulate_population(np.array([{list(STG_SPIKING)}]), model='stg', duration=0.001, transient=0.0,"
        " code_target='numpy')\n"
        "assert 'brian2' in sys.modules\n"
        "assert sys.excepthook is hook, sys.excepthook\n"
        "raise RuntimeError('an error of the calling code')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 1
    assert "RuntimeError: an error of the calling code" in result.stderr
    assert "Brian 2 encountered an unexpected error" not in result.stderr
    assert "AssertionError" not in result.stderr


def test_rush_larsen_advances_markov_states_together():
    """The ERG Markov states of the DA model exchange occupancy at rates that become fast during
    a spike; advanced one state at a time (the others held) the second-order Rush-Larsen method
    drifted by about 3 % in firing rate at 0.05 ms, advanced together it agrees with rk4."""
    conductances = np.array([EXAMPLE_NEURONS["da_spiking"][1], *random_members("da", 6, seed=5).tolist()])
    exact = ndp.simulate_population(conductances, model="da", duration=2.0, transient=1.0)  # rk4, 0.025 ms
    fast = ndp.simulate_population(conductances, model="da", duration=2.0, transient=1.0, method="rush_larsen2",
                                   dt=5e-5)
    report = compare_trains(list(exact.spike_times), list(fast.spike_times), duration=2.0)
    assert report["same_class"].all(), report.to_string()
    assert (report["max_error"] <= 0.01).mean() >= 0.85, report.to_string()


@pytest.mark.slow
def test_later_simulations_reuse_the_compiled_code(stg_population, tmp_path, monkeypatch):
    """Brian2 names a run's code objects after the objects still alive; a run whose objects are
    kept past the next run's start gets other names, hence other code, and compiles again
    (a garbage-collection shortcut once cost a second 20 s compile in every fresh process).
    An empty cache, so that the first run compiles (about 20 s)."""
    from nwb_dicpop.simulation._targets import cache_dir, resolve_target

    if resolve_target("auto") != "cython":
        pytest.skip("no compiler: nothing is compiled")
    monkeypatch.setenv("NWB_DICPOP_CACHE_DIR", str(tmp_path))
    ndp.simulate_population(stg_population, duration=0.01, transient=0.0)
    compiled = set(cache_dir().glob("*.so")) | set(cache_dir().glob("*.pyd"))
    for _ in range(2):
        ndp.simulate_population(stg_population, duration=0.01, transient=0.0)
    assert set(cache_dir().glob("*.so")) | set(cache_dir().glob("*.pyd")) == compiled
