"""Generate the frozen back-compatibility file of ndx-dicpop 0.1.0 (run once per released version).

    python tests/data/make_frozen_files.py

writes ``ndx-dicpop_0.1.0.nwb.gz`` (the annotated NWB file, gzip-compressed to keep the
repository small: the cached core schema alone is ~140 kB of text) and
``ndx-dicpop_0.1.0.expected.json`` (values the back-compatibility test checks).  Never
regenerate the file of a released version: it stands for files users already have.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

import nwb_dicpop as ndp
from nwb_dicpop.testing import mock_dic_estimate, mock_spike_trains, write_mock_nwb

VERSION = "0.1.0"
HERE = Path(__file__).resolve().parent


def main() -> None:
    spikes = mock_spike_trains(n_units=3, rate=5.0, duration=4.0, rng=11)
    dics = mock_dic_estimate([0, 1, 2], silent=[1], rng=11)
    populations = ndp.generate_populations(
        "stg", dics.g_s[[0, 2]], dics.g_u[[0, 2]], n_models=3, unit_ids=[0, 2], rng=11
    )
    statistics = pd.DataFrame({"unit_id": [0, 1, 2], "firing_rate": spikes.n_spikes / 4.0})
    validation = pd.DataFrame({"unit_id": [0], "member": [1], "fires_like_target": [True]})
    with tempfile.TemporaryDirectory() as tmp:
        source = write_mock_nwb(
            Path(tmp) / "frozen.nwb",
            spikes,
            identifier=f"ndx-dicpop-{VERSION}-frozen",
            session_start_time=datetime(2024, 1, 15, 9, 30, tzinfo=UTC),
        )
        out = ndp.write_results(
            source,
            dics=dics,
            populations=populations,
            statistics=statistics,
            validation=validation,
            provenance={"seeds": {"spikes": 11, "dics": 11, "populations": 11}, "settings": {"n_models": 3}},
        )
        with out.open("rb") as raw, gzip.open(HERE / f"ndx-dicpop_{VERSION}.nwb.gz", "wb", compresslevel=9) as packed:
            shutil.copyfileobj(raw, packed)
    expected = {
        "dics": {"unit_ids": list(dics.unit_ids), "g_s": [None if np.isnan(v) else v for v in dics.g_s],
                 "status": list(dics.status)},
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
    (HERE / f"ndx-dicpop_{VERSION}.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
