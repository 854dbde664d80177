"""The GUI's parts without a browser: the command, host rules, worker jobs, work and figures.

The page itself is driven in a real browser by ``tests/test_gui_browser.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop import plotting
from nwb_dicpop.gui import common, figures, work
from nwb_dicpop.gui.jobs import Job, plain_error


def _sleepy(*, seconds: float, progress) -> str:
    for k in range(int(seconds * 10)):
        progress("sleeping", k, int(seconds * 10))
        time.sleep(0.1)
    return "woke up"


def _failing(*, progress) -> None:
    progress("reading", 0, 1)
    msg = "`source` 'x.nwb' does not exist; check the path."
    raise FileNotFoundError(msg)


def _buggy(*, progress) -> float:
    return 1 / 0


def _crashing(*, progress) -> None:
    import os

    os._exit(3)


def test_import_nwb_dicpop_does_not_import_the_gui():
    code = "import sys, nwb_dicpop, nwb_dicpop.gui; print('nicegui' in sys.modules, 'nwb_dicpop.gui.app' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(("argv", "message"), [
    (["gui", "--host", "0.0.0.0", "--no-browser"], "--allow-remote"),
    (["gui", "--host", "192.168.1.20", "--no-browser"], "not a loopback address"),
    (["gui", "--port", "70000", "--no-browser"], "from 1 to 65535"),
    (["gui", "--max-upload-mb", "0", "--no-browser"], "positive number of megabytes"),
])
def test_the_gui_command_refuses_unsafe_or_bad_settings_before_serving(argv, message):
    pytest.importorskip("nicegui")
    result = subprocess.run([sys.executable, "-m", "nwb_dicpop.cli", *argv], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_host_accepts_loopback_and_warns_only_with_the_flag():
    pytest.importorskip("nicegui")
    from nwb_dicpop.gui.app import check_host

    assert check_host("127.0.0.1", allow_remote=False)
    assert check_host("localhost", allow_remote=False)
    assert check_host("::1", allow_remote=False)
    assert check_host("0.0.0.0", allow_remote=True) is False
    with pytest.raises(ValueError, match=r"0\.0\.0\.0"):
        check_host("0.0.0.0", allow_remote=False)


def test_a_job_reports_progress_and_its_result():
    job = Job(_sleepy, {"seconds": 1.0}, label="sleep")
    assert job.wait(60)
    assert job.state == "done"
    assert job.result == "woke up"
    assert job.stage == "sleeping"
    assert job.n_total == 10


def test_a_job_can_be_cancelled_and_its_process_ends():
    job = Job(_sleepy, {"seconds": 60.0}, label="sleep")
    deadline = time.monotonic() + 30
    while job.n_done < 2 and time.monotonic() < deadline:
        job.poll()
        time.sleep(0.1)
    job.cancel()
    assert job.state == "cancelled"
    assert not job._process.is_alive()


@pytest.mark.parametrize(("function", "expected"), [
    (_failing, "`source` 'x.nwb' does not exist; check the path."),
    (_buggy, "Unexpected ZeroDivisionError"),
    (_crashing, "stopped unexpectedly (worker exit code 3)"),
])
def test_a_failing_job_gives_a_message_in_words(function, expected):
    job = Job(function, {}, label="fail")
    assert job.wait(60)
    assert job.state == "failed"
    assert expected in job.error


def test_plain_error_keeps_the_package_messages():
    assert plain_error(ValueError("`n_models` must be >= 1; got 0.")) == "`n_models` must be >= 1; got 0."
    assert "may be a bug" in plain_error(ZeroDivisionError("division by zero"))


def test_open_recording_reads_a_table_and_computes_statistics(tmp_path):
    table = tmp_path / "units.csv"
    table.write_text("unit_id,spike_time\n" + "".join(f"{u},{0.1 * k + 0.01 * u:.3f}\n" for u in (3, 4)
                                                       for k in range(30)))
    recording = work.open_recording(str(table), unit_ids=[4])
    assert recording.spikes.unit_ids == (4,)
    assert list(recording.statistics["unit_id"]) == [4]
    assert recording.statistics["firing_class"].iloc[0] == "spiking"
    assert not recording.local_nwb
    with pytest.raises(ValueError, match="9"):
        work.open_recording(str(table), unit_ids=[9])


def test_infer_units_reports_progress_per_unit_and_matches_the_pipeline():
    spikes = ndp.SpikeTrains([np.arange(0.0, 3.0, 0.08), np.arange(0.0, 3.0, 0.05)], [1, 2], t_start=0.0,
                             t_stop=3.0)
    seen = []
    outcome = work.infer_units(spikes, model="stg", n_models=5, validate=False, seed=3,
                               progress=lambda *a: seen.append(a))
    assert seen[-1] == ("populations", 2, 2)
    assert list(outcome.summary["unit_id"]) == [1, 2]
    together = ndp.run_pipeline(spikes, model="stg", n_models=5, validate=False, write=False, seed=3)
    for population in together.populations:
        np.testing.assert_allclose(outcome.populations[population.unit_id].conductances, population.conductances,
                                   rtol=1e-5)


def test_every_figure_renders_to_png_and_svg():
    spikes = ndp.SpikeTrains([np.arange(0.0, 3.0, 0.08), np.arange(0.0, 3.0, 0.05)], [1, 2], t_start=0.0,
                             t_stop=3.0)
    estimate = ndp.infer_dics(spikes, model="stg")
    population = ndp.generate_population("stg", 4.0, 5.0, n_models=20, thresholds=False, rng=0)
    drawn = [
        figures.render("raster", "r", plotting.plot_raster, spikes, reference=np.arange(0.0, 3.0, 0.1)),
        figures.render("isi", "i", plotting.plot_isi_histogram, spikes.times[0]),
        figures.render("dics", "d", plotting.plot_dic_estimates, estimate, unit=2, n_samples=50),
        figures.render("pop", "p", plotting.plot_population_distributions, population),
        figures.render("scatter", "s", plotting.plot_population_scatter, population, "A", "H", highlight=[0, 1]),
    ]
    for figure in drawn:
        assert figure.png.startswith(b"\x89PNG")
        assert b"<svg" in figure.svg[:500]
    with pytest.raises(ValueError, match="'X' is not a conductance"):
        plotting.plot_population_scatter(population, "X", "H")
    with pytest.raises(ValueError, match="not among the estimate's units"):
        plotting.plot_dic_estimates(estimate, unit=7)


def test_the_package_has_the_gui_extra_and_its_test_dependencies():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    gui = project["project"]["optional-dependencies"]["gui"]
    assert any(d.startswith("nicegui") for d in gui)
    test_group = project["dependency-groups"]["test"]
    assert any(str(d).startswith("selenium") for d in test_group)
    assert any(str(d).startswith("nicegui") for d in test_group)


@pytest.mark.slow
def test_the_demo_recording_has_two_epochs_and_modulated_units(tmp_path):
    path = work.make_demo(tmp_path)
    spikes = ndp.read_spike_trains(path)
    n_steady = len(ndp.get_model("stg").evaluation.demo_targets)
    assert spikes.n_units == n_steady + work.DEMO_SCENARIOS
    before = ndp.read_spike_trains(path, epoch="before")
    after = ndp.read_spike_trains(path, epoch="after")
    assert float(before.t_stop[0]) == pytest.approx(float(after.t_start[0]))
    assert all(n > 0 for n in before.n_spikes)
    assert all(n > 0 for n in after.n_spikes)
    # the modulated units change firing class between the epochs: a change the analysis can detect
    modulated = list(spikes.unit_ids[-work.DEMO_SCENARIOS:])
    classes_before = ndp.compute_spike_statistics(before.select(modulated))["firing_class"]
    classes_after = ndp.compute_spike_statistics(after.select(modulated))["firing_class"]
    assert (classes_before.to_numpy() != classes_after.to_numpy()).all()
    assert work.make_demo(tmp_path) == path  # made once, then reused


# --------------------------------------------------------------------------- what the panels share
def test_tables_show_readable_headers_with_units_and_json_cells():
    import pandas as pd

    frame = pd.DataFrame({"unit_id": [1, 2], "mean_rate": [12.3456789, float("nan")], "g_Na": [100.0, 200.0],
                          "valid": [True, False], "rank": pd.array([1, None], dtype="Int64"), "odd_name": ["a", "b"]})
    rows, spec = common.table_rows(frame, ["unit_id", "mean_rate", "g_Na", "valid", "rank", "odd_name", "missing"])
    labels = {c["name"]: c["label"] for c in spec}
    assert labels == {"unit_id": "unit", "mean_rate": "mean rate (Hz)", "g_Na": "g_Na (mS/cm^2)",
                      "valid": "fires like the unit", "rank": "rank", "odd_name": "odd name"}
    assert rows[0] == {"_row": 0, "unit_id": 1, "mean_rate": 12.35, "g_Na": 100.0, "valid": "yes", "rank": 1,
                       "odd_name": "a"}
    assert rows[1]["mean_rate"] is None
    assert rows[1]["rank"] is None
    assert rows[1]["valid"] == "no"


def test_typed_fields_are_read_or_refused_in_words():
    assert common.parse_ids("", [1, 2]) is None
    assert common.parse_ids("2; 1", [1, 2]) == [2, 1]
    with pytest.raises(ValueError, match="Unit '7' is not in the recording; its units are 1, 2"):
        common.parse_ids("7", [1, 2])
    assert common.parse_window("", None, "window") is None
    assert common.parse_window("0", "2.5", "window") == (0.0, 2.5)
    with pytest.raises(ValueError, match="before window must start before it stops; got 3 s to 1 s"):
        common.parse_window("3", "1", "before window")
    with pytest.raises(ValueError, match="needs a start and a stop time in seconds"):
        common.parse_window("a", "1", "window")
    assert common.whole_number(5.0, "Population size") == 5
    with pytest.raises(ValueError, match="Population size must be a whole number >= 1; got 0"):
        common.whole_number(0, "Population size")
    with pytest.raises(ValueError, match=r"Seed must be a whole number >= 0; got 1\.5"):
        common.whole_number(1.5, "Seed", 0)


def test_the_panels_helpers_describe_selections_members_and_verdicts():
    pytest.importorskip("nicegui")
    from types import SimpleNamespace

    from nwb_dicpop.gui.panels.data import describe_selection
    from nwb_dicpop.gui.panels.neuromodulation import ranking_view, verdict
    from nwb_dicpop.gui.panels.population import parse_members

    recording = SimpleNamespace(selection={"unit_ids": [0, 2], "window": (1.0, 2.5), "epoch": None})
    assert describe_selection(recording) == "units 0, 2; window (s) 1 to 2.5"
    assert describe_selection(SimpleNamespace(selection={"unit_ids": None})) == "whole recording"
    assert parse_members("0, 1;2") == [0, 1, 2]
    with pytest.raises(ValueError, match="numbers separated by commas; got 'a, 1'"):
        parse_members("a, 1")

    tie = SimpleNamespace(detectable=True, change_detected=True, top=("A", "CaS"), settings={"validate": True})
    one = SimpleNamespace(detectable=True, change_detected=True, top=("H",), settings={"validate": False})
    crowd = SimpleNamespace(detectable=False, change_detected=True, top=(), settings={"validate": True})
    none = SimpleNamespace(detectable=False, change_detected=False, top=(), settings={"validate": False})
    assert verdict(one) == "Most plausible change: H."
    assert verdict(tie) == "2 subsets explain the change equally well (a tie): A and CaS."
    three = SimpleNamespace(detectable=True, change_detected=True, top=("CaS", "A", "CaT"), settings={})
    assert verdict(three).endswith("(a tie): CaS, A and CaT.")
    assert "too many subsets" in verdict(crowd)
    assert verdict(none).startswith("No detectable change")
    columns, title = ranking_view(tie)
    assert "rank" in columns
    assert "reproduced_fraction" in columns
    assert "rank 1 is the answer" in title
    columns, title = ranking_view(one)
    assert "rank" in columns
    assert "reproduced_fraction" not in columns
    columns, title = ranking_view(none)
    assert "rank" not in columns  # no subset has a rank: the title says so instead of an empty column
    assert title.startswith("No rank: the change is not detectable")


def test_exports_hold_every_member_and_every_figure():
    import io
    import zipfile

    import pandas as pd

    from nwb_dicpop.gui.panels.export import figures_zip, populations_csv

    populations = {3: ndp.generate_population("stg", 4.0, 5.0, n_models=4, thresholds=False, rng=0),
                   7: ndp.generate_population("stg", -2.0, 6.0, n_models=3, thresholds=False, rng=1)}
    outcome = work.InferenceOutcome(dics=None, summary=None, populations=populations, validations={}, settings={})
    table = pd.read_csv(io.BytesIO(populations_csv(outcome)))
    assert list(table.columns[:3]) == ["unit_id", "member", "g_Na"]
    assert table.groupby("unit_id")["member"].max().to_dict() == {3: 3, 7: 2}
    drawn = {"isi": figures.Figure("isi", "i", b"png-bytes", b"<svg/>")}
    with zipfile.ZipFile(io.BytesIO(figures_zip(drawn))) as archive:
        assert sorted(archive.namelist()) == ["isi.png", "isi.svg"]
        assert archive.read("isi.png") == b"png-bytes"
