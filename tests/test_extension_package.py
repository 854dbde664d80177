"""The reader-only package ndx-dicpop (``extensions/``): its own tests, side by side with nwb_dicpop,
and a fresh virtualenv holding nothing but it and pynwb reading a file nwb_dicpop wrote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.nwb import extension_namespace_path
from nwb_dicpop.testing import mock_dic_estimate, mock_spike_trains, write_mock_nwb

REPO = Path(__file__).resolve().parent.parent
EXTENSIONS = REPO / "extensions"
SOURCES = EXTENSIONS / "src" / "pynwb"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, **extra}


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def annotated(tmp_path_factory) -> tuple[Path, ndp.DICEstimate]:
    """A file annotated by nwb_dicpop: DICs (one silent unit), populations, statistics, outcomes."""
    folder = tmp_path_factory.mktemp("annotated")
    source = write_mock_nwb(folder / "session.nwb", mock_spike_trains(n_units=3, rate=6.0, duration=4.0, rng=8))
    dics = mock_dic_estimate([0, 1, 2], silent=[1], rng=8)
    populations = ndp.generate_populations("stg", dics.g_s[[0, 2]], dics.g_u[[0, 2]], n_models=3, unit_ids=[0, 2],
                                           rng=8)
    statistics = pd.DataFrame({"unit_id": [0, 1, 2], "firing_class": ["spiking", "silent", "bursting"]})
    outcomes = pd.DataFrame({"unit_id": [0, 2], "validation_status": ["ok", "partial"], "yield": [0.75, 0.2]})
    out = ndp.write_results(source, folder / "annotated.nwb", dics=dics, populations=populations,
                            statistics=statistics, population_outcomes=outcomes)
    return out, dics


def test_the_package_is_pynwb_only_and_its_version_is_the_schema_version():
    project = tomllib.loads((EXTENSIONS / "pyproject.toml").read_text())["project"]
    assert project["name"] == "ndx-dicpop"
    assert [re.split(r"[<>=!~ \[]", d)[0] for d in project["dependencies"]] == ["pynwb"]
    namespace = (EXTENSIONS / "ndx-dicpop.namespace.yaml").read_text()
    assert f"version: {project['version']}\n" in namespace
    # nwb_dicpop loads the very same YAML (in a checkout; its wheel carries a copy, see test_nwb.py)
    assert extension_namespace_path() == EXTENSIONS / "ndx-dicpop.namespace.yaml"
    wheel = tomllib.loads((EXTENSIONS / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    for path in wheel["force-include"]:
        assert (EXTENSIONS / path).is_file(), path
    assert (SOURCES / "ndx_dicpop" / "__init__.py").is_file()


def test_the_extension_tests_pass_with_pynwb_alone():
    """extensions/src/pynwb/tests, run as its own pytest session (its own settings, no nwb_dicpop)."""
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-rs"],
                  cwd=EXTENSIONS, env=_env(), timeout=600)
    summary = result.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed, summary
    assert int(passed.group(1)) >= 8, summary
    assert "skipped" not in summary, result.stdout  # the frozen files of tests/data are read too
    assert "failed" not in summary, result.stdout


_READ_BOTH = """
import json, sys, warnings
warnings.simplefilter("error")
first, second = sys.argv[2].split(",")
__import__(first)
__import__(second)
import ndx_dicpop
import nwb_dicpop.nwb as nwb
from pynwb import NWBHDF5IO
for name in ("DICEstimates", "ConductancePopulations", "PopulationMembers", "SpikeStatistics", "DicpopProvenance",
             "ConductanceColumn", "NeuromodulationAnalyses", "NeuromodulationRanking", "NeuromodulationMembers",
             "NeuromodulationPopulations"):
    assert getattr(ndx_dicpop, name) is getattr(nwb, name), name
with NWBHDF5IO(sys.argv[1], "r") as io:
    nwbfile = io.read()
    table = nwbfile.processing["dicpop"]["dic_estimates"]
    assert type(table) is ndx_dicpop.DICEstimates
    members = nwbfile.processing["dicpop"]["population_members"]
    assert type(members["g_Na"]) is ndx_dicpop.ConductanceColumn
    ids = nwbfile.units.id.data[:][table["units"].data[:]]
    print(" ".join(f"{int(u)}:{float(g)!r}" for u, g in zip(ids, table["g_s"].data[:])))
    print(" ".join(nwbfile.units["dicpop_status"].data[:]))
