"""The ndx-dicpop extension: write_results / read_results, validation, tools, bad input, packaging."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nwb_dicpop as ndp
from nwb_dicpop import DICEstimate, Population
from nwb_dicpop.io import read_spike_trains
from nwb_dicpop.nwb import (
    ConductanceColumn,
    DicpopResults,
    check_output_path,
    extension_namespace_path,
    read_results,
    write_results,
)
from nwb_dicpop.testing import mock_dic_estimate, mock_spike_trains, write_mock_nwb

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SERIOUS = {"CRITICAL", "ERROR", "BEST_PRACTICE_VIOLATION"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def populations() -> list[Population]:
    """Populations of units 0, 1 and 3, with two different compensating sets."""
    first = ndp.generate_populations("stg", [3.0, 4.5], [5.0, 5.5], n_models=4, rng=1, unit_ids=[0, 1],
                                     compensating_set=("A", "H"))
    second = ndp.generate_population("stg", 5.0, 4.5, n_models=3, rng=2, unit_id=3, compensating_set=("CaS", "H"))
    return [*first, second]


@pytest.fixture
def dics() -> DICEstimate:
    return mock_dic_estimate([0, 1, 2, 3], silent=[2], rng=0)


@pytest.fixture
def spikes():
    return mock_spike_trains(n_units=4, rate=6.0, duration=5.0, rng=3)


@pytest.fixture
def source(tmp_path, spikes) -> Path:
    return write_mock_nwb(tmp_path / "session.nwb", spikes)


@pytest.fixture
def statistics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": [0, 1, 2, 3],
            "firing_rate": [5.5, 6.1, 0.0, 7.25],
            "n_spikes": np.array([27, 30, 0, 36], dtype=np.int64),
            "is_bursting": [False, True, False, False],
            "firing_class": ["spiking", "bursting", "silent", "spiking"],
        }
    )


@pytest.fixture
def validation() -> pd.DataFrame:
    return pd.DataFrame(
        {"unit_id": [0, 0, 3], "member": [0, 2, 1], "fires_like_target": [True, False, True], "rate": [5.1, 0.0, 7.0]}
    )


def assert_dics_equal(a: DICEstimate, b: DICEstimate) -> None:
    assert a.unit_ids == b.unit_ids
    assert a.model_name == b.model_name
    assert a.threshold == b.threshold
    assert a.network_version == b.network_version
    assert a.network_class == b.network_class
    assert a.status == b.status
    for name in ("g_f", "g_f_std", "g_s", "g_u", "g_s_std", "g_u_std", "out_of_distribution"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def assert_population_equal(a: Population, b: Population) -> None:
    for name in ("model_name", "conductance_names", "reference_threshold", "compensating_set", "n_iterations",
                 "n_rejected", "seed", "unit_id"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("conductances", "dics", "threshold", "targets", "target_mean", "target_std", "residual"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# --------------------------------------------------------------------------- roundtrips


def test_roundtrip_every_type(source, dics, populations, statistics, validation):
    before = _sha256(source)
    out = write_results(
        source,
        dics=dics,
        populations=populations,
        statistics=statistics,
        validation=validation,
        provenance={"seeds": {"populations": [1, 2]}, "settings": {"n_models": 4, "rule": "explicit"}},
    )
    assert out == source.with_name("session_dicpop.nwb")
    assert _sha256(source) == before  # the input is never modified
    assert sorted(p.name for p in source.parent.iterdir()) == ["session.nwb", "session_dicpop.nwb"]

    results = read_results(out)
    assert isinstance(results, DicpopResults)
    assert_dics_equal(results.dics, dics)
    assert len(results.populations) == 3
    for read, written in zip(results.populations, populations, strict=True):
        assert_population_equal(read, written)
    assert results.populations[2].compensating_set == ("CaS", "H")
    pd.testing.assert_frame_equal(results.statistics, statistics, check_dtype=False)
    assert results.statistics["n_spikes"].dtype.kind == "i"
    assert results.statistics["is_bursting"].dtype == bool

    frame = results.validation
    assert len(frame) == 11  # every member, NaN where not simulated
    simulated = frame.set_index(["unit_id", "member"]).loc[[(0, 0), (0, 2), (3, 1)]]
    np.testing.assert_array_equal(simulated["fires_like_target"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(simulated["rate"], [5.1, 0.0, 7.0])
    assert frame["rate"].isna().sum() == 8

    provenance = results.provenance
    assert provenance["software"] == "nwb_dicpop"
    assert provenance["software_version"] == ndp.__version__
    assert provenance["settings"] == {"n_models": 4, "rule": "explicit"}
    assert provenance["seeds"] == {"populations": [1, 2]}
    declaration = provenance["model_declaration"]["stg"]
    assert declaration["threshold"] == -51.0
    assert [c["name"] for c in declaration["currents"]] == list(populations[0].conductance_names)
    assert "stg_compensation_rule" in declaration["compensation_rule"]


def test_roundtrip_single_parts_and_complete_validation(source, populations, tmp_path):
    only_pops = write_results(source, tmp_path / "pops.nwb", populations=populations[2])
    results = read_results(only_pops)
    assert results.dics is None
    assert results.statistics is None
    assert results.validation is None
    assert_population_equal(results.populations[0], populations[2])
    assert results.provenance["seeds"] == {"populations": {"3": 2}}  # recorded from the population
    declared = read_results(
        write_results(source, tmp_path / "model.nwb", populations=populations[2], provenance={"model": ndp.get_model("da")})
    ).provenance["model_declaration"]
    assert declared["name"] == "da"
    assert declared["threshold"] == ndp.get_model("da").threshold

    complete = pd.DataFrame({"unit_id": [3, 3, 3], "member": [2, 0, 1], "passed": [True, True, False],
                             "n_spikes": np.array([3, 4, 5])})
    out = write_results(source, tmp_path / "complete.nwb", populations=populations[2], validation=complete)
    frame = read_results(out).validation
    assert frame["passed"].dtype == bool  # every member validated: booleans stay booleans
    assert frame["passed"].tolist() == [True, False, True]
    assert frame["n_spikes"].tolist() == [4, 5, 3]

    with_g_f = DICEstimate(unit_ids=(1,), model_name="stg", threshold=-51.0, g_s=[2.0], g_u=[5.0], g_s_std=[0.1],
                           g_u_std=[0.2], network_class=("spiking",), out_of_distribution=[True], status=("ok",),
                           g_f=[-4.5], g_f_std=[0.3])
    results = read_results(write_results(source, tmp_path / "gf.nwb", dics=with_g_f))
    assert_dics_equal(results.dics, with_g_f)


def test_network_class_and_population_outcomes_roundtrip(source, dics, populations, statistics):
    import h5py

    outcomes = pd.DataFrame({
        "unit_id": [0, 3], "validation_status": ["ok", "partial"], "n_simulated": [4, 15], "n_valid": [4, 2],
        "yield": [1.0, 2 / 15], "validation_duration": [9.0, 9.0], "validation_transient": [3.0, 3.0],
    })
    out = write_results(source, dics=dics, populations=populations, statistics=statistics,
                        population_outcomes=outcomes)
    with h5py.File(out, "r") as handle:
        table = handle["processing/dicpop/dic_estimates"]
        assert "network_class" in table
        assert "firing_class" not in table  # one meaning of firing_class: the spike statistics' one
        assert handle["processing/dicpop/spike_statistics/firing_class"].shape == (4,)
        assert handle["processing/dicpop/conductance_populations/yield"].attrs["unit"] == "dimensionless"
        assert handle["processing/dicpop/conductance_populations/validation_duration"].attrs["unit"] == "s"
    results = read_results(out)
    assert_dics_equal(results.dics, dics)  # the network's class comes back as DICEstimate.network_class
    frame = results.population_outcomes.set_index("unit_id")
    assert list(frame.index) == [0, 1, 3]
    assert frame.loc[0, "validation_status"] == "ok"
    assert frame.loc[1, "validation_status"] == ""  # a population without a row: missing values
    assert frame.loc[1, "n_simulated"] == -1
    assert np.isnan(frame.loc[1, "yield"])
    assert frame.loc[3, "n_valid"] == 2
    assert frame.loc[3, "yield"] == pytest.approx(2 / 15)
    import pynwb

    assert pynwb.validate(path=str(out)) == []
    with pytest.raises(ValueError, match="unknown columns"):
        write_results(source, source.parent / "x.nwb", populations=populations,
                      population_outcomes=outcomes.assign(spare=1))
    with pytest.raises(ValueError, match="have no population"):
        write_results(source, source.parent / "y.nwb", populations=populations,
                      population_outcomes=outcomes.assign(unit_id=[0, 2]))
    with pytest.raises(ValueError, match="pass the `populations` too"):
        write_results(source, source.parent / "z.nwb", dics=dics, population_outcomes=outcomes)


def test_file_layout_units_attributes_and_links(source, dics, populations):
    import h5py
    from pynwb import NWBHDF5IO

    out = write_results(source, dics=dics, populations=populations)
    with h5py.File(out, "r") as handle:
        group = handle["processing/dicpop"]
        assert sorted(group) == ["conductance_populations", "dic_estimates", "population_members", "provenance"]
        assert group["dic_estimates/g_s"].attrs["unit"] == "dimensionless"
        assert group["dic_estimates/threshold"].attrs["unit"] == "mV"
        assert group["population_members/g_Na"].attrs["unit"] == "mS/cm^2"
        assert group["population_members/g_Na"].attrs["current"] == "Na"
        assert group["dic_estimates"].attrs["neurodata_type"] == "DICEstimates"
        assert "g_f" not in group["dic_estimates"]  # unknown g_f: no all-NaN column
        assert "ndx-dicpop" in handle["specifications"]  # cache_spec=True
    with NWBHDF5IO(out, "r") as io:
        nwbfile = io.read()
        table = nwbfile.processing["dicpop"]["dic_estimates"]
        assert table["units"].table is nwbfile.units
        members = nwbfile.processing["dicpop"]["population_members"]
        assert members["population"].table is nwbfile.processing["dicpop"]["conductance_populations"]
        frame = members.to_dataframe(index=True)
        assert frame["units"].tolist() == [0] * 4 + [1] * 4 + [3] * 3
        assert isinstance(members["g_CaS"], ConductanceColumn)


def _inspect(path: Path) -> list:
    """nwbinspector's messages on a file: none serious, and on our objects only the suggestion to name
    the processing module after a modality (the module is named ``dicpop`` on purpose)."""
    from nwbinspector import inspect_nwbfile

    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    serious = [(m.importance.name, m.check_function_name, m.location) for m in messages if m.importance.name in SERIOUS]
    assert serious == []
    ours = [(m.check_function_name, m.location, m.message) for m in messages
            if (m.location and ("dicpop" in m.location or m.location.startswith("/units")))
            or "dicpop" in str(getattr(m, "object_name", ""))]
    assert {name for name, _, _ in ours} <= {"check_processing_module_name"}, ours
    return messages


def test_annotated_file_passes_validate_and_inspector(source, dics, populations, statistics, validation, modulated):
    import pynwb

    out = write_results(source, dics=dics, populations=populations, statistics=statistics, validation=validation,
                        population_outcomes=OUTCOMES)
    assert pynwb.validate(path=str(out)) == []
    _inspect(out)
    # the whole set: pipeline results, mirrored Units columns and the neuromodulation tables in one file
    recording, result = modulated
    both = ndp.write_neuromodulation(
        write_results(recording, source.parent / "both_pipeline.nwb", dics=mock_dic_estimate([0, 3], rng=0),
                      populations=populations[2], population_outcomes=OUTCOMES[OUTCOMES["unit_id"] == 3]),
        result, source.parent / "both.nwb")
    assert pynwb.validate(path=str(both)) == []
    assert "dicpop_g_s" in _units_columns(both)
    _inspect(both)


def _dandiset(tmp_path: Path, nwb: Path) -> Path:
    """A minimal Dandiset folder (``dandiset.yaml`` and one subject's file) around a copy of ``nwb``:
    ``dandi validate`` checks files inside a Dandiset only."""
    folder = tmp_path / "dandiset"
    (folder / "sub-crab1").mkdir(parents=True)
    (folder / "dandiset.yaml").write_text("identifier: DANDI:000000\nname: nwb_dicpop test\n"
                                          "description: An annotated file of the nwb_dicpop tests.\n")
    shutil.copyfile(nwb, folder / "sub-crab1" / "sub-crab1_ecephys.nwb")
    return folder


def _dandi_validate(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    dandi = Path(sys.executable).with_name("dandi")
    env = {**os.environ, "DANDI_NO_ET": "1", "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([str(dandi), "validate", "--min-severity", "HINT", str(folder)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


@pytest.mark.slow
def test_annotated_file_passes_dandi_validate(source, dics, populations, statistics, validation, modulated,
                                              tmp_path):
    """``dandi validate`` (pynwb validation, nwbinspector with DANDI's settings, DANDI's metadata rules) and
    nwbinspector on a file with every kind of result (about 20 s: two dandi runs)."""
    pytest.importorskip("dandi", reason="dandi validate needs the dandi client: pip install 'nwb_dicpop[dandi]'")
    import h5py

    recording, result = modulated
    out = ndp.write_neuromodulation(
        write_results(recording, tmp_path / "pipeline.nwb", dics=mock_dic_estimate([0, 3], rng=0),
                      populations=populations[2], statistics=statistics[statistics["unit_id"].isin([0, 3])],
                      population_outcomes=OUTCOMES[OUTCOMES["unit_id"] == 3]),
        result, tmp_path / "annotated.nwb")
    _inspect(out)
    checked = _dandi_validate(_dandiset(tmp_path / "good", out), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No errors found" in checked.stdout
    # the check can fail: the same file without its Subject is refused
    broken = tmp_path / "broken.nwb"
    shutil.copyfile(out, broken)
    with h5py.File(broken, "a") as handle:
        del handle["general/subject"]
    refused = _dandi_validate(_dandiset(tmp_path / "bad", broken), tmp_path)
    assert refused.returncode != 0
    assert "check_subject_exists" in refused.stdout


def test_units_still_read_by_pynapple_neo_and_us(source, dics, populations, spikes):
    import neo
    import pynapple as nap

    out = write_results(source, dics=dics, populations=populations)
    data = nap.load_file(str(out))
    units = data["units"]
    assert len(units) == 4
    for i in range(4):
        np.testing.assert_allclose(units[i].index, spikes.times[i])
    block = neo.io.NWBIO(str(out), mode="r").read_block()
    trains = block.segments[0].spiketrains
    assert len(trains) == 4
    np.testing.assert_allclose(trains[1].rescale("s").magnitude, spikes.times[1])
    again = read_spike_trains(out)
    for a, b in zip(again.times, spikes.times, strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- per-unit results on Units


OUTCOMES = pd.DataFrame({"unit_id": [0, 3], "validation_status": ["ok", "partial"], "n_simulated": [4, 15],
                         "n_valid": [4, 2], "yield": [1.0, 2 / 15]})


def _units_columns(path: Path) -> dict[str, tuple[str, list]]:
    """``{name: (description, values)}`` of the Units columns of a file, read with plain h5py."""
    import h5py

    with h5py.File(path, "r") as handle:
        units = handle["units"]
        out = {}
        for name in units.attrs["colnames"]:
            if name.endswith("_index") or f"{name}_index" in units:
                continue
            values = [v.decode() if isinstance(v, bytes) else v for v in units[name][()].tolist()]
            out[str(name)] = (str(units[name].attrs["description"]), values)
        return out


def test_per_unit_results_are_mirrored_on_units(source, dics, populations, statistics):
    from nwb_dicpop._unit_results import MARK, UNITS_COLUMNS

    out = write_results(source, dics=dics, populations=populations, statistics=statistics,
                        population_outcomes=OUTCOMES)
    columns = _units_columns(out)
    mirrored = [name for name in columns if name.startswith("dicpop_")]
    assert mirrored == ["dicpop_g_s", "dicpop_g_s_std", "dicpop_g_u", "dicpop_g_u_std", "dicpop_network_class",
                        "dicpop_status", "dicpop_firing_class", "dicpop_n_models", "dicpop_validation_status",
                        "dicpop_yield"]  # no g_f: the mock network does not infer it
    for name in mirrored:
        assert columns[name][0] == MARK + UNITS_COLUMNS[name]
    np.testing.assert_array_equal(columns["dicpop_g_s"][1], dics.g_s)  # unit 2 is silent: NaN
    np.testing.assert_array_equal(columns["dicpop_g_u_std"][1], dics.g_u_std)
    assert columns["dicpop_status"][1] == list(dics.status)
    assert columns["dicpop_network_class"][1] == list(dics.network_class)
    assert columns["dicpop_firing_class"][1] == statistics["firing_class"].tolist()
    assert columns["dicpop_n_models"][1] == [4, 4, 0, 3]
    assert columns["dicpop_validation_status"][1] == ["ok", "", "", "partial"]
    np.testing.assert_allclose(columns["dicpop_yield"][1], [1.0, np.nan, np.nan, 2 / 15])
    assert columns["quality"][1] == ["good", "good", "mua", "good"]  # the user's columns are kept
    # the mirror is derived data: the full tables stay in processing/dicpop and read back unchanged
    assert_dics_equal(read_results(out).dics, dics)
    assert ndp.read_spike_trains(out, where={"dicpop_status": "ok"}).unit_ids == (0, 1, 3)


def test_mirror_covers_units_left_out_and_g_f(source, tmp_path):
    some = DICEstimate(unit_ids=(3, 1), model_name="stg", threshold=-51.0, g_s=[2.0, -1.0], g_u=[5.0, 6.0],
                       g_s_std=[0.1, 0.2], g_u_std=[0.2, 0.3], network_class=("spiking", "bursting"),
                       out_of_distribution=[False, True], status=("ok", "ok"), g_f=[-4.5, -5.0], g_f_std=[0.3, 0.4])
    columns = _units_columns(write_results(source, tmp_path / "some.nwb", dics=some))
    np.testing.assert_array_equal(columns["dicpop_g_f"][1], [np.nan, -5.0, np.nan, -4.5])
    np.testing.assert_array_equal(columns["dicpop_g_f_std"][1], [np.nan, 0.4, np.nan, 0.3])
    assert columns["dicpop_status"][1] == ["not analysed", "ok", "not analysed", "ok"]
    assert columns["dicpop_network_class"][1] == ["", "bursting", "", "spiking"]
    assert "dicpop_n_models" not in columns  # no populations written, no population column


def test_re_annotation_replaces_the_mirrored_columns(source, dics, populations, statistics, tmp_path):
    first = write_results(source, tmp_path / "first.nwb", dics=dics, populations=populations, statistics=statistics,
                          population_outcomes=OUTCOMES)
    with pytest.raises(ValueError, match="already holds dicpop results"):
        write_results(first, tmp_path / "second.nwb", dics=dics)
    again = mock_dic_estimate([0, 1, 2, 3], rng=5)
    second = write_results(first, tmp_path / "second.nwb", dics=again, overwrite=True)
    columns = _units_columns(second)
    # one column per name, the new values; columns of results not written again are gone
    assert [c for c in columns if c.startswith("dicpop_")] == ["dicpop_g_s", "dicpop_g_s_std", "dicpop_g_u",
                                                              "dicpop_g_u_std", "dicpop_network_class",
                                                              "dicpop_status"]
    np.testing.assert_array_equal(columns["dicpop_g_s"][1], again.g_s)
    assert columns["quality"][1] == ["good", "good", "mua", "good"]
    assert read_results(second).populations == ()
    import pynwb

    assert pynwb.validate(path=str(second)) == []
    # in place, twice: still one set of columns
    write_results(second, dics=dics, in_place=True, overwrite=True)
    np.testing.assert_array_equal(_units_columns(second)["dicpop_g_s"][1], dics.g_s)


def test_a_users_column_of_the_same_name_is_never_replaced(source, dics, tmp_path):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(source, "a") as io:
        nwbfile = io.read()
        nwbfile.units.add_column(name="dicpop_g_s", description="my own g_s estimate", data=[1.0, 2.0, 3.0, 4.0])
        io.write(nwbfile)
    before = _sha256(source)
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"\['dicpop_g_s'\] that nwb_dicpop did not write.*Rename or remove"):
            check_output_path(source, tmp_path / "out.nwb", overwrite=overwrite)
        with pytest.raises(ValueError, match="did not write"):
            write_results(source, tmp_path / "out.nwb", dics=dics, overwrite=overwrite)
    assert _sha256(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.nwb"]
    # a neuromodulation analysis does not touch Units: the column is no obstacle there
    check_output_path(source, tmp_path / "out.nwb", neuromodulation=True)


def test_pynapple_sees_the_mirrored_columns_and_to_pynapple_agrees(source, dics, populations, statistics, spikes):
    import pynapple as nap

    out = write_results(source, dics=dics, populations=populations, statistics=statistics,
                        population_outcomes=OUTCOMES)
    loaded = nap.load_file(str(out))["units"]
    np.testing.assert_array_equal(loaded["dicpop_g_s"].to_numpy(), dics.g_s)
    assert loaded["dicpop_status"].tolist() == list(dics.status)
    assert loaded["dicpop_firing_class"].tolist() == statistics["firing_class"].tolist()
    assert loaded["dicpop_n_models"].tolist() == [4, 4, 0, 3]

    group = read_results(out).to_pynapple()
    assert isinstance(group, nap.TsGroup)
    assert list(group.keys()) == [0, 1, 2, 3]
    for unit in range(4):
        np.testing.assert_array_equal(group[unit].index, spikes.times[unit])
    for name in ("dicpop_g_s", "dicpop_g_u", "dicpop_g_s_std", "dicpop_yield"):
        np.testing.assert_array_equal(group[name].to_numpy(dtype=float), loaded[name].to_numpy(dtype=float))
    for name in ("dicpop_status", "dicpop_network_class", "dicpop_validation_status", "dicpop_n_models"):
        assert group[name].tolist() == loaded[name].tolist(), name
    assert list(group[group["dicpop_status"] == "ok"].keys()) == [0, 1, 3]
    # given spike trains: their units only
    subset = read_results(out).to_pynapple(ndp.as_spike_trains({3: spikes.times[3], 1: spikes.times[1]}))
    assert list(subset.keys()) == [1, 3]  # pynapple orders units by id
    np.testing.assert_array_equal(subset[3].index, spikes.times[3])
    assert subset["dicpop_n_models"].loc[[1, 3]].tolist() == [4, 3]
    with pytest.raises(TypeError, match="`spikes` must be a SpikeTrains"):
        read_results(out).to_pynapple(spikes.times)
    with pytest.raises(ValueError, match="no source file"):
        DicpopResults(dics, (), None, None, None).to_pynapple()


# read_spike_trains opens the old file with pynwb directly (see test_frozen_0_1_0_file_reads)
@pytest.mark.filterwarnings("ignore:Ignoring the following cached namespace:UserWarning")
def test_to_pynapple_on_a_file_written_before_the_mirror(tmp_path):
    path = tmp_path / "old.nwb"
    with gzip.open(DATA / "ndx-dicpop_0.2.0.nwb.gz", "rb") as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    assert not [c for c in _units_columns(path) if c.startswith("dicpop_")]
    expected = json.loads((DATA / "ndx-dicpop_0.2.0.expected.json").read_text())
    group = read_results(path).to_pynapple()
    g_s = [None if np.isnan(v) else v for v in group["dicpop_g_s"]]
    assert g_s == expected["dics"]["g_s"]
    np.testing.assert_array_equal(group["dicpop_g_f"].to_numpy(dtype=float),
                                  np.array(expected["dics"]["g_f"], dtype=float))
    np.testing.assert_allclose(group["dicpop_yield"].to_numpy(dtype=float), [0.75, np.nan, 2 / 9])
    assert group["dicpop_n_models"].tolist() == [3, 0, 3]


def test_read_in_fresh_process_without_package_uses_cached_spec(source, dics, tmp_path):
    out = write_results(source, dics=dics)
    script = (
        "from pynwb import NWBHDF5IO\n"
        f"with NWBHDF5IO({str(out)!r}, 'r') as io:\n"
        "    table = io.read().processing['dicpop']['dic_estimates']\n"
        "    print(type(table).__name__, table.model_name, len(table))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                            check=True, timeout=120)
    assert result.stdout.split() == ["DICEstimates", "stg", "4"]


# --------------------------------------------------------------------------- in place, overwrite, atomicity


def test_in_place_and_overwrite(source, dics, populations, tmp_path):
    before = _sha256(source)
    assert write_results(source, dics=dics, in_place=True) == source
    assert _sha256(source) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.nwb"]  # no temporary file left
    assert read_results(source).populations == ()
    with pytest.raises(ValueError, match="already holds dicpop results"):
        write_results(source, populations=populations, in_place=True)
    write_results(source, populations=populations, in_place=True, overwrite=True)
    replaced = read_results(source)
    assert replaced.dics is None  # the old module was replaced, not merged
    assert len(replaced.populations) == 3
    import pynwb

    assert pynwb.validate(path=str(source)) == []

    out = tmp_path / "out.nwb"
    write_results(source, out, dics=dics, overwrite=True)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_results(source, out, dics=dics)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "Nothing to write"),
        ({"dics": "dics"}, TypeError, "DICEstimate"),
        ({"populations": ["x"]}, TypeError, "Population objects"),
        ({"statistics": {"unit_id": [0]}}, TypeError, "DataFrame"),
        ({"statistics": pd.DataFrame({"rate": [1.0]})}, ValueError, "unit_id"),
        ({"statistics": pd.DataFrame({"unit_id": [0], "units": [1.0]})}, ValueError, "reserved"),
        ({"statistics": pd.DataFrame({"unit_id": [9], "rate": [1.0]})}, ValueError, r"unit id 9.*Did you mean"),
        ({"statistics": pd.DataFrame({"unit_id": [], "rate": []})}, ValueError, "no rows"),
        ({"provenance": {"seed": 1}}, ValueError, "Did you mean 'seeds'"),
        ({"provenance": [1]}, TypeError, "dict"),
        ({"dics": "unknown-unit"}, ValueError, r"unit id 12.*not in the Units table"),
        ({"populations": "no-unit"}, ValueError, "no unit_id"),
        ({"populations": "two-models"}, ValueError, "mix models"),
        ({"populations": "duplicate"}, ValueError, "same unit_id"),
        ({"validation": "alone"}, ValueError, "pass the `populations` too"),
        ({"validation": "unknown-member"}, ValueError, "member 9"),
        ({"validation": "missing-column"}, ValueError, "'member'"),
    ],
)
def test_bad_arguments_leave_nothing_behind(source, dics, populations, kwargs, error, match):
    cases = {
        "unknown-unit": mock_dic_estimate([0, 12], rng=0),
        "no-unit": ndp.Population(**{**_fields(populations[0]), "unit_id": None}),
        "two-models": [populations[0], ndp.Population(**{**_fields(populations[1]), "model_name": "da"})],
        "duplicate": [populations[0], populations[0]],
        "alone": pd.DataFrame({"unit_id": [0], "member": [0], "ok": [True]}),
        "unknown-member": pd.DataFrame({"unit_id": [0], "member": [9], "ok": [True]}),
        "missing-column": pd.DataFrame({"unit_id": [0], "ok": [True]}),
    }
    arguments = {key: cases.get(value, value) if isinstance(value, str) else value for key, value in kwargs.items()}
    if "validation" in arguments and kwargs["validation"] != "alone":
        arguments["populations"] = populations
    before = _sha256(source)
    with pytest.raises(error, match=match):
        write_results(source, **arguments)
    assert _sha256(source) == before
    assert [p.name for p in source.parent.iterdir()] == ["session.nwb"]


def _fields(population: Population) -> dict:
    import dataclasses

    return {f.name: getattr(population, f.name) for f in dataclasses.fields(population)}


def test_bad_paths(tmp_path, source, dics):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_results(tmp_path / "missing.nwb", dics=dics)
    with pytest.raises(ValueError, match="input file"):
        write_results(source, source, dics=dics)
    with pytest.raises(ValueError, match="in_place=True"):
        write_results(source, tmp_path / "other.nwb", dics=dics, in_place=True)
    with pytest.raises(FileNotFoundError, match="create it first"):
        write_results(source, tmp_path / "no" / "such" / "out.nwb", dics=dics)
    text = tmp_path / "text.nwb"
    text.write_text("not an NWB file")
    with pytest.raises(ValueError, match="not an HDF5/NWB file"):
        write_results(text, dics=dics)
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(source.read_bytes()[:50_000])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        write_results(truncated, dics=dics)
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.file import mock_NWBFile

    no_units = tmp_path / "nounits.nwb"
    with NWBHDF5IO(no_units, "w") as io:
        io.write(mock_NWBFile())
    before = _sha256(no_units)
    with pytest.raises(ValueError, match="no Units table"):
        write_results(no_units, dics=dics)
    assert _sha256(no_units) == before
    assert not (tmp_path / "nounits_dicpop.nwb").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files
    with pytest.raises(ValueError, match="no dicpop results"):
        read_results(source)
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "missing.nwb")
    with pytest.raises(ValueError, match="not an HDF5/NWB file"):
        read_results(text)


# --------------------------------------------------------------------------- the extension files


def test_yaml_matches_generator_and_metaschema(tmp_path):
    import importlib.util

    import jsonschema
    import pynwb
    import yaml

    spec = importlib.util.spec_from_file_location("create_extension_spec", REPO / "extensions" / "create_extension_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("ndx-dicpop.namespace.yaml", "ndx-dicpop.extensions.yaml"):
        committed = (REPO / "extensions" / name).read_text()
        assert (tmp_path / name).read_text() == committed, f"{name} is stale: run extensions/create_extension_spec.py"
    schema = json.loads((Path(pynwb.__file__).parent / "nwb-schema" / "nwb.schema.json").read_text())
    for name in ("ndx-dicpop.namespace.yaml", "ndx-dicpop.extensions.yaml"):
        jsonschema.validate(yaml.safe_load((REPO / "extensions" / name).read_text()), schema)
    broken = yaml.safe_load((REPO / "extensions" / "ndx-dicpop.extensions.yaml").read_text())
    broken["groups"][0]["datasets"][1]["dtype"] = "float65"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_docs_generated_from_yaml_are_current():
    result = subprocess.run([sys.executable, str(REPO / "extensions" / "make_docs.py"), "--check"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    text = (REPO / "docs" / "extension.md").read_text()
    for name in ("DICEstimates", "ConductancePopulations", "PopulationMembers", "SpikeStatistics",
                 "DicpopProvenance", "ConductanceColumn", "NeuromodulationAnalyses", "NeuromodulationRanking",
                 "NeuromodulationPopulations", "NeuromodulationMembers"):
        assert f"## {name}" in text


def test_namespace_path_and_lazy_loading():
    assert extension_namespace_path() == REPO / "extensions" / "ndx-dicpop.namespace.yaml"
    script = (
        "import sys, nwb_dicpop as n\n"
        "n.read_spike_trains\n"
        "assert 'pynwb' not in sys.modules, 'pynwb imported by import nwb_dicpop'\n"
        "from pynwb import get_type_map\n"
        "assert 'ndx-dicpop' not in get_type_map().namespace_catalog.namespaces\n"
        "import nwb_dicpop.nwb\n"
        "assert 'ndx-dicpop' in get_type_map().namespace_catalog.namespaces\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_conductance_column_requires_unit():
    column = ConductanceColumn(name="g_Na", description="Na", data=[1.0, 2.0], unit="mS/cm^2", current="Na")
    assert column.unit == "mS/cm^2"
    with pytest.raises(TypeError, match="unit"):
        ConductanceColumn(name="g_Na", description="Na", data=[1.0], current="Na")


# --------------------------------------------------------------------------- back compatibility


# read_spike_trains opens the file with pynwb directly; under pytest's "error" filter the notice that
# the cached 0.1.0 namespace is ignored (silenced for users by nwb_dicpop.nwb) must be allowed here
@pytest.mark.filterwarnings("ignore:Ignoring the following cached namespace:UserWarning")
def test_frozen_0_1_0_file_reads(tmp_path):
    """A file written by ndx-dicpop 0.1.0 (tests/data/make_frozen_files.py) stays readable."""
    path = tmp_path / "ndx-dicpop_0.1.0.nwb"
    with gzip.open(DATA / "ndx-dicpop_0.1.0.nwb.gz", "rb") as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    expected = json.loads((DATA / "ndx-dicpop_0.1.0.expected.json").read_text())
    results = read_results(path)
    assert results.dics.unit_ids == tuple(expected["dics"]["unit_ids"])
    np.testing.assert_array_equal(results.dics.g_s, np.array(expected["dics"]["g_s"], dtype=float))
    assert results.dics.status == tuple(expected["dics"]["status"])
    assert len(results.populations) == len(expected["populations"])
    for population, values in zip(results.populations, expected["populations"], strict=True):
        assert population.unit_id == values["unit_id"]
        assert population.compensating_set == tuple(values["compensating_set"])
        assert population.conductance_names == tuple(values["conductance_names"])
        np.testing.assert_array_equal(population.conductances, values["conductances"])
    assert results.statistics["firing_rate"].tolist() == expected["statistics"]["firing_rate"]
    assert results.provenance["software_version"] == "0.1.0"
    assert read_spike_trains(path).n_spikes.tolist() == expected["n_spikes"]
    # 0.1.0 stored the network's class as "firing_class": it is read as the network's class
    assert results.dics.network_class[1] == "silent"
    assert set(results.dics.network_class) <= {"spiking", "bursting", "silent"}
    assert results.population_outcomes is None  # no validation columns in 0.1.0


def test_frozen_0_1_0_file_reads_without_warnings(tmp_path):
    """Reading a 0.1.0 file with the 0.2.0 extension loaded is expected: read_results says nothing."""
    import warnings

    path = tmp_path / "old.nwb"
    with gzip.open(DATA / "ndx-dicpop_0.1.0.nwb.gz", "rb") as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_results(path).dics is not None


def test_frozen_0_2_0_file_reads(tmp_path):
    """A file written by ndx-dicpop 0.2.0 (tests/data/make_frozen_files.py 0.2.0) stays readable, warning-free."""
    import warnings

    path = tmp_path / "ndx-dicpop_0.2.0.nwb"
    with gzip.open(DATA / "ndx-dicpop_0.2.0.nwb.gz", "rb") as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    expected = json.loads((DATA / "ndx-dicpop_0.2.0.expected.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = read_results(path)
    assert results.dics.unit_ids == tuple(expected["dics"]["unit_ids"])
    np.testing.assert_array_equal(results.dics.g_s, np.array(expected["dics"]["g_s"], dtype=float))
    np.testing.assert_array_equal(results.dics.g_f, np.array(expected["dics"]["g_f"], dtype=float))
    assert results.dics.network_class == tuple(expected["dics"]["network_class"])
    for population, values in zip(results.populations, expected["populations"], strict=True):
        assert population.unit_id == values["unit_id"]
        assert population.compensating_set == tuple(values["compensating_set"])
        np.testing.assert_array_equal(population.conductances, values["conductances"])
    outcomes = results.population_outcomes
    for name, values in expected["population_outcomes"].items():
        assert outcomes[name].tolist() == values, name
    assert results.statistics["firing_rate"].tolist() == expected["statistics"]["firing_rate"]
    assert results.neuromodulation == ()  # no neuromodulation tables before 0.3.0


# --------------------------------------------------------------------------- neuromodulation (0.3.0)


@pytest.fixture(scope="module")
def modulated(tmp_path_factory) -> tuple[Path, ndp.NeuromodulationResult]:
    """A two-unit recording with "baseline" and "drug" epochs, and an analysis of unit 3 (no simulation)."""
    folder = tmp_path_factory.mktemp("modulated")
    unit3 = np.concatenate([np.arange(0.05, 10.0, 0.1),
                            np.concatenate([s + np.arange(5) * 0.012 for s in np.arange(10.2, 19.8, 0.8)])])
    path = write_mock_nwb(folder / "session.nwb", {0: np.arange(0.03, 20.0, 0.125), 3: unit3},
                          epochs={"baseline": (0.0, 10.0), "drug": (10.0, 20.0)})
    result = ndp.analyze_neuromodulation("baseline", "drug", model="stg", recording=str(path), unit=3, n_models=25,
                                         subsets=["A+H", "CaS+H", "CaS", "H"], rng=4)
    return path, result


def _given_dics_result(model: str = "stg") -> ndp.NeuromodulationResult:
    """An analysis of given DICs (no trains: no windows, no statistics) that detects a change."""
    def estimate(g_s: float, g_u: float) -> DICEstimate:
        return DICEstimate(unit_ids=(0,), model_name=model, threshold=ndp.get_model(model).threshold, g_s=[g_s],
                           g_u=[g_u], g_s_std=[0.3], g_u_std=[0.3], network_class=("bursting",),
                           out_of_distribution=[False], status=("ok",))

    return ndp.analyze_neuromodulation(estimate(-4.0, 5.0), estimate(-4.0, 8.0), model=model, n_models=20,
                                       max_subset_size=1, rng=0)


def _comparable(result: ndp.NeuromodulationResult) -> str:
    return json.dumps(result.to_dict(), sort_keys=True, default=str)


def test_neuromodulation_roundtrip(modulated, tmp_path):
    source, result = modulated
    before = _sha256(source)
    out = ndp.write_neuromodulation(source, result, tmp_path / "out.nwb")
    assert _sha256(source) == before
    stored = read_results(out)
    assert stored.dics is None
    assert stored.populations == ()
    (back,) = stored.neuromodulation
    assert _comparable(back) == _comparable(result)  # ranking, DICs, statistics, settings, windows, unit
    pd.testing.assert_frame_equal(back.ranking, result.ranking)
    assert back.unit_id == 3
    assert back.before_window == (0.0, 10.0)
    assert_population_equal(back.before_population, result.before_population)
    assert list(back.moved) == list(result.moved)
    for name, population in result.moved.items():
        assert_population_equal(back.moved[name], population)
    assert stored.provenance["software"] == "nwb_dicpop"
    assert "stg" in stored.provenance["model_declaration"]
    assert "1 neuromodulation analysis" in repr(stored)


def test_neuromodulation_of_given_dics_and_several_analyses(modulated, tmp_path):
    source, result = modulated
    given = _given_dics_result()
    assert given.detectable
    assert given.unit_id is None
    out = ndp.write_neuromodulation(source, [result, given], tmp_path / "two.nwb", unit_ids=[3, 0])
    first, second = read_results(out).neuromodulation
    assert first.unit_id == 3
    assert second.unit_id == 0
    assert second.before_window is None
    assert second.before_statistics == {}
    assert second.top == given.top
    pd.testing.assert_frame_equal(second.ranking, given.ranking)
    np.testing.assert_array_equal(second.after.g_s, given.after.g_s)


def test_neuromodulation_file_passes_validate_and_inspector(modulated, tmp_path):
    import pynwb
    from nwbinspector import inspect_nwbfile

    source, result = modulated
    out = ndp.write_neuromodulation(source, result, tmp_path / "out.nwb")
    assert pynwb.validate(path=str(out)) == []
    messages = list(inspect_nwbfile(nwbfile_path=str(out)))
    serious = [(m.importance.name, m.check_function_name, m.location) for m in messages if m.importance.name in SERIOUS]
    assert serious == []


def test_neuromodulation_keeps_other_results_and_replaces_only_with_overwrite(modulated, dics, tmp_path):
    source, result = modulated
    annotated = write_results(source, tmp_path / "pipeline.nwb", dics=mock_dic_estimate([0, 3], rng=0))
    out = ndp.write_neuromodulation(annotated, result, tmp_path / "both.nwb")
    both = read_results(out)
    assert both.dics.unit_ids == (0, 3)
    assert len(both.neuromodulation) == 1
    with pytest.raises(ValueError, match="already holds dicpop neuromodulation results"):
        ndp.write_neuromodulation(out, result, tmp_path / "again.nwb")
    again = ndp.write_neuromodulation(out, [result, result], tmp_path / "again.nwb", overwrite=True)
    replaced = read_results(again)
    assert len(replaced.neuromodulation) == 2
    assert replaced.dics.unit_ids == (0, 3)
    # write_results, asked to overwrite, replaces the whole module
    with pytest.raises(ValueError, match="already holds dicpop results"):
        write_results(again, tmp_path / "w.nwb", dics=mock_dic_estimate([0, 3], rng=1))


def test_neuromodulation_on_a_frozen_0_2_0_file(tmp_path):
    path = tmp_path / "old.nwb"
    with gzip.open(DATA / "ndx-dicpop_0.2.0.nwb.gz", "rb") as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    out = ndp.write_neuromodulation(path, _given_dics_result(), tmp_path / "new.nwb", unit_ids=[2])
    results = read_results(out)
    assert results.dics.unit_ids == (0, 1, 2)
    assert results.neuromodulation[0].unit_id == 2
    import h5py

    with h5py.File(out, "r") as handle:
        assert sorted(handle["specifications/ndx-dicpop"]) == ["0.2.0", "0.3.0"]


@pytest.mark.parametrize(
    ("results", "kwargs", "error", "match"),
    [
        ("text", {}, TypeError, "NeuromodulationResult"),
        ([1.0], {}, TypeError, "NeuromodulationResult objects"),
        ([], {}, ValueError, "is empty"),
        ("given", {}, ValueError, "has no unit_id and the Units table"),
        ("given", {"unit_ids": [7]}, ValueError, "unit id 7, which is not in the Units table"),
        ("given", {"unit_ids": [0, 3]}, ValueError, "one id per result"),
        ("mixed", {"unit_ids": [0, 3]}, ValueError, "mix models"),
    ],
)
def test_neuromodulation_bad_arguments_leave_nothing_behind(modulated, tmp_path, results, kwargs, error, match):
    source, result = modulated
    value = {"given": _given_dics_result(), "mixed": [result, _given_dics_result("da")]}.get(results, results) \
        if isinstance(results, str) else results
    out = tmp_path / "bad.nwb"
    with pytest.raises(error, match=match):
        ndp.write_neuromodulation(source, value, out, **kwargs)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- packaging


@pytest.mark.slow
def test_wheel_ships_and_loads_the_extension(tmp_path):
    """Build the wheel, install it (no deps) in a fresh venv and load the namespace from it."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("nwb_dicpop-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # the dependencies come from the venv running the tests (not from the repository checkout)
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    parent_site = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "_parent_site.pth").write_text("\n".join(parent_site) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    script = (
        "import nwb_dicpop, nwb_dicpop.nwb as nwb\n"
        "from pynwb import get_type_map\n"
        "print(nwb_dicpop.__file__)\n"
        "print(nwb.extension_namespace_path())\n"
        "print(get_type_map().namespace_catalog.get_namespace('ndx-dicpop')['version'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=300).stdout.split()
    assert out[0].startswith(str(env_dir))  # the installed package, not the repository
    assert out[1] == str(Path(site) / "nwb_dicpop" / "extensions" / "ndx-dicpop.namespace.yaml")
    assert out[2] == "0.3.0"
