"""The bad-input corpus: every bad input gets one clear message, and nothing is lost.

Each case builds its inputs in a fresh folder, runs one command (in process, through
``nwb_dicpop.cli.main``) or one Python call, and checks:

* the exit code: 1 for bad input, 2 for a usage error (the Python API: the exception type);
* one message, on one line, that names the problem and the fix (given fragments), in the
  command line's own terms (no ``overwrite=True``, no ``time_unit``, no backticks);
* no ``Traceback``;
* the input files are byte for byte unchanged, and no file appeared (no partial output, no
  temporary file left behind);
* ``run`` fails before any work: the pipeline is replaced by a function that fails the test.

A few cases run ``nwb-dicpop`` as a subprocess to check, end to end, that no traceback
reaches the terminal.  The large inputs (a train of 10^6 spikes, a file of 10^4 units) are
read in a subprocess whose peak resident memory is measured with ``resource.getrusage``.
``docs/bad_inputs.md`` lists the corpus with the message each case gets.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.cli import main
from nwb_dicpop.testing import mock_dic_estimate, mock_spike_trains, write_mock_nwb

# --------------------------------------------------------------------------- inputs


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def good_nwb(folder: Path, name: str = "session.nwb") -> Path:
    return write_mock_nwb(folder / name, n_units=3, rate=10.0, duration=5.0, rng=0)


def ms_nwb(folder: Path) -> Path:
    """An NWB file whose spike times were written in milliseconds (a common mistake)."""
    spikes = mock_spike_trains(n_units=2, rate=10.0, duration=5.0, rng=1)
    in_ms = ndp.SpikeTrains([t * 1000.0 for t in spikes.times], spikes.unit_ids, t_start=0.0, t_stop=5000.0)
    return write_mock_nwb(folder / "ms.nwb", in_ms)


def unsorted_nwb(folder: Path) -> Path:
    """An NWB file whose unit 1 has two spike times swapped."""
    import h5py

    path = good_nwb(folder, "unsorted.nwb")
    with h5py.File(path, "r+") as handle:
        start = int(handle["units/spike_times_index"][0])
        times = handle["units/spike_times"]
        first, second = float(times[start + 1]), float(times[start + 2])
        times[start + 1], times[start + 2] = second, first
    return path


def silent_nwb(folder: Path) -> Path:
    silent = ndp.SpikeTrains([np.zeros(0), np.zeros(0)], [0, 1], t_start=0.0, t_stop=5.0)
    return write_mock_nwb(folder / "silent.nwb", silent)


def no_units_nwb(folder: Path) -> Path:
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.file import mock_NWBFile

    path = folder / "no_units.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(mock_NWBFile())
    return path


def empty_units_nwb(folder: Path) -> Path:
    from pynwb import NWBHDF5IO
    from pynwb.misc import Units
    from pynwb.testing.mock.file import mock_NWBFile

    nwbfile = mock_NWBFile()
    nwbfile.units = Units(name="units", description="no units were sorted")
    path = folder / "empty_units.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)
    return path


def corrupt_nwb(folder: Path) -> Path:
    """An NWB file with its metadata overwritten (the HDF5 signature kept)."""
    data = bytearray(good_nwb(folder, "good.nwb").read_bytes())
    data[8:4096] = bytes(range(256)) * 15 + bytes(range(248))
    path = folder / "corrupt.nwb"
    path.write_bytes(bytes(data))
    (folder / "good.nwb").unlink()
    return path


def truncated_nwb(folder: Path) -> Path:
    data = good_nwb(folder, "good.nwb").read_bytes()
    path = folder / "truncated.nwb"
    path.write_bytes(data[: len(data) // 3])
    (folder / "good.nwb").unlink()
    return path


def text_nwb(folder: Path) -> Path:
    path = folder / "notes.nwb"
    path.write_text("unit,time\n0,0.1\n")
    return path


def plain_hdf5_nwb(folder: Path) -> Path:
    import h5py

    path = folder / "plain.nwb"
    with h5py.File(path, "w") as handle:
        handle["data"] = np.arange(10)
    return path


def annotated_nwb(folder: Path) -> Path:
    source = good_nwb(folder, "source.nwb")
    path = ndp.write_results(source, folder / "annotated.nwb", dics=mock_dic_estimate([0, 1, 2], rng=0))
    source.unlink()
    return path


def own_column_nwb(folder: Path) -> Path:
    """An NWB file whose Units table has the user's own column named like a mirrored result."""
    return write_mock_nwb(folder / "own_column.nwb", n_units=3, rate=10.0, duration=5.0, rng=0,
                          unit_columns={"dicpop_g_s": [1.0, 2.0, 3.0]})


