"""Generate the frozen back-compatibility files of ndx-dicpop (run once per released version).

    python tests/data/make_frozen_files.py 0.2.0

writes ``ndx-dicpop_<VERSION>.nwb.gz`` (the annotated NWB file, gzip-compressed to keep the
repository small: the cached core schema alone is ~140 kB of text) and
``ndx-dicpop_<VERSION>.expected.json`` (values the back-compatibility test checks), using the
package as it is checked out.  Run it with the code of that release only: ``0.1.0`` was written
by the package of ndx-dicpop 0.1.0, ``0.2.0`` by that of 0.2.0 (before 0.3.0 added the
neuromodulation tables).  Never regenerate the file of a released version: it stands for files
users already have.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

import nwb_dicpop as ndp
from nwb_dicpop.testing import mock_dic_estimate, mock_spike_trains, write_mock_nwb

HERE = Path(__file__).resolve().parent


def _nullable(values) -> list:
    return [None if np.isnan(v) else float(v) for v in values]


def _write(version: str, spikes, results: dict) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        source = write_mock_nwb(
            Path(tmp) / "frozen.nwb",
            spikes,
            identifier=f"ndx-dicpop-{version}-frozen",
            session_start_time=datetime(2024, 1, 15, 9, 30, tzinfo=UTC),
        )
        out = ndp.write_results(source, **results)
        target = HERE / f"ndx-dicpop_{version}.nwb.gz"
        with out.open("rb") as raw, gzip.open(target, "wb", compresslevel=9) as packed:
            shutil.copyfileobj(raw, packed)
    return target


def _with_network_class(dics, classes: tuple[str, ...]):
    """``dics`` with the network's class set, under the field name of the checked-out package.

    The DICEstimate field holding the network's class was ``firing_class`` in the packages that
    wrote the released files and is ``network_class`` now (``firing_class`` being only the class
    by the ISI-CV rule); the makers run with the package of their release, so they ask which name
    it has rather than assume one.
    """
    names = {field.name for field in dataclasses.fields(dics)}
    return dataclasses.replace(dics, **{"network_class" if "network_class" in names else "firing_class": classes})


def _network_classes(dics) -> list[str]:
    """The network's class of each unit of ``dics``, whichever name the checked-out package gives it."""
    names = {field.name for field in dataclasses.fields(dics)}
    return list(dics.network_class if "network_class" in names else dics.firing_class)


def _expected(dics, populations, statistics, spikes) -> dict:
    return {
        "dics": {"unit_ids": list(dics.unit_ids), "g_s": _nullable(dics.g_s), "status": list(dics.status)},
        "populations": [
            {
                "unit_id": p.unit_id,
                "compensating_set": list(p.compensating_set),
                "conductance_names": list(p.conductance_names),
                "conductances": p.conductances.tolist(),
            }
            for p in populations
        ],
        "statistics": {"firing_rate": statistics["firing_rate"].tolist()},
        "n_spikes": spikes.n_spikes.tolist(),
    }


def make_0_1_0() -> None:
    """The first release: DICs, populations, statistics, one validated member, provenance."""
    spikes = mock_spike_trains(n_units=3, rate=5.0, duration=4.0, rng=11)
    dics = mock_dic_estimate([0, 1, 2], silent=[1], rng=11)
    populations = ndp.generate_populations(
        "stg", dics.g_s[[0, 2]], dics.g_u[[0, 2]], n_models=3, unit_ids=[0, 2], rng=11
    )
    statistics = pd.DataFrame({"unit_id": [0, 1, 2], "firing_rate": spikes.n_spikes / 4.0})
    validation = pd.DataFrame({"unit_id": [0], "member": [1], "fires_like_target": [True]})
    _write("0.1.0", spikes, {
        "dics": dics, "populations": populations, "statistics": statistics, "validation": validation,
        "provenance": {"seeds": {"spikes": 11, "dics": 11, "populations": 11}, "settings": {"n_models": 3}},
    })
    expected = _expected(dics, populations, statistics, spikes)
    (HERE / "ndx-dicpop_0.1.0.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def make_0_2_0() -> None:
    """0.2.0 adds g_f / g_f_std, the network's class (network_class) and the populations' validation outcomes."""
    spikes = mock_spike_trains(n_units=3, rate=6.0, duration=4.0, rng=12)
    base = mock_dic_estimate([0, 1, 2], silent=[1], rng=12)
    dics = _with_network_class(
        dataclasses.replace(base, g_f=np.array([-6.1, np.nan, -5.4]), g_f_std=np.array([0.4, np.nan, 0.3])),
        ("spiking", "silent", "bursting"),
    )
    populations = ndp.generate_populations(
        "stg", dics.g_s[[0, 2]], dics.g_u[[0, 2]], n_models=3, unit_ids=[0, 2], rng=12
    )
    statistics = pd.DataFrame({"unit_id": [0, 1, 2], "firing_rate": spikes.n_spikes / 4.0,
                               "firing_class": ["spiking", "silent", "spiking"]})
    validation = pd.DataFrame({"unit_id": [0, 0, 2], "member": [0, 1, 2],
                               "fires_like_target": [True, False, True], "rate": [5.5, 0.0, 6.25]})
    outcomes = pd.DataFrame({"unit_id": [0, 2], "validation_status": ["ok", "partial"], "n_simulated": [4, 9],
                             "n_valid": [3, 2], "yield": [0.75, 2 / 9], "validation_duration": [4.0, 4.0],
                             "validation_transient": [2.0, 2.0]})
    _write("0.2.0", spikes, {
        "dics": dics, "populations": populations, "statistics": statistics, "validation": validation,
        "population_outcomes": outcomes,
        "provenance": {"seeds": {"spikes": 12, "dics": 12, "populations": 12}, "settings": {"n_models": 3}},
    })
    expected = _expected(dics, populations, statistics, spikes)
    expected["dics"]["g_f"] = _nullable(dics.g_f)
    expected["dics"]["network_class"] = _network_classes(dics)
    expected["population_outcomes"] = {name: outcomes[name].tolist() for name in outcomes.columns}
    (HERE / "ndx-dicpop_0.2.0.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


MAKERS = {"0.1.0": make_0_1_0, "0.2.0": make_0_2_0}


def main(argv: list[str]) -> None:
    if len(argv) != 1 or argv[0] not in MAKERS:
        sys.exit(f"usage: python tests/data/make_frozen_files.py {{{','.join(MAKERS)}}}")
    MAKERS[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
