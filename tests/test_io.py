"""read_spike_trains: NWB (local, HTTP loopback, DANDI resolution), Neo, tables, arrays, bad input."""

from __future__ import annotations

import hashlib
import http.server
import socket
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nwb_dicpop import SpikeTrains
from nwb_dicpop.io import TimeUnitWarning, read_spike_trains
from nwb_dicpop.testing import mock_spike_trains, write_mock_nwb


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def spikes() -> SpikeTrains:
    return mock_spike_trains(n_units=6, rate=[4.0, 8.0, 12.0, 16.0, 20.0, 24.0], duration=10.0, rng=7)


@pytest.fixture
def nwb_path(tmp_path, spikes) -> Path:
    return write_mock_nwb(tmp_path / "session.nwb", spikes)


# --------------------------------------------------------------------------- local NWB


def test_nwb_all_units_roundtrip(nwb_path, spikes):
    read = read_spike_trains(nwb_path)
    assert read.unit_ids == (0, 1, 2, 3, 4, 5)
    assert read.source == str(nwb_path)
    for a, b in zip(read.times, spikes.times, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(read.t_start, 0.0)  # from obs_intervals
    np.testing.assert_array_equal(read.t_stop, 10.0)


def test_nwb_unit_ids_where_window_epoch(nwb_path, spikes):
    chosen = read_spike_trains(nwb_path, unit_ids=[4, 1])
    assert chosen.unit_ids == (4, 1)
    np.testing.assert_array_equal(chosen.times[0], spikes.times[4])

    good = read_spike_trains(nwb_path, where={"quality": "good"})
    assert good.unit_ids == (0, 1, 3, 4)  # every third unit is "mua" in the mock
    several = read_spike_trains(nwb_path, where={"quality": ["good", "mua"]})
    assert several.n_units == 6
    by_function = read_spike_trains(nwb_path, where={"quality": lambda q: q == "mua"})
    assert by_function.unit_ids == (2, 5)

    window = read_spike_trains(nwb_path, window=(2.0, 3.5))
    np.testing.assert_array_equal(window.t_start, 2.0)
    np.testing.assert_array_equal(window.t_stop, 3.5)
    expected = spikes.times[3][(spikes.times[3] >= 2.0) & (spikes.times[3] <= 3.5)]
    np.testing.assert_array_equal(window.times[3], expected)

    drug = read_spike_trains(nwb_path, epoch="drug", where={"quality": "good"})
    np.testing.assert_array_equal(drug.t_start, 5.0)
    np.testing.assert_array_equal(drug.t_stop, 10.0)
    assert all(t.min() >= 5.0 for t in drug.times)
    both = read_spike_trains(nwb_path, epoch="baseline", window=(4.0, 8.0))
    np.testing.assert_array_equal(both.t_start, 4.0)
    np.testing.assert_array_equal(both.t_stop, 5.0)


def test_nwb_named_interval_table_and_no_obs_intervals(tmp_path):
    from pynwb import NWBHDF5IO
    from pynwb.epoch import TimeIntervals

    from nwb_dicpop.testing import mock_nwbfile_with_units

    trains = [np.array([0.5, 1.5, 2.5, 7.0]), np.array([1.0, 6.0])]
    nwbfile = mock_nwbfile_with_units(trains, obs_intervals=False, epochs={"rest": (0.0, 12.0)})
    stimulus = TimeIntervals(name="stimulation", description="drug application")
    stimulus.add_interval(start_time=2.0, stop_time=6.5)
    nwbfile.add_time_intervals(stimulus)
    path = tmp_path / "intervals.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)
    whole = read_spike_trains(path)
    # no obs_intervals: the recording span comes from the epochs, not from the spikes
    np.testing.assert_array_equal(whole.t_start, 0.0)
    np.testing.assert_array_equal(whole.t_stop, 12.0)
    stim = read_spike_trains(path, epoch="stimulation")
    np.testing.assert_array_equal(stim.t_start, 2.0)
    np.testing.assert_array_equal(stim.t_stop, 6.5)
    np.testing.assert_array_equal(stim.times[0], [2.5])
    np.testing.assert_array_equal(stim.times[1], [6.0])


def test_nwb_multiple_obs_intervals_and_disjoint_epoch(tmp_path):
    trains = [np.array([0.5, 1.5, 4.5]), np.array([1.0, 2.0])]
    path = write_mock_nwb(
        tmp_path / "gaps.nwb",
        trains,
        obs_intervals=[[[0.0, 2.0], [4.0, 5.0]], [[0.5, 3.0]]],
        epochs={"odour": (0.0, 1.0), "odour ": (0.0, 0.1), "rest": (1.0, 2.0)},
    )
    read = read_spike_trains(path)
    np.testing.assert_array_equal(read.t_start, [0.0, 0.5])
    np.testing.assert_array_equal(read.t_stop, [5.0, 3.0])
    write_mock_nwb(tmp_path / "disjoint.nwb", trains, epochs={"a": (0.0, 1.0)})
    from pynwb import NWBHDF5IO

    from nwb_dicpop.testing import mock_nwbfile_with_units

    nwbfile = mock_nwbfile_with_units(trains, epochs={})
    nwbfile.add_epoch(start_time=0.0, stop_time=1.0, tags=["light"])
    nwbfile.add_epoch(start_time=3.0, stop_time=4.0, tags=["light"])
    with NWBHDF5IO(tmp_path / "two.nwb", "w") as io:
        io.write(nwbfile)
    with pytest.raises(ValueError, match="separate intervals"):
        read_spike_trains(tmp_path / "two.nwb", epoch="light")


# --------------------------------------------------------------------------- bad input (NWB)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"unit_ids": [13]}, r"Unknown unit id 13.*Did you mean"),
        ({"where": {"qualty": "good"}}, r"Did you mean 'quality'"),
        ({"where": {"quality": "excellent"}}, r"values present: \['good', 'mua'\]"),
        ({"where": {"spike_times": 1.0}}, "ragged"),
        ({"epoch": "drugs"}, r"Did you mean 'drug'"),
        ({"window": (3.0, 1.0)}, "t_stop > t_start"),
        ({"window": (20.0, 30.0)}, "No spikes inside the window"),
        ({"time_unit": "ms"}, "carries its own time unit"),
        ({"time_unit": "sec"}, "Unknown time_unit"),
        ({"where": {"quality": "good"}, "unit_ids": [2]}, "No unit"),
        ({"segment": 0}, "segment"),
    ],
)
def test_nwb_bad_arguments(nwb_path, kwargs, match):
    before = _sha256(nwb_path)
    with pytest.raises(ValueError, match=match), np.errstate(all="ignore"):
        read_spike_trains(nwb_path, **kwargs)
    assert _sha256(nwb_path) == before