def _csv(name: str, text: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_text(text)
        return path

    return build


def _long_table(times: list[float]) -> str:
    return "unit,time\n" + "".join(f"0,{t!r}\n" for t in times)


INPUTS: dict[str, Callable[[Path], Path]] = {
    "nwb": good_nwb,
    "ms_nwb": ms_nwb,
    "unsorted_nwb": unsorted_nwb,
    "silent_nwb": silent_nwb,
    "no_units_nwb": no_units_nwb,
    "empty_units_nwb": empty_units_nwb,
    "corrupt_nwb": corrupt_nwb,
    "truncated_nwb": truncated_nwb,
    "text_nwb": text_nwb,
    "plain_hdf5_nwb": plain_hdf5_nwb,
    "annotated_nwb": annotated_nwb,
    "own_column_nwb": own_column_nwb,
    "empty_csv": _csv("empty.csv", "unit,time\n"),
    "nan_csv": _csv("nan.csv", _long_table([0.1, float("nan"), 0.5])),
    "inf_csv": _csv("inf.csv", _long_table([0.1, 0.5, float("inf")])),
    "negative_csv": _csv("negative.csv", _long_table([-0.5, 0.1, 0.3, 0.7])),
    "ms_csv": _csv("ms.csv", _long_table([float(t) for t in range(0, 5000, 100)])),
    "seconds_predecessor_csv": _csv(
        "predecessor.csv", 'ID,spiking_times\n0,"[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]"\n'),
    "no_time_column_csv": _csv("columns.csv", "unit,when\n0,0.1\n0,0.2\n"),
    "text_times_csv": _csv("text.csv", "unit,time\n0,0.1\n0,soon\n"),
}

# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    """One bad command line: ``argv`` with ``{name}`` placeholders for built inputs."""

    argv: str
    fragments: tuple[str, ...]
    code: int = 1
    inputs: tuple[str, ...] = ("nwb",)
    setup: str = ""
    extra: dict[str, str] = field(default_factory=dict)


CLOSED = "{closed_port}"
CASES: dict[str, Case] = {
    # --- spike trains: empty, NaN, negative, unsorted, milliseconds
    "empty-table": Case("stats {empty_csv} -q", ("has no rows", "no spike times"), inputs=("empty_csv",)),
    "silent-units": Case("stats {silent_nwb} -q", ("No spikes", "--units"), inputs=("silent_nwb",)),
    "nan-times": Case("stats {nan_csv} -q", ("NaN or infinite", "remove them"), inputs=("nan_csv",)),
    "inf-times": Case("infer {inf_csv} --model stg -q", ("NaN or infinite", "remove them"), inputs=("inf_csv",)),
    "text-times": Case("stats {text_times_csv} -q", ("numeric spike times",), inputs=("text_times_csv",)),
    "no-time-column": Case("stats {no_time_column_csv} -q", ("which column", "Rename the time column"),
                           inputs=("no_time_column_csv",)),
    "negative-times": Case("stats {negative_csv} -q", ("are negative", "--window START STOP"),
                           inputs=("negative_csv",)),
    "unsorted-nwb": Case("stats {unsorted_nwb} -q", ("not sorted", "--sort"), inputs=("unsorted_nwb",)),
    "unsorted-nwb-run": Case("run {unsorted_nwb} --model stg -q", ("not sorted", "--sort"),
                             inputs=("unsorted_nwb",)),
    "ms-table": Case("stats {ms_csv} -q", ("look like milliseconds", "--time-unit ms", "--time-unit s"),
                     inputs=("ms_csv",)),
    "ms-nwb": Case("infer {ms_nwb} --model stg -q", ("look like milliseconds", "--time-unit ms", "--time-unit s"),
                   inputs=("ms_nwb",)),
    "ms-nwb-run": Case("run {ms_nwb} --model stg -q", ("look like milliseconds", "--time-unit ms"),
                       inputs=("ms_nwb",)),
    "seconds-as-ms": Case("stats {seconds_predecessor_csv} -q", ("look like seconds", "--time-unit s"),
                          inputs=("seconds_predecessor_csv",)),
    "time-unit-choice": Case("stats {nwb} --time-unit us -q", ("--time-unit", "invalid choice"), code=2),
    # --- files: missing, directories, corrupt, truncated, not HDF5, not NWB, no Units
    "missing-file": Case("stats {folder}/sesion.nwb -q", ("does not exist", "Did you mean", "session.nwb")),
    "directory-input": Case("stats {folder} -q", ("is a directory", "one file in it")),
    "directory-input-run": Case("run {folder} --model stg -q", ("is a directory", "*.nwb")),
    "corrupt-nwb": Case("stats {corrupt_nwb} -q", ("corrupt",), inputs=("corrupt_nwb",)),
    "truncated-nwb": Case("stats {truncated_nwb} -q", ("truncated",), inputs=("truncated_nwb",)),
    "not-hdf5": Case("stats {text_nwb} -q", ("not an HDF5 file", "Check the file"), inputs=("text_nwb",)),
    "hdf5-not-nwb": Case("stats {plain_hdf5_nwb} -q", ("not an NWB file",), inputs=("plain_hdf5_nwb",)),
    "no-units-table": Case("stats {no_units_nwb} -q", ("no Units table", "Spike-sort"), inputs=("no_units_nwb",)),
    "empty-units-table": Case("stats {empty_units_nwb} -q", ("Units table with no units", "spike sorting"),
                              inputs=("empty_units_nwb",)),
    "glob-no-match": Case("run {folder}/nothing*.nwb --model stg -q", ("no input matches", "check the pattern")),
    # --- selections: unit ids, columns, epochs, windows
    "unknown-unit": Case("stats {nwb} --units 9 -q", ("Unknown unit id 9", "available ids")),
    "unknown-where-column": Case("stats {nwb} --where colour=red -q", ("Unknown Units column", "quality")),
    "where-no-match": Case("stats {nwb} --where quality=excellent -q", ("quality", "values present")),
    "where-syntax": Case("stats {nwb} --where quality -q", ("--where needs COLUMN=VALUE",), code=2),
    "unknown-epoch": Case("stats {nwb} --epoch baselin -q", ("Unknown epoch 'baselin'", "Did you mean 'baseline'")),
    "window-reversed": Case("stats {nwb} --window 5 1 -q", ("--window must be", "t_stop > t_start")),
    "window-nan": Case("stats {nwb} --window nan 1 -q", ("--window must be", "finite")),
    "window-outside": Case("stats {nwb} --window 100 200 -q", ("No spikes inside the window", "--window")),
    "window-one-value": Case("stats {nwb} --window 5 -q", ("--window", "expected 2 arguments"), code=2),
    # --- models, sizes, options
    "unknown-model": Case("infer {nwb} --model stgg -q", ("Unknown model 'stgg'", "Did you mean 'stg'")),
    "unknown-model-run": Case("run {nwb} --model hh -q", ("Unknown model 'hh'", "expected one of")),
    "n-models-zero": Case("run {nwb} --model stg --n-models 0 -q", ("--n-models", "positive integer"), code=2),
    "n-models-text": Case("run {nwb} --model stg --n-models ten -q", ("--n-models", "positive integer"), code=2),
    "uncertainty-negative": Case("run {nwb} --model stg --uncertainty-scale -1 -q", ("--uncertainty-scale", ">= 0"),
                                 code=2),
    "missing-weights": Case("run {nwb} --model stg --weights {folder}/stg-v9.json -q", ("does not exist",)),
    "populate-without-target": Case("populate --model stg -q", ("--dics", "--g-s"), code=2, inputs=()),
    "seed-on-show": Case("show {nwb} --seed 3", ("unrecognized arguments: --seed",), code=2),
    # --- remote sources and schedulers
    "url-closed-port": Case(f"stats http://127.0.0.1:{CLOSED}/session.nwb -q", ("connection was refused", "port"),
                            inputs=()),
    "url-404": Case("stats {server}/missing.nwb -q", ("HTTP 404", "check the URL"), inputs=()),
    "url-no-ranges": Case("stats {server}/no-ranges.nwb -q", ("does not serve byte ranges", "download the file"),
                          inputs=()),
    "url-not-hdf5": Case("stats {server}/text.nwb -q", ("does not start like an HDF5 file",), inputs=()),
    "url-scheme": Case("stats ftp://example.org/session.nwb -q", ("unsupported scheme 'ftp'", "http(s)://"),
                       inputs=()),
    "dandi-reference": Case("stats dandi://12/draft/x.nwb -q", ("not a DANDI asset reference", "6-digit"),
                            inputs=()),
    "scheduler-closed-port": Case(f"run {{nwb}} --model stg --scheduler tcp://127.0.0.1:{CLOSED} -q",
                                  ("connection was refused", "--scheduler local")),
    "scheduler-no-scheme": Case("run {nwb} --model stg --scheduler 127.0.0.1:8786 -q",
                                ("--scheduler", "tcp://HOST:8786")),
    "scheduler-bad-port": Case("run {nwb} --model stg --scheduler tcp://127.0.0.1:port -q",
                               ("--scheduler", "host and a port")),
    # --- outputs: existing, identical, missing folder, directory, unwritable, not NWB
    "output-exists": Case("run {nwb} --model stg -q", ("already exists", "--overwrite"), setup="existing-output"),
    "output-is-input": Case("run {nwb} --model stg -o {nwb} -q", ("is the input file", "Choose another")),
    "output-folder-missing": Case("run {nwb} --model stg -o {folder}/results/out.nwb -q",
                                  ("does not exist", "create it")),
    "output-folder-slash": Case("run {nwb} --model stg -o {folder}/results/ -q", ("does not exist", "create it")),
    "output-is-directory": Case("run {nwb} --model stg -q", ("is a directory", "choose another --output"),
                                setup="directory-output"),
    "output-unwritable": Case("run {nwb} --model stg -o {readonly}/out.nwb -q",
                              ("Cannot write", "writable location"), setup="readonly"),
    "output-input-annotated": Case("run {annotated_nwb} --model stg -o {folder}/again.nwb -q",
                                   ("already holds dicpop results", "--overwrite"), inputs=("annotated_nwb",)),
    "output-from-table": Case("run {ms_csv} --model stg --time-unit ms -q", ("not NWB", "--no-write"),
                              inputs=("ms_csv",)),
    "output-from-url": Case(f"run http://127.0.0.1:{CLOSED}/s.nwb --model stg -q", ("a URL", "--no-write"),
                            inputs=()),
    "output-with-no-write": Case("run {nwb} --model stg --no-write -o {folder}/out.nwb -q",
                                 ("--no-write", "drop one"), code=2),
    "outputs-collide": Case("run {nwb} {nwb} --model stg -o {folder} -q", ("would both be annotated",)),
    "outputs-not-folder": Case("run {nwb} {second} --model stg -o {folder}/out.nwb -q",
                               ("must be an existing folder",), setup="second-input"),
    "table-output-directory": Case("stats {nwb} -o {folder} -q", ("is a directory", "stats.csv")),
    "table-output-unwritable": Case("infer {nwb} --model stg -o {readonly}/dics.csv -q",
                                    ("Cannot write", "writable location"), setup="readonly"),
    "output-own-units-column": Case("run {own_column_nwb} --model stg -q",
                                    ("['dicpop_g_s']", "did not write", "Rename or remove"),
                                    inputs=("own_column_nwb",)),
    "show-no-results": Case("show {nwb}", ("no dicpop results", "nwb-dicpop run")),
    "show-not-nwb": Case("show {text_nwb}", ("not an HDF5/NWB file",), inputs=("text_nwb",)),
    # --- neuromodulation and trajectory (overlapping windows, windows outside the recording, unknown
    # --subsets names and too long trajectory windows are tested in tests/test_cli_neuromodulation.py)
    "neuromodulation-subset-size": Case(
        "neuromodulation {nwb} --before baseline --after drug --model stg --unit 0 --no-validate "
        "--max-subset-size 8 -q", ("--max-subset-size=8", "exceeds the 7 conductances", "pass at most 2")),
    "neuromodulation-too-few-spikes": Case(
        "neuromodulation {nwb} --before 0 0.2 --after 0.2 5 --model stg --unit 0 --no-validate -q",
        ("--before has 4 spike(s)", "at least 5", "longer window")),
    "trajectory-too-few-spikes": Case("trajectory {nwb} --model stg --unit 0 --window 0.1 --step 0.1 -q",
                                      ("No window of 0.1 s holds 5 spikes", "longer windows")),
}

# Python habits that must not reach a command-line user.
PYTHON_TERMS = re.compile(
    r"\w+=(?:True|False|None)\b|`|\btime_unit\b|\bn_models\b|\bin_place\b|\bunit_ids\b|\boutput_path\b"
    r"|write_results|read_spike_trains|as_spike_trains|np\.sort|\bsort=|Traceback"
)


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _call(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        return int(exit_.code or 0)


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if ": error:" in line]
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    return lines[0]


@pytest.fixture(scope="module")
def server():
    """A local HTTP server: 404s, a file without range support, and a non-HDF5 file with ranges."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/no-ranges.nwb":
                body = b"\x89HDF\r\n\x1a\n" + bytes(100)
                self.send_response(200)
            elif self.path == "/text.nwb":
                body = b"not hdf5"
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/1000")
            else:
                body = b"missing"
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def readonly(tmp_path):
    """A folder in which no file can be created (chmod 555; /sys when running as root)."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        probe.touch()
    except OSError:
        yield folder
    else:  # root ignores permissions: use a location no one can write to
        probe.unlink()
        if not Path("/sys").is_dir() or _creatable(Path("/sys")):
            pytest.skip("no unwritable folder available on this machine")
        yield Path("/sys")
    finally:
        folder.chmod(0o755)


def _creatable(folder: Path) -> bool:
    try:
        (folder / ".nwb-dicpop-probe").touch()
    except OSError:
        return False
    (folder / ".nwb-dicpop-probe").unlink()
    return True


def _no_work(*args, **kwargs):
    pytest.fail("the pipeline started: the error must be found before any work")


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_command_line(case_id, tmp_path, capsys, monkeypatch, request):
    case = CASES[case_id]
    folder = tmp_path / "data"
    folder.mkdir()
    names = {"folder": str(folder), "closed_port": str(_closed_port())}
    for name in case.inputs:
        names[name] = str(INPUTS[name](folder))
    if "{server}" in case.argv:
        names["server"] = request.getfixturevalue("server")
    if case.setup == "existing-output":
        (folder / "session_dicpop.nwb").write_bytes(b"an earlier result")
    elif case.setup == "directory-output":
        (folder / "session_dicpop.nwb").mkdir()
    elif case.setup == "second-input":
        names["second"] = str(good_nwb(folder, "second.nwb"))
    elif case.setup == "readonly":
        names["readonly"] = str(request.getfixturevalue("readonly"))
    monkeypatch.setattr(ndp, "run_pipeline", _no_work)
    before = _digests(tmp_path)
    capsys.readouterr()

    started = time.perf_counter()
    code = _call(case.argv.format(**names).split())
    elapsed = time.perf_counter() - started
    out, err = capsys.readouterr()

    assert code == case.code, err
    assert "Traceback" not in err
    line = _error_line(err)
    for fragment in case.fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    if case.code == 1:
        message = line.split(": error: ", 1)[1]
        assert not PYTHON_TERMS.search(message), f"Python terms in {message!r}"
    assert _digests(tmp_path) == before, "an input changed or a file was left behind"
    assert out == ""
    assert elapsed < 20.0


# --------------------------------------------------------------------------- the fixes work


def test_time_unit_ms_converts_an_nwb_file_written_in_ms(tmp_path, capsys):
    path = ms_nwb(tmp_path)
    assert main(["stats", str(path), "--time-unit", "ms", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = ndp.compute_spike_statistics(mock_spike_trains(n_units=2, rate=10.0, duration=5.0, rng=1))
    assert [r["mean_rate"] for r in rows] == pytest.approx(expected["mean_rate"].tolist(), rel=1e-9)
    assert [r["t_stop"] for r in rows] == pytest.approx([5.0, 5.0])
    # --window is in seconds, after the conversion
    assert main(["stats", str(path), "--time-unit", "ms", "--window", "0", "2.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["t_start"], r["t_stop"]) for r in rows] == [(0.0, 2.5), (0.0, 2.5)]


def test_time_unit_s_reads_ms_looking_times_as_they_are(tmp_path, capsys):
    path = ms_nwb(tmp_path)
    assert main(["stats", str(path), "--time-unit", "s", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["t_stop"] == pytest.approx(5000.0)


def test_sort_reads_unsorted_nwb_units(tmp_path, capsys):
    path = unsorted_nwb(tmp_path)
    before = _digests(tmp_path)
    assert main(["stats", str(path), "--sort", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3
    assert _digests(tmp_path) == before  # sorted in memory, the file untouched


def test_window_covering_negative_times_reads_them(tmp_path, capsys):
    path = INPUTS["negative_csv"](tmp_path)
    assert main(["stats", str(path), "--window", "-1", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_spikes"] == 4


# --------------------------------------------------------------------------- the Python API


def _check_paths(folder: Path) -> Callable[[], None]:
    before = _digests(folder)

    def check() -> None:
        assert _digests(folder) == before, "an input changed or a file was left behind"

    return check


API_CASES: dict[str, tuple[Callable[[Path], object], type[BaseException], tuple[str, ...]]] = {
    "api-empty-list": (lambda f: ndp.as_spike_trains([]), ValueError, ("is empty", "at least one")),
    "api-nan": (lambda f: ndp.as_spike_trains([np.array([0.1, np.nan])]), ValueError, ("NaN", "remove them")),
    "api-negative": (lambda f: ndp.as_spike_trains([np.array([-1.0, 0.5])]), ValueError,
                     ("negative", "window=(start, stop)")),
    "api-unsorted-array": (lambda f: ndp.as_spike_trains([np.array([0.3, 0.1])]), ValueError,
                           ("not sorted", "sort=True")),
    "api-unsorted-nwb": (lambda f: ndp.read_spike_trains(unsorted_nwb(f)), ValueError, ("not sorted", "sort=True")),
    "api-ms-nwb": (lambda f: ndp.read_spike_trains(ms_nwb(f)), ndp.TimeUnitWarning,
                   ("look like milliseconds", "time_unit='ms'")),
    "api-no-units": (lambda f: ndp.read_spike_trains(no_units_nwb(f)), ValueError, ("no Units table",)),
    "api-corrupt": (lambda f: ndp.read_spike_trains(corrupt_nwb(f)), ValueError, ("corrupt",)),
    "api-unknown-unit": (lambda f: ndp.read_spike_trains(good_nwb(f), unit_ids=[99]), ValueError,
                         ("Unknown unit id 99", "available ids")),
    "api-unknown-epoch": (lambda f: ndp.read_spike_trains(good_nwb(f), epoch="nope"), ValueError,
                          ("Unknown epoch 'nope'",)),
    "api-bad-window": (lambda f: ndp.read_spike_trains(good_nwb(f), window=(5.0, 1.0)), ValueError,
                       ("`window` must be",)),
    "api-closed-port": (lambda f: ndp.read_spike_trains(f"http://127.0.0.1:{_closed_port()}/x.nwb", timeout=5.0),
                        ConnectionError, ("connection was refused",)),
    "api-scheduler": (lambda f: _check_scheduler(f"tcp://127.0.0.1:{_closed_port()}"), ConnectionError,
                      ("connection was refused", "scheduler='local'")),
    "api-unknown-model": (lambda f: ndp.generate_population("stgg", -4.0, 5.0, n_models=2), ValueError,
                          ("Unknown model 'stgg'", "Did you mean 'stg'")),
    "api-n-models": (lambda f: ndp.run_pipeline(good_nwb(f), model="stg", n_models=0), ValueError,
                     ("`n_models`", "positive integer")),
    "api-output-exists": (lambda f: _write_twice(f), FileExistsError, ("already exists", "overwrite=True")),
    "api-output-is-input": (lambda f: ndp.write_results(good_nwb(f), f / "session.nwb", dics=_dics()),
                            ValueError, ("is the input file", "in_place=True")),
    "api-output-directory": (lambda f: _check_output(good_nwb(f), f), IsADirectoryError, ("is a directory",)),
    "api-already-annotated": (lambda f: ndp.write_results(annotated_nwb(f), f / "again.nwb", dics=_dics()),
                              ValueError, ("already holds dicpop results", "overwrite=True")),
    "api-own-units-column": (lambda f: ndp.write_results(own_column_nwb(f), f / "out.nwb", dics=_dics(),
                                                         overwrite=True),
                             ValueError, ("['dicpop_g_s']", "did not write", "Rename or remove")),
}


def _dics():
    return mock_dic_estimate([0, 1, 2], rng=0)


def _write_twice(folder: Path) -> None:
    source = good_nwb(folder)
    (folder / "session_dicpop.nwb").write_bytes(b"an earlier result")
    ndp.write_results(source, dics=_dics())


def _check_output(source: Path, output: Path) -> None:
    from nwb_dicpop.nwb import check_output_path

    check_output_path(source, output)


def _check_scheduler(address: str) -> None:
    from nwb_dicpop.distributed import check_scheduler

    check_scheduler(address)


@pytest.mark.parametrize("case_id", list(API_CASES))
def test_bad_python_call(case_id, tmp_path):
    build, error, fragments = API_CASES[case_id]
    folder = tmp_path / "data"
    folder.mkdir()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ndp.TimeUnitWarning)
        with pytest.raises(error) as info:
            build(folder)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "within" not in message or "timed out" in message or "no answer" in message
    assert not any(".tmp" in p.name for p in folder.iterdir())
    assert time.perf_counter() - started < 20.0


def test_failed_write_names_the_destination_and_leaves_nothing(tmp_path, readonly):
    source = good_nwb(tmp_path)
    check = _check_paths(tmp_path)
    with pytest.raises(OSError, match="Cannot write") as info:
        ndp.write_results(source, readonly / "out.nwb", dics=_dics())
    assert str(readonly / "out.nwb") in str(info.value)
    assert ".tmp" not in str(info.value)
    check()


# --------------------------------------------------------------------------- end to end, subprocesses


def _cli() -> list[str]:
    exe = shutil.which("nwb-dicpop") or str(Path(sys.executable).parent / "nwb-dicpop")
    return [exe] if Path(exe).exists() else [sys.executable, "-m", "nwb_dicpop.cli"]


@pytest.mark.parametrize("case_id", ["url-closed-port", "scheduler-closed-port", "output-unwritable", "ms-table"])
def test_no_traceback_end_to_end(case_id, tmp_path, request):
    case = CASES[case_id]
    folder = tmp_path / "data"
    folder.mkdir()
    names = {"folder": str(folder), "closed_port": str(_closed_port())}
    for name in case.inputs:
        names[name] = str(INPUTS[name](folder))
    if case.setup == "readonly":
        names["readonly"] = str(request.getfixturevalue("readonly"))
    before = _digests(tmp_path)
    started = time.perf_counter()
    done = subprocess.run([*_cli(), *case.argv.format(**names).split()], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    elapsed = time.perf_counter() - started
    assert done.returncode == case.code, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line
    for fragment in case.fragments:
        assert fragment in done.stderr
    assert _digests(tmp_path) == before
    assert elapsed < 30.0  # no 20 s or 30 s connection timeout


# --------------------------------------------------------------------------- large inputs

MEASURE = """
import json, resource, sys
from nwb_dicpop.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _measured(argv: list[str]) -> tuple[int, float, float, str]:
    """Exit code, peak RSS (MiB) and wall time of ``nwb-dicpop argv`` in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    elapsed = time.perf_counter() - started
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], result["peak_mib"], elapsed, done.stderr


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A train of 10^6 spikes (one NaN at its end), a file of 10^4 units (the last unsorted), a small file."""
    import h5py

    folder = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.exponential(0.01, 10**6))
    train = write_mock_nwb(folder / "train.nwb", ndp.SpikeTrains([times], [0], t_start=0.0, t_stop=float(times[-1])))
    with h5py.File(train, "r+") as handle:
        handle["units/spike_times"][-1] = np.nan
    valid = folder / "train_ok.nwb"
    shutil.copyfile(train, valid)
    with h5py.File(valid, "r+") as handle:
        handle["units/spike_times"][-1] = times[-1]
    many = write_mock_nwb(folder / "many.nwb", mock_spike_trains(n_units=10**4, rate=2.0, duration=10.0, rng=0))
    with h5py.File(many, "r+") as handle:
        values = handle["units/spike_times"]
        last = values[-2:]
        values[-2:] = last[::-1]
    small = good_nwb(folder, "small.nwb")
    return {"train": train, "train_ok": valid, "many": many, "small": small, "folder": folder}


@pytest.fixture(scope="module")
def baseline(large):
    """Peak memory (MiB) of ``nwb-dicpop stats`` on a small file: the imports and the statistics."""
    code, peak, _, err = _measured(["stats", str(large["small"]), "-q"])
    assert code == 0, err
    return peak


def test_large_inputs_fail_fast_in_bounded_memory(large, baseline):
    """The NaN at the end of a 10^6-spike train and the last of 10^4 units unsorted: one message each,
    in a few seconds, with memory of the order of the data (8 MB of spike times), not of copies per unit."""
    before = _digests(large["folder"])
    code, peak, elapsed, err = _measured(["stats", str(large["train"]), "-q"])
    assert code == 1
    assert "NaN or infinite" in err
    assert peak - baseline < 150, f"{peak:.0f} MiB against {baseline:.0f} MiB for a small file"
    assert elapsed < 20.0
    code, peak, elapsed, err = _measured(["infer", str(large["many"]), "--model", "stg", "-q"])
    assert code == 1
    assert "unit 9999" in err
    assert "--sort" in err
    assert peak - baseline < 150
    assert elapsed < 20.0
    assert _digests(large["folder"]) == before


def test_large_inputs_read_in_bounded_memory(large, baseline):
    """Two units of the 10^4-unit file read only their own spikes; a train of 10^6 spikes is
    summarised within the same memory bound."""
    code, peak, elapsed, err = _measured(["stats", str(large["many"]), "--units", "5,9000", "-q"])
    assert code == 0, err
    assert peak - baseline < 50
    assert elapsed < 20.0
    code, peak, elapsed, err = _measured(["stats", str(large["train_ok"]), "-q"])
    assert code == 0, err
    assert peak - baseline < 150
    assert elapsed < 20.0


# --------------------------------------------------------------------------- the corpus is documented


def test_the_corpus_is_listed_in_the_docs():
    text = (Path(__file__).parents[1] / "docs" / "bad_inputs.md").read_text(encoding="utf-8")
    assert len(CASES) + len(API_CASES) >= 40
    missing = [case for case in [*CASES, *API_CASES] if f"`{case}`" not in text]
    assert not missing, f"docs/bad_inputs.md does not list {missing}"
