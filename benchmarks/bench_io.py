"""Benchmark: reading spike trains from NWB and writing results, against the obvious baselines.

* local read of a large Units table: one bulk read of the flat ``spike_times`` and its index
  (what ``read_spike_trains`` does) vs. a loop of ``units.get_unit_spike_times(i)``, for the
  raw arrays and end to end (``SpikeTrains`` built, with the container's checks);
* HTTP streaming of two units from a loopback range server: bytes transferred vs. file size;
* ``write_results`` (columnar tables, copy + append) vs. building the member table with
  ``add_row`` in a loop, for the same populations.

Every figure is measured in the same run; the printed ratios compare like with like.

Run:  python benchmarks/bench_io.py [--n-units 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import http.server
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import nwb_dicpop as ndp
from nwb_dicpop.testing import mock_dic_estimate, mock_spike_trains, write_mock_nwb


def best_of(func: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call), in seconds."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def per_unit_read(path: Path) -> list[np.ndarray]:
    """Baseline: one ``get_unit_spike_times`` call per unit."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(path, "r") as io:
        units = io.read().units
        return [np.asarray(units.get_unit_spike_times(i)) for i in range(len(units))]


def bulk_read(path: Path) -> list[np.ndarray]:
    """What read_spike_trains does for the data: one read of the flat array and of its index."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(path, "r") as io:
        units = io.read().units
        ends = np.asarray(units["spike_times"].data[:])
        flat = np.asarray(units["spike_times"].target.data[:])
        return np.split(flat, ends[:-1])


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        size = self.server.path.stat().st_size  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        data = self.server.path.read_bytes()  # type: ignore[attr-defined]
        first, last = self.headers["Range"].removeprefix("bytes=").split("-")
        start, stop = int(first), min(int(last) + 1, len(data))
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        self.wfile.write(data[start:stop])
        self.server.sent += stop - start  # type: ignore[attr-defined]


def loop_member_table(populations: list[ndp.Population]) -> None:
    """Baseline: the member table built row by row with ``add_row``."""
    from hdmf.common import DynamicTable

    table = DynamicTable(name="members", description="baseline")
    names = populations[0].conductance_names
    for name in names:
        table.add_column(name=f"g_{name}", description=name)
    for name in ("dic_g_s", "dic_g_u", "threshold", "residual"):
        table.add_column(name=name, description=name)
    for population in populations:
        for k in range(population.n_models):
            table.add_row(
                **{f"g_{n}": population.conductances[k, j] for j, n in enumerate(names)},
                dic_g_s=population.dics[k, 1],
                dic_g_u=population.dics[k, 2],
                threshold=population.threshold[k],
                residual=population.residual[k],
            )


def main() -> None:
    """Run the three comparisons and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-units", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spikes = mock_spike_trains(n_units=args.n_units, rate=20.0, duration=100.0, rng=0)
        path = write_mock_nwb(folder / "big.nwb", spikes, epochs={})
        size_mb = path.stat().st_size / 1e6
        print(f"file: {args.n_units} units, {int(spikes.n_spikes.sum())} spikes, {size_mb:.1f} MB")

        raw_bulk = best_of(lambda: bulk_read(path), args.repeats)
        raw_loop = best_of(lambda: per_unit_read(path), args.repeats)
        print(f"spike arrays of all units: bulk (flat data + index) {raw_bulk:.3f} s, per-unit "
              f"get_unit_spike_times loop {raw_loop:.3f} s, ratio {raw_loop / raw_bulk:.1f}x")
        full = best_of(lambda: ndp.read_spike_trains(path), args.repeats)
        baseline = best_of(
            lambda: ndp.SpikeTrains(per_unit_read(path), t_start=0.0, t_stop=100.0), args.repeats
        )
        print(f"SpikeTrains of all units: read_spike_trains {full:.3f} s (checks, windows, container), "
              f"loop + SpikeTrains {baseline:.3f} s, ratio {baseline / full:.1f}x")

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
        server.path, server.sent = path, 0  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/big.nwb"
        start = time.perf_counter()
        remote = ndp.read_spike_trains(url, unit_ids=[1, args.n_units - 2])
        elapsed = time.perf_counter() - start
        server.shutdown()
        server.server_close()
        sent = server.sent  # type: ignore[attr-defined]
        print(f"stream 2 units over HTTP: {elapsed:.3f} s, {sent / 1e6:.2f} MB of {size_mb:.1f} MB "
              f"transferred ({100 * sent / path.stat().st_size:.1f} %), {int(remote.n_spikes.sum())} spikes")

        n_pops = 50
        dics = mock_dic_estimate(list(range(n_pops)), rng=0)
        populations = ndp.generate_populations("stg", dics.g_s, dics.g_u, n_models=40, unit_ids=dics.unit_ids, rng=0)
        small = write_mock_nwb(folder / "small.nwb", mock_spike_trains(n_units=n_pops, rate=5.0, rng=0))

        def write() -> None:
            ndp.write_results(small, folder / "out.nwb", dics=dics, populations=populations, overwrite=True)

        columnar = best_of(write, args.repeats)
        rows = best_of(lambda: loop_member_table(populations), args.repeats)
        print(f"write {n_pops} populations x 40 members: write_results (whole file) {columnar:.3f} s; "
              f"building only the member table with add_row {rows:.3f} s, ratio {rows / columnar:.1f}x")


if __name__ == "__main__":
    main()