def test_nwb_bad_argument_types(nwb_path):
    with pytest.raises(TypeError, match="dict of column filters"):
        read_spike_trains(nwb_path, where="quality == good")
    with pytest.raises(TypeError, match="sequence of ids"):
        read_spike_trains(nwb_path, unit_ids=3)


def test_bad_files(tmp_path, nwb_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist. Did you mean .*session.nwb"):
        read_spike_trains(tmp_path / "sesion.nwb")
    text = tmp_path / "notes.nwb"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_spike_trains(text)
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(nwb_path.read_bytes()[: nwb_path.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        read_spike_trains(truncated)
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(ValueError, match=r"not a format nwb_dicpop can read|could not read"):
        read_spike_trains(tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.nwb", "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(ValueError, match="not an NWB file"):
        read_spike_trains(tmp_path / "plain.nwb")
    with pytest.raises(ValueError, match="unsupported scheme"):
        read_spike_trains("s3://bucket/file.nwb")
    with pytest.raises(TypeError, match="`source` must be"):
        read_spike_trains(3.5)


def test_corrupt_data_inside_file(tmp_path, spikes):
    path = write_mock_nwb(tmp_path / "corrupt.nwb", spikes)
    raw = np.concatenate(spikes.times).astype("<f8").tobytes()
    data = path.read_bytes()
    offset = data.find(raw)
    assert offset > 0
    # NaN bit patterns in place of the stored spike times
    path.write_bytes(data[:offset] + b"\xff" * len(raw) + data[offset + len(raw) :])
    with pytest.raises(ValueError, match="NaN or infinite"):
        read_spike_trains(path)


def test_no_units_table_and_unsorted_and_empty(tmp_path):
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.file import mock_NWBFile

    with NWBHDF5IO(tmp_path / "nounits.nwb", "w") as io:
        io.write(mock_NWBFile())
    with pytest.raises(ValueError, match="no Units table"):
        read_spike_trains(tmp_path / "nounits.nwb")

    from nwb_dicpop.testing import mock_nwbfile_with_units

    nwbfile = mock_nwbfile_with_units([np.array([0.1, 0.2])], epochs={})
    nwbfile.units["spike_times"].target.data[:] = np.array([0.2, 0.1])  # unsorted on disk
    with NWBHDF5IO(tmp_path / "unsorted.nwb", "w") as io:
        io.write(nwbfile)
    with pytest.raises(ValueError, match=r"not sorted.*sort=True"):
        read_spike_trains(tmp_path / "unsorted.nwb")
    fixed = read_spike_trains(tmp_path / "unsorted.nwb", sort=True)
    np.testing.assert_array_equal(fixed.times[0], [0.1, 0.2])

    empty = write_mock_nwb(tmp_path / "silent.nwb", [np.zeros(0), np.zeros(0)])
    with pytest.raises(ValueError, match="No spikes"):
        read_spike_trains(empty)


def test_nwb_times_written_in_milliseconds_warn(tmp_path):
    trains = mock_spike_trains(n_units=3, rate=10.0, duration=5.0, rng=0)
    in_ms = [t * 1000.0 for t in trains.times]
    path = write_mock_nwb(tmp_path / "ms.nwb", in_ms, obs_intervals=False)
    with pytest.warns(TimeUnitWarning, match="look like milliseconds"):
        read_spike_trains(path)


# --------------------------------------------------------------------------- HTTP loopback


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files of ``server.root`` with HTTP range support; counts bytes sent."""

    def log_message(self, *args):  # keep test output clean
        pass

    def _resolve(self) -> Path | None:
        path = self.server.root / self.path.lstrip("/")
        return path if path.is_file() else None

    def do_HEAD(self):
        path = self._resolve()
        if path is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self):
        path = self._resolve()
        if path is None:
            self.send_error(404)
            return
        data = path.read_bytes()
        header = self.headers.get("Range")
        self.server.n_requests += 1
        if header is None or not self.server.ranges:
            body, status = data, 200
        else:
            first, last = header.removeprefix("bytes=").split("-")
            start = int(first)
            stop = min(int(last) + 1, len(data)) if last else len(data)
            body, status = data[start:stop], 206
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)
        self.server.bytes_sent += len(body)


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    server.root, server.bytes_sent, server.n_requests, server.ranges = root, 0, 0, True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_streaming_reads_lazily(http_root):
    server, base = http_root
    big = mock_spike_trains(n_units=400, rate=60.0, duration=60.0, rng=1)  # ~1.4 M spikes, ~11 MB
    path = write_mock_nwb(server.root / "big.nwb", big, epochs={})
    url = f"{base}/big.nwb"
    one = read_spike_trains(url, unit_ids=[7], timeout=10.0)
    assert one.source == url
    np.testing.assert_array_equal(one.times[0], big.times[7])
    # streamed, not downloaded: hdmf stores spike_times in 4 MiB chunks, and one unit needs one
    assert server.bytes_sent < path.stat().st_size / 2
    apart = read_spike_trains(url, unit_ids=[350, 7], timeout=10.0)  # far apart: one read per unit
    np.testing.assert_array_equal(apart.times[0], big.times[350])
    np.testing.assert_array_equal(apart.times[1], big.times[7])


def test_http_streaming_with_disk_cache(http_root, tmp_path, spikes):
    server, base = http_root
    write_mock_nwb(server.root / "small.nwb", spikes)
    cache = tmp_path / "cache"
    first = read_spike_trains(f"{base}/small.nwb", cache_dir=cache, where={"quality": "good"})
    assert first.unit_ids == (0, 1, 3, 4)
    assert any(cache.iterdir())
    sent = server.bytes_sent
    again = read_spike_trains(f"{base}/small.nwb", cache_dir=cache, where={"quality": "good"})
    np.testing.assert_array_equal(again.times[2], spikes.times[3])
    assert server.bytes_sent - sent < sent  # the blocks came from the disk cache


def test_http_errors(http_root, tmp_path):
    server, base = http_root
    (server.root / "text.nwb").write_text("plain text, not HDF5")
    with pytest.raises(ValueError, match="HTTP 404"):
        read_spike_trains(f"{base}/missing.nwb")
    with pytest.raises(ValueError, match="does not start like an HDF5 file"):
        read_spike_trains(f"{base}/text.nwb")
    server.ranges = False
    with pytest.raises(ValueError, match="does not serve byte ranges"):
        read_spike_trains(f"{base}/text.nwb")
    with pytest.raises(ValueError, match="timeout"):
        read_spike_trains(f"{base}/text.nwb", timeout=-1)


def test_unreachable_url_fails_within_timeout():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port
    with pytest.raises(ConnectionError, match="Could not reach"):
        read_spike_trains(f"http://127.0.0.1:{port}/x.nwb", timeout=2.0)
    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        start = time.perf_counter()
        with pytest.raises(ConnectionError, match=r"within 0.5 s"):
            read_spike_trains(f"http://127.0.0.1:{silent.getsockname()[1]}/x.nwb", timeout=0.5)
        assert time.perf_counter() - start < 5.0
    finally:
        silent.close()


# --------------------------------------------------------------------------- DANDI


def _fake_dandi(monkeypatch, url: str, calls: list, missing: bool = False, api_url: str | None = None):
    class NotFoundError(Exception):
        pass

    class Asset:
        def get_content_url(self, follow_redirects=0, strip_query=False):
            calls.append(("url", follow_redirects, strip_query))
            return url

    class Dandiset:
        def get_asset_by_path(self, path):
            calls.append(("asset", path))
            if missing:
                raise NotFoundError(f"No asset at path {path!r}")
            return Asset()

    class DandiAPIClient:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def get_dandiset(self, dandiset_id, version):
            calls.append(("dandiset", dandiset_id, version))
            return Dandiset()

    if api_url is not None:
        DandiAPIClient.api_url = api_url
    package = types.ModuleType("dandi")
    api = types.ModuleType("dandi.dandiapi")
    api.DandiAPIClient = DandiAPIClient
    package.dandiapi = api
    monkeypatch.setitem(sys.modules, "dandi", package)
    monkeypatch.setitem(sys.modules, "dandi.dandiapi", api)


def test_dandi_reference_resolves_and_streams(monkeypatch, http_root, spikes):
    server, base = http_root
    write_mock_nwb(server.root / "asset.nwb", spikes)
    calls: list = []
    _fake_dandi(monkeypatch, f"{base}/asset.nwb", calls, api_url=f"{base}/api")  # probe answers 404: reachable
    reference = "dandi://000123/0.240101.1200/sub-01/sub-01_ses-1_ecephys.nwb"
    read = read_spike_trains(reference, unit_ids=[2])
    assert read.source == reference
    np.testing.assert_array_equal(read.times[0], spikes.times[2])
    assert calls == [
        ("dandiset", "000123", "0.240101.1200"),
        ("asset", "sub-01/sub-01_ses-1_ecephys.nwb"),
        ("url", 1, True),
    ]


def test_dandi_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "dandi", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "dandi.dandiapi", None)
    with pytest.raises(ImportError, match=r"pip install 'nwb_dicpop\[dandi\]'"):
        read_spike_trains("dandi://000123/draft/sub-01/a.nwb")
    with pytest.raises(ValueError, match="not a DANDI asset reference"):
        read_spike_trains("dandi://123/draft")
    calls: list = []
    _fake_dandi(monkeypatch, "http://unused", calls, missing=True)
    with pytest.raises(ValueError, match=r"DANDI could not resolve.*NotFoundError"):
        read_spike_trains("dandi://000123/draft/sub-01/a.nwb")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    _fake_dandi(monkeypatch, "http://unused", calls, api_url=f"http://127.0.0.1:{port}/api")
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="Could not reach the DANDI archive"):
        read_spike_trains("dandi://000123/draft/sub-01/a.nwb", timeout=1.0)
    assert time.perf_counter() - start < 5.0


# --------------------------------------------------------------------------- Neo


def _neo_block(spikes: SpikeTrains):
    import neo
    import quantities as pq

    block = neo.Block(name="session")
    segment = neo.Segment(name="trial")
    block.segments.append(segment)
    for uid, times, start, stop in zip(spikes.unit_ids, spikes.times, spikes.t_start, spikes.t_stop, strict=True):
        segment.spiketrains.append(
            neo.SpikeTrain(times * 1000.0 * pq.ms, t_start=start * pq.s, t_stop=stop * pq.s, name=f"unit{uid}")
        )
    return block


def test_neo_objects(spikes):
    block = _neo_block(spikes)
    from_block = read_spike_trains(block)
    assert from_block.unit_ids == tuple(f"unit{u}" for u in spikes.unit_ids)
    for a, b in zip(from_block.times, spikes.times, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_array_equal(from_block.t_stop, 10.0)
    segment = read_spike_trains(block.segments[0], unit_ids=["unit3"], window=(1.0, 4.0))
    assert segment.unit_ids == ("unit3",)
    assert segment.times[0].min() >= 1.0
    one = read_spike_trains(block.segments[0].spiketrains[1])
    assert one.unit_ids == ("unit1",)
    listed = read_spike_trains(list(block.segments[0].spiketrains[:2]))
    assert listed.n_units == 2
    import neo

    block.segments.append(neo.Segment(name="second"))
    block.segments[1].spiketrains.append(block.segments[0].spiketrains[0].copy())
    with pytest.raises(ValueError, match="segment=<index>"):
        read_spike_trains(block)
    assert read_spike_trains(block, segment=1).n_units == 1
    with pytest.raises(ValueError, match="where"):
        read_spike_trains(block, where={"quality": "good"})


def test_neo_nix_file_roundtrip(tmp_path, spikes):
    import neo

    path = tmp_path / "session.nix"
    with neo.io.NixIO(str(path), mode="ow") as io:
        io.write_block(_neo_block(spikes))
    read = read_spike_trains(path)
    assert read.source == str(path)
    assert read.unit_ids == tuple(f"unit{u}" for u in spikes.unit_ids)
    for a, b in zip(read.times, spikes.times, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_array_equal(read.t_stop, 10.0)


def test_neo_reads_nwb_written_by_mock(nwb_path, spikes):
    """The NWB files we write stay readable by Neo's own NWBIO (pitfall: needs obs_intervals)."""
    import neo

    block = neo.io.NWBIO(str(nwb_path), mode="r").read_block()
    read = read_spike_trains(block)
    assert read.n_units == spikes.n_units
    for a, b in zip(read.times, spikes.times, strict=True):
        np.testing.assert_allclose(a, b)


# --------------------------------------------------------------------------- tables and arrays


def test_predecessor_csv(tmp_path):
    path = tmp_path / "stg_set.csv"
    path.write_text('ID,spiking_times\n3,"[12.5, 140.0, 260.25]"\n8,"[5.0,900.0]"\n11,[]\n')
    read = read_spike_trains(path)
    assert read.unit_ids == (3, 8, 11)
    np.testing.assert_allclose(read.times[0], [0.0125, 0.140, 0.26025])
    assert read.times[2].size == 0
    np.testing.assert_array_equal(read.t_start, 0.0)
    np.testing.assert_allclose(read.t_stop, 0.9)
    seconds = _write(tmp_path / "seconds.csv", 'ID,spiking_times\n1,"[0.01, 0.02, 0.03, 0.04]"\n')
    with pytest.warns(TimeUnitWarning, match="look like seconds"):
        read_spike_trains(seconds)
    bad = _write(tmp_path / "bad.csv", "ID,spiking_times\n1,12.5;13.0\n")
    with pytest.raises(ValueError, match="bracketed list"):
        read_spike_trains(bad)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_long_tables_csv_parquet_and_frames(tmp_path):
    frame = pd.DataFrame({"cluster_id": [2, 1, 2, 1, 1], "spike_time": [0.30, 0.50, 0.20, 0.10, 0.90], "amp": 1.0})
    frame.to_csv(tmp_path / "spikes.csv", index=False)
    frame.to_parquet(tmp_path / "spikes.parquet")
    for source in (tmp_path / "spikes.csv", tmp_path / "spikes.parquet", frame):
        read = read_spike_trains(source)
        assert read.unit_ids == (1, 2)
        np.testing.assert_array_equal(read.times[0], [0.1, 0.5, 0.9])  # sorted per unit
        np.testing.assert_array_equal(read.times[1], [0.2, 0.3])
    in_ms = pd.DataFrame({"neuron": ["a", "a", "b"], "t_ms": [100.0, 250.0, 400.0]})
    read = read_spike_trains(in_ms, time_column="t_ms", time_unit="ms")
    assert read.unit_ids == ("a", "b")
    np.testing.assert_allclose(read.times[0], [0.1, 0.25])
    with pytest.raises(ValueError, match="time_column"):
        read_spike_trains(in_ms)
    with pytest.raises(ValueError, match="Did you mean 't_ms'"):
        read_spike_trains(in_ms, time_column="t_sm")
    slow = pd.DataFrame({"unit": [0] * 5, "time": [100.0, 250.0, 420.0, 610.0, 800.0]})
    with pytest.warns(TimeUnitWarning, match="look like milliseconds"):
        read_spike_trains(slow)
    with pytest.raises(ValueError, match="no rows"):
        read_spike_trains(pd.DataFrame({"unit": [], "time": []}))


def test_arrays_and_spike_trains(spikes):
    one = read_spike_trains(np.array([0.1, 0.4, 0.8]))
    assert one.unit_ids == (0,)
    np.testing.assert_array_equal(one.t_stop, 0.8)
    several = read_spike_trains([np.array([0.1, 0.2]), [0.15]], window=(0.0, 1.0))
    np.testing.assert_array_equal(several.t_stop, 1.0)
    named = read_spike_trains({"x": [0.1], "y": [0.2, 0.3]}, unit_ids=["y"])
    assert named.unit_ids == ("y",)
    ms = read_spike_trains([np.array([100.0, 200.0, 300.0])], time_unit="ms")
    np.testing.assert_allclose(ms.times[0], [0.1, 0.2, 0.3])
    again = read_spike_trains(spikes, unit_ids=[5, 0], window=(1.0, 2.0))
    assert again.unit_ids == (5, 0)
    assert again.source == "mock"
    with pytest.raises(ValueError, match=r"not sorted.*sort=True"):
        read_spike_trains([np.array([0.3, 0.1])])
    np.testing.assert_array_equal(read_spike_trains([np.array([0.3, 0.1])], sort=True).times[0], [0.1, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        read_spike_trains([np.array([0.1, np.nan])])
    with pytest.raises(ValueError, match="No spikes"):
        read_spike_trains([np.zeros(0)])
    with pytest.raises(ValueError, match="1-D"):
        read_spike_trains(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="Unknown unit id 'z'"):
        read_spike_trains({"x": [0.1]}, unit_ids=["z"])
    with pytest.raises(ValueError, match="epoch"):
        read_spike_trains([np.array([0.1])], epoch="drug")


def test_http_streaming_falls_back_to_remfile(http_root, monkeypatch, spikes):
    server, base = http_root
    write_mock_nwb(server.root / "small.nwb", spikes)
    monkeypatch.setitem(sys.modules, "fsspec", None)  # as if fsspec were not installed
    read = read_spike_trains(f"{base}/small.nwb", unit_ids=[1])
    np.testing.assert_array_equal(read.times[0], spikes.times[1])
