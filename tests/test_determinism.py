"""Same seed, same annotated file: every dataset and attribute is equal, except the listed ones.

Two runs of the pipeline on the same input with the same seed write files whose HDF5 content is
identical apart from values that identify a write rather than its result:

- ``object_id`` attributes (a fresh UUID for every NWB object written),
- ``file_create_date`` (when the file was written),
- the provenance dates recorded by the pipeline (the ``date`` attribute of the provenance
  table and the ``date`` of its settings) and any wall times (``*_seconds``).

HDF5 also stores object modification times in its headers, so the files' raw bytes differ;
the comparison is on the decoded content.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.testing import write_mock_nwb

VOLATILE_ATTRIBUTES = {"object_id", "date"}
VOLATILE_DATASETS = {"file_create_date"}
VOLATILE_PROVENANCE_KEYS = {"created", "date"}


def _scrub(value):
    """Provenance JSON without the timestamp and wall-time fields."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()
                if k not in VOLATILE_PROVENANCE_KEYS and not k.endswith("_seconds")}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _decoded(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _scrub(json.loads(value))
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return [_decoded(v) for v in value.tolist()]
    return value


def _content(path):
    """{hdf5 path: decoded value} of every dataset and attribute, minus the volatile ones."""
    found = {}
    with h5py.File(path, "r") as handle:
        def visit(name, obj):
            for key, value in obj.attrs.items():
                if key in VOLATILE_ATTRIBUTES:
                    continue
                if isinstance(value, h5py.Reference):
                    value = handle[value].name if value else None
                found[f"{name}@{key}"] = _decoded(value)
            if isinstance(obj, h5py.Dataset) and name.rsplit("/", 1)[-1] not in VOLATILE_DATASETS:
                data = obj[()]
                if obj.dtype.kind == "V" or obj.dtype.fields:
                    data = data.tolist()
                elif h5py.check_dtype(ref=obj.dtype) is not None:
                    data = [handle[r].name if r else None for r in np.ravel(data)]
                found[name] = _decoded(data)
        handle.visititems(visit)
    return found


def _equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


@pytest.mark.slow
def test_same_seed_same_annotated_file(tmp_path):
    population = ndp.generate_population("stg", -4.0, 6.0, n_models=2, rng=0)
    trains = ndp.simulate_population(population, duration=3.0, transient=3.0).spike_times
    source = write_mock_nwb(tmp_path / "session.nwb", list(trains), identifier="fixed-id")
    outputs = []
    for k in range(2):
        result = ndp.run_pipeline(source, model="stg", n_models=8, seed=7, duration=1.0, transient=1.0,
                                  output=tmp_path / f"run{k}.nwb")
        outputs.append(result.output)
    first, second = (_content(p) for p in outputs)
    assert first.keys() == second.keys()
    different = [key for key in first if not _equal(first[key], second[key])]
    assert not different, f"differ between two runs with the same seed: {different[:10]}"
    # a different seed changes the populations
    other = ndp.run_pipeline(source, model="stg", n_models=8, seed=8, duration=1.0, transient=1.0,
                             output=tmp_path / "other.nwb")
    third = _content(other.output)
    assert any(not _equal(first[key], third[key]) for key in first if key in third)
