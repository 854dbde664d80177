"""Dask scale-out: a real LocalCluster with two workers, one of which is killed mid-run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nwb_dicpop.distributed import map_tasks

pytest.importorskip("distributed")


def _population_mean(item: tuple[int, float]) -> np.ndarray:
    seed, g_s = item
    import nwb_dicpop as ndp

    return ndp.generate_population("stg", g_s, 5.0, n_models=20, rng=seed, thresholds=False).conductances.mean(axis=0)


def _die_once(item: tuple[str, int, float]) -> np.ndarray:
    marker, seed, g_s = item
    path = Path(marker)
    if seed == 3 and not path.exists():
        path.write_text("killed")
        os._exit(1)  # the worker process dies in the middle of the run
    return _population_mean((seed, g_s))


ITEMS = [(seed, g_s) for seed, g_s in zip(range(6), [-8.0, -4.0, 0.0, 4.0, 8.0, -2.0], strict=True)]


def test_serial_map_keeps_order_and_reports_progress():
    seen = []
    out = map_tasks(_population_mean, ITEMS, progress=lambda done, total: seen.append((done, total)))
    assert len(out) == 6
    assert seen[-1] == (6, 6)


def test_local_cluster_survives_a_killed_worker_and_matches_serial(tmp_path):
    serial = map_tasks(_population_mean, ITEMS)
    marker = str(tmp_path / "killed.txt")
    parallel = map_tasks(_die_once, [(marker, s, g) for s, g in ITEMS], scheduler="local", n_workers=2)
    assert Path(marker).exists()  # a worker really died
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_scheduler_is_named():
    with pytest.raises(ValueError, match="scheduler"):
        map_tasks(_population_mean, ITEMS[:1], scheduler="my-cluster")