print(json.dumps(nwb.read_results(sys.argv[1]).dics.g_s.tolist()))
"""


@pytest.mark.parametrize("order", ["nwb_dicpop.nwb,ndx_dicpop", "ndx_dicpop,nwb_dicpop.nwb"])
def test_both_packages_in_one_process_share_the_classes(annotated, order):
    path, dics = annotated
    result = _run([sys.executable, "-c", _READ_BOTH, str(path), order], env=_env(PYTHONPATH=str(SOURCES)),
                  timeout=300)
    pairs, statuses, again = result.stdout.strip().splitlines()
    read = {int(u): float(g) for u, g in (pair.split(":") for pair in pairs.split())}
    np.testing.assert_array_equal([read[u] for u in dics.unit_ids], dics.g_s)
    assert statuses.split() == list(dics.status)
    np.testing.assert_array_equal(json.loads(again), dics.g_s)  # and nwb_dicpop reads it as before


def test_nwb_dicpop_refuses_another_loaded_version(tmp_path):
    for name in ("ndx-dicpop.namespace.yaml", "ndx-dicpop.extensions.yaml"):
        text = (EXTENSIONS / name).read_text()
        (tmp_path / name).write_text(re.sub(r"version: \d+\.\d+\.\d+", "version: 9.9.9", text))
    script = (
        "import pynwb\n"
        f"pynwb.load_namespaces({str(tmp_path / 'ndx-dicpop.namespace.yaml')!r})\n"
        "try:\n"
        "    import nwb_dicpop.nwb\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    result = _run([sys.executable, "-c", script], env=_env(), timeout=300)
    assert "ndx-dicpop 9.9.9 is already loaded" in result.stdout
    assert "nwb_dicpop writes and reads version 0.3.0" in result.stdout


_READ_ALONE = """
import importlib.util, sys
missing = [m for m in ("nwb_dicpop", "torch", "brian2") if importlib.util.find_spec(m) is not None]
assert not missing, f"the venv holds {missing}"
import ndx_dicpop
from pynwb import NWBHDF5IO
print(ndx_dicpop.__file__)
with NWBHDF5IO(sys.argv[1], "r") as io:
    nwbfile = io.read()
    table = nwbfile.processing["dicpop"]["dic_estimates"]
    assert type(table) is ndx_dicpop.DICEstimates
    for unit, g_s in zip(nwbfile.units.id.data[:][table["units"].data[:]], table["g_s"].data[:]):
        print(f"unit {int(unit)}: g_s = {float(g_s)!r}")
"""


@pytest.mark.slow
def test_fresh_venv_with_ndx_dicpop_alone_reads_an_annotated_file(annotated, tmp_path):
    """``pip install ./extensions`` into an empty virtualenv (pynwb and its dependencies come from the
    package index), then read a file nwb_dicpop wrote and print g_s per unit; run the package's tests there."""
    path, dics = annotated
    started = time.perf_counter()
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    created = time.perf_counter()
    _run([str(python), "-m", "pip", "install", "-q", str(EXTENSIONS), "pytest"], env=_env(), timeout=600)
    installed = time.perf_counter()
    result = _run([str(python), "-c", _READ_ALONE, str(path)], cwd=tmp_path, env=_env(), timeout=300)
    read = time.perf_counter()
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(str(env_dir))  # the installed package, not the checkout
    expected = [f"unit {u}: g_s = {float(g)!r}" for u, g in zip(dics.unit_ids, dics.g_s, strict=True)]
    assert lines[1:] == expected
    tests = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"], cwd=EXTENSIONS, env=_env(),
                 timeout=600)
    summary = tests.stdout.strip().splitlines()[-1]
    assert "failed" not in summary, tests.stdout
    assert "skipped" not in summary, tests.stdout
    print(f"\nfresh venv: create {created - started:.1f} s, pip install ./extensions pytest "
          f"{installed - created:.1f} s, read {read - installed:.1f} s, package tests "
          f"{time.perf_counter() - read:.1f} s\n" + "\n".join(lines[1:]))
