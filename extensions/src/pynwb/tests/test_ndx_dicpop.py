"""ndx-dicpop with pynwb alone: every type round-trips through NWBHDF5IO; committed files read back.

These tests import pynwb (and h5py, numpy, which pynwb brings) and nothing else: no nwb_dicpop,
no brian2, no torch.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pynwb
import pytest
from pynwb import NWBHDF5IO
from pynwb.file import Subject
from pynwb.testing.mock.file import mock_NWBFile

import ndx_dicpop

EXTENSIONS = Path(__file__).resolve().parents[3]
# annotated files committed with nwb_dicpop (present in a checkout of the repository)
FROZEN = EXTENSIONS.parent / "tests" / "data"
DIMENSIONLESS = "dimensionless"
CURRENTS = ("Na", "Kd", "leak")


def test_every_type_of_the_schema_has_a_class():
    text = (EXTENSIONS / "ndx-dicpop.extensions.yaml").read_text(encoding="utf-8")
    types = re.findall(r"neurodata_type_def:\s*(\w+)", text)
    assert len(types) == 10
    for name in types:
        cls = getattr(ndx_dicpop, name)
        assert cls is pynwb.get_class(name, ndx_dicpop.NAMESPACE)
        assert cls.__name__ == name
    assert set(types) <= set(ndx_dicpop.__all__)


def test_version_is_the_schema_version():
    namespace = ndx_dicpop.namespace_path().read_text(encoding="utf-8")
    assert f"version: {ndx_dicpop.__version__}" in namespace
    catalog = pynwb.get_type_map().namespace_catalog
    assert catalog.get_namespace(ndx_dicpop.NAMESPACE)["version"] == ndx_dicpop.__version__


# --------------------------------------------------------------------------- a file with every type


def _nwbfile():
    nwbfile = mock_NWBFile(
        session_description="ndx-dicpop round trip",
        identifier="ndx-dicpop-roundtrip",
        session_start_time=datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc),
    )
    nwbfile.subject = Subject(subject_id="crab-1", species="Cancer borealis", sex="U", age="P1Y",
                              description="a crab")
    for times in ([0.1, 0.35, 0.6], [0.2, 0.25, 0.3, 0.9], [0.5]):
        nwbfile.add_unit(spike_times=times)
    return nwbfile


def _members(kind, name, populations, units, rows):
    """A member table with one ConductanceColumn per current, filled row by row."""
    table = kind(
        name=name,
        description="members",
        target_tables={"population": populations, "units": units},
        columns=[ndx_dicpop.ConductanceColumn(name=f"g_{c}", description=f"{c} (mS/cm^2)", data=[],
                                              unit="mS/cm^2", current=c) for c in CURRENTS],
    )
    for population, unit, member, conductances in rows:
        table.add_row(population=population, units=unit, member=member,
                      **{f"g_{c}": g for c, g in zip(CURRENTS, conductances)},
                      dic_g_f=-6.0, dic_g_s=-4.0 + member, dic_g_u=5.0, threshold=-50.5, target_g_s=-4.0,
                      target_g_u=5.0, residual=1e-9)
    return table


def _population_row(unit, target_g_s, compensating_set):
    return {"units": unit, "target_g_s": target_g_s, "target_g_u": 5.0, "target_g_s_std": 0.3,
            "target_g_u_std": 0.4, "reference_threshold": -51.0, "compensating_set": list(compensating_set),
            "n_iterations": 1, "n_rejected": 2, "seed": 7}


def _side(which, g_s):
    return {f"{which}_g_f": -6.0, f"{which}_g_s": g_s, f"{which}_g_u": 5.0, f"{which}_g_s_std": 0.3,
            f"{which}_g_u_std": 0.4, f"{which}_network_class": "bursting", f"{which}_status": "ok",
            f"{which}_out_of_distribution": False, f"{which}_n_spikes": 120, f"{which}_t_start": 0.0,
            f"{which}_t_stop": 10.0, f"{which}_statistics": '[["firing_rate", 12.0]]'}


def _annotate(nwbfile):
    units = nwbfile.units
    module = nwbfile.create_processing_module(name="dicpop", description="ndx-dicpop objects")
    dics = ndx_dicpop.DICEstimates(name="dic_estimates", description="DICs", model_name="stg",
                                   network_version="test-1", target_tables={"units": units})
    for row, (g_s, status) in enumerate([(-4.0, "ok"), (3.5, "ok"), (np.nan, "too few spikes")]):
        dics.add_row(units=row, g_f=-6.0, g_s=g_s, g_u=5.0, g_s_std=0.3, g_u_std=0.4, threshold=-50.5,
                     network_class="bursting" if row == 0 else "spiking", out_of_distribution=row == 1,
                     status=status)
    module.add(dics)

    populations = ndx_dicpop.ConductancePopulations(name="conductance_populations", description="populations",
                                                    model_name="stg", target_tables={"units": units})
    populations.add_row(**_population_row(0, -4.0, ("A", "H")), validation_status="ok", n_simulated=4, n_valid=2,
                        validation_duration=3.0, validation_transient=1.0, **{"yield": 0.5})
    populations.add_row(**_population_row(1, 3.5, ("CaS", "H")), validation_status="partial", n_simulated=8,
                        n_valid=1, validation_duration=3.0, validation_transient=1.0, **{"yield": 0.125})
    module.add(populations)
    module.add(_members(ndx_dicpop.PopulationMembers, "population_members", populations, units,
                        [(0, 0, 0, (6600.0, 126.0, 0.01)), (0, 0, 1, (6400.0, 130.0, 0.01)),
                         (1, 1, 0, (5000.0, 90.0, 0.02))]))

    statistics = ndx_dicpop.SpikeStatistics(name="spike_statistics", description="statistics",
                                            target_tables={"units": units})
    statistics.add_column(name="firing_rate", description="Mean firing rate (Hz).")
    statistics.add_column(name="firing_class", description="ISI-CV class.")
    for row, (rate, kind) in enumerate([(5.0, "bursting"), (4.4, "spiking"), (1.1, "silent")]):
        statistics.add_row(units=row, firing_rate=rate, firing_class=kind)
    module.add(statistics)

    module.add(ndx_dicpop.DicpopProvenance(
        name="provenance", software="nwb_dicpop", software_version="0.0-test",
        date=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc), model_declaration='{"stg": {}}',
        seeds='{"populations": 7}', settings='{"n_models": 2}'))

    analyses = ndx_dicpop.NeuromodulationAnalyses(name="neuromodulation_analyses", description="analyses",
                                                  target_tables={"units": units})
    analyses.add_row(units=0, model_name="stg", network_version="test-1", threshold=-50.5, **_side("before", -4.0),
                     **_side("after", -2.0), detectable=True, change_detected=True, reason="A+H leads",
                     no_change_log_evidence=-12.0, no_change_log_evidence_dic=-11.0, no_change_agreement=np.nan,
                     no_change_reproduced_fraction=np.nan, bound_notes="[]", settings='[["seed", 4]]')
    module.add(analyses)

    ranking = ndx_dicpop.NeuromodulationRanking(name="neuromodulation_ranking", description="ranking",
                                                target_tables={"analysis": analyses, "units": units})
    for rank, subset in enumerate(("A+H", "H"), start=1):
        ranking.add_row(analysis=0, units=0, subset=subset, size=subset.count("+") + 1, rank=rank, cost=0.4 * rank,
                        feasible_fraction=0.9, log_evidence=-3.0 * rank, log_evidence_dic=-2.0 * rank,
                        log_bayes_factor=9.0 / rank, agreement=np.nan, reproduced_fraction=np.nan, n_simulated=0,
                        bound_limited_fraction=0.0, bound_decides=False, tie_reason="")
    module.add(ranking)

    moved = ndx_dicpop.NeuromodulationPopulations(name="neuromodulation_populations", description="moved",
                                                  model_name="stg",
                                                  target_tables={"units": units, "analysis": analyses})
    moved.add_row(**_population_row(0, -4.0, ("A", "H")), analysis=0, role="before", subset="")
    moved.add_row(**_population_row(0, -2.0, ("A", "H")), analysis=0, role="moved", subset="A+H")
    module.add(moved)
    module.add(_members(ndx_dicpop.NeuromodulationMembers, "neuromodulation_members", moved, units,
                        [(0, 0, 0, (6600.0, 126.0, 0.01)), (1, 0, 0, (6600.0, 150.0, 0.01))]))
    return nwbfile


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("roundtrip") / "every_type.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(_annotate(_nwbfile()))
    return path


def test_written_file_is_valid(written):
    assert pynwb.validate(path=str(written)) == []
    with h5py.File(written, "r") as handle:
        assert "ndx-dicpop" in handle["specifications"]
        assert list(handle["specifications/ndx-dicpop"]) == [ndx_dicpop.__version__]
        group = handle["processing/dicpop"]
        assert group["dic_estimates"].attrs["neurodata_type"] == "DICEstimates"
        # fixed unit attributes are written by pynwb from the schema
        assert group["dic_estimates/g_s"].attrs["unit"] == DIMENSIONLESS
        assert group["dic_estimates/threshold"].attrs["unit"] == "mV"
        assert group["conductance_populations/validation_duration"].attrs["unit"] == "s"
        assert group["population_members/g_Na"].attrs["unit"] == "mS/cm^2"
        assert group["population_members/g_Na"].attrs["current"] == "Na"


def test_every_type_round_trips(written):
    with NWBHDF5IO(str(written), "r") as io:
        nwbfile = io.read()
        module = nwbfile.processing["dicpop"]
        expected = {
            "dic_estimates": ndx_dicpop.DICEstimates,
            "conductance_populations": ndx_dicpop.ConductancePopulations,
            "population_members": ndx_dicpop.PopulationMembers,
            "spike_statistics": ndx_dicpop.SpikeStatistics,
            "provenance": ndx_dicpop.DicpopProvenance,
            "neuromodulation_analyses": ndx_dicpop.NeuromodulationAnalyses,
            "neuromodulation_ranking": ndx_dicpop.NeuromodulationRanking,
            "neuromodulation_populations": ndx_dicpop.NeuromodulationPopulations,
            "neuromodulation_members": ndx_dicpop.NeuromodulationMembers,
        }
        assert sorted(module.data_interfaces) == sorted(expected)
        for name, cls in expected.items():
            assert type(module[name]) is cls, name

        dics = module["dic_estimates"]
        assert dics.model_name == "stg"
        assert dics.network_version == "test-1"
        assert dics["units"].table is nwbfile.units
        np.testing.assert_array_equal(dics["g_s"].data[:], [-4.0, 3.5, np.nan])
        assert [s.decode() if isinstance(s, bytes) else s for s in dics["status"].data[:]] == \
            ["ok", "ok", "too few spikes"]
        assert list(dics["out_of_distribution"].data[:]) == [False, True, False]

        populations = module["conductance_populations"]
        assert list(populations["compensating_set"][1]) == ["CaS", "H"]
        np.testing.assert_allclose(populations["yield"].data[:], [0.5, 0.125])
        members = module["population_members"]
        assert members["population"].table is populations
        assert isinstance(members["g_Kd"], ndx_dicpop.ConductanceColumn)
        assert members["g_Kd"].current == "Kd"
        assert members["g_Kd"].unit == "mS/cm^2"
        frame = members.to_dataframe(index=True)
        assert frame["population"].tolist() == [0, 0, 1]
        assert frame["g_Na"].tolist() == [6600.0, 6400.0, 5000.0]

        statistics = module["spike_statistics"].to_dataframe(index=True)
        assert statistics["firing_class"].tolist() == ["bursting", "spiking", "silent"]
        provenance = module["provenance"]
        assert provenance.software == "nwb_dicpop"
        assert json.loads(provenance.settings) == {"n_models": 2}

        analyses = module["neuromodulation_analyses"]
        assert analyses["after_g_s"].data[0] == -2.0
        assert json.loads(analyses["settings"].data[0]) == [["seed", 4]]
        ranking = module["neuromodulation_ranking"]
        assert ranking["analysis"].table is analyses
        assert ranking.to_dataframe(index=True)["subset"].tolist() == ["A+H", "H"]
        moved = module["neuromodulation_populations"].to_dataframe(index=True)
        assert moved["role"].tolist() == ["before", "moved"]
        neuromodulation_members = module["neuromodulation_members"]
        assert neuromodulation_members["population"].table is module["neuromodulation_populations"]
        assert neuromodulation_members.to_dataframe(index=True)["g_Kd"].tolist() == [126.0, 150.0]


def test_required_columns_and_attributes_are_enforced():
    with pytest.raises(TypeError, match="unit"):
        ndx_dicpop.ConductanceColumn(name="g_Na", description="Na", data=[1.0], current="Na")
    with pytest.raises(TypeError, match="model_name"):
        ndx_dicpop.DICEstimates(name="dic_estimates", description="no model")
    units = _nwbfile().units
    dics = ndx_dicpop.DICEstimates(name="dic_estimates", description="DICs", model_name="stg", network_version="",
                                   target_tables={"units": units})
    with pytest.raises(ValueError, match="column 'g_u' missing"):
        dics.add_row(units=0, g_s=1.0)


# --------------------------------------------------------------------------- files annotated by nwb_dicpop


def _frozen(version, tmp_path):
    packed = FROZEN / f"ndx-dicpop_{version}.nwb.gz"
    if not packed.is_file():
        pytest.skip(f"{packed} is not here: run these tests from a checkout of the nwb_dicpop repository")
    path = tmp_path / f"ndx-dicpop_{version}.nwb"
    with gzip.open(packed, "rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path, json.loads((FROZEN / f"ndx-dicpop_{version}.expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_files_annotated_by_nwb_dicpop_read_with_pynwb_alone(version, tmp_path):
    path, expected = _frozen(version, tmp_path)
    # the file caches the schema it was written with; pynwb reads it with the loaded (newer) one and says so
    notice = rf"cached version: {re.escape(version)}, loaded version: {re.escape(ndx_dicpop.__version__)}"
    with pytest.warns(UserWarning, match=notice):
        io = NWBHDF5IO(str(path), "r")
    with io:
        nwbfile = io.read()
        module = nwbfile.processing["dicpop"]
        dics = module["dic_estimates"]
        assert isinstance(dics, ndx_dicpop.DICEstimates)
        unit_ids = nwbfile.units.id.data[:][dics["units"].data[:]]
        assert unit_ids.tolist() == expected["dics"]["unit_ids"]
        g_s = [None if np.isnan(v) else v for v in dics["g_s"].data[:]]
        assert g_s == expected["dics"]["g_s"]
        populations = module["conductance_populations"]
        members = module["population_members"]
        assert isinstance(members, ndx_dicpop.PopulationMembers)
        frame = members.to_dataframe(index=True)
        for row, population in enumerate(expected["populations"]):
            assert nwbfile.units.id.data[populations["units"].data[row]] == population["unit_id"]
            assert list(populations["compensating_set"][row]) == population["compensating_set"]
            mine = frame[frame["population"] == row].sort_values("member")
            conductances = mine[[f"g_{c}" for c in population["conductance_names"]]].to_numpy()
            np.testing.assert_array_equal(conductances, population["conductances"])
        rates = module["spike_statistics"].to_dataframe(index=True)["firing_rate"].tolist()
        assert rates == expected["statistics"]["firing_rate"]


# --------------------------------------------------------------------------- side by side with other versions


def test_a_different_loaded_version_is_refused(tmp_path):
    """When another version of the namespace is already loaded, importing ndx_dicpop says so."""
    for name in ("ndx-dicpop.namespace.yaml", "ndx-dicpop.extensions.yaml"):
        text = ndx_dicpop.namespace_path().with_name(name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(f"version: {ndx_dicpop.__version__}", "version: 9.9.9"))
    script = (
        "import pynwb\n"
        f"pynwb.load_namespaces({str(tmp_path / 'ndx-dicpop.namespace.yaml')!r})\n"
        "try:\n"
        "    import ndx_dicpop\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(ndx_dicpop.__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True,
                            timeout=120)
    assert "ndx-dicpop 9.9.9 is already loaded" in result.stdout
    assert f"holds version {ndx_dicpop.__version__}" in result.stdout
