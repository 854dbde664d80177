"""``nwb-dicpop neuromodulation`` and ``nwb-dicpop trajectory``: tables, JSON, figures, NWB output, errors.

Fast tests analyse mock recordings without simulation (``--no-validate``, few members, few
subsets); the test marked slow runs the default, validated analysis on a simulated
neuromodulation with a known answer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.cli import main
from nwb_dicpop.testing import write_mock_nwb

FAST = ["--no-validate", "--n-models", "30", "--subsets", "A+H,CaS,H,A", "--seed", "1"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _strict_json(text: str) -> object:
    """JSON that standard parsers accept: NaN and infinities are errors."""
    def refuse(constant: str) -> object:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """Two units, 20 s: tonic in the "baseline" epoch, bursting / faster in the "drug" epoch."""
    tonic = np.arange(0.05, 10.0, 0.1)
    bursts = np.concatenate([start + np.arange(5) * 0.012 for start in np.arange(10.2, 19.8, 0.8)])
    unit3 = np.concatenate([np.arange(0.03, 10.0, 0.125), np.arange(10.03, 20.0, 0.07)])
    folder = tmp_path_factory.mktemp("neuromodulation")
    return write_mock_nwb(folder / "session.nwb", {0: np.concatenate([tonic, bursts]), 3: unit3},
                          epochs={"baseline": (0.0, 10.0), "drug": (10.0, 20.0)})


@pytest.fixture(scope="module")
def two_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("two_files")
    bursts = np.concatenate([start + np.arange(5) * 0.012 for start in np.arange(0.2, 9.8, 0.8)])
    before = write_mock_nwb(folder / "before.nwb", {0: np.arange(0.05, 10.0, 0.1), 3: np.arange(0.03, 10, 0.125)},
                            epochs={})
    after = write_mock_nwb(folder / "after.nwb", {0: bursts, 3: np.arange(0.03, 10.0, 0.07)}, epochs={})
    return before, after


@pytest.fixture(scope="module")
def annotated(recording, tmp_path_factory) -> tuple[Path, Path, str, str]:
    """One run with epochs, -o and --figures; returns (output, figures folder, stdout, input hash before)."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("annotated")
    before_hash = _sha256(recording)
    out, figures = folder / "session_neuromodulation.nwb", folder / "figures"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["neuromodulation", str(recording), "--before", "baseline", "--after", "drug", "--model", "stg",
                     "--unit", "0", *FAST, "-o", str(out), "--figures", str(figures)])
    assert code == 0
    return out, figures, stdout.getvalue(), before_hash


# --------------------------------------------------------------------------- the analysis, one recording
def test_epochs_table_output_and_input_untouched(annotated, recording):
    out, _, stdout, before_hash = annotated
    assert _sha256(recording) == before_hash  # the input is never modified
    assert "Unit 0 (model stg; before [0, 10] s, after [10, 19.97] s; DIC evidence only)" in stdout
    verdicts = ("No detectable DIC change", "Detectable DIC change", "A change is detected but cannot be attributed")
    assert any(v in stdout for v in verdicts)
    assert "log_BF_vs_no_change" in stdout
    assert "tied because" in stdout
    assert f"annotated NWB: {out}" in stdout
    stored = ndp.read_results(out).neuromodulation
    assert len(stored) == 1
    result = stored[0]
    assert result.unit_id == 0
    assert result.model_name == "stg"
    assert result.before_window == (0.0, 10.0)
    assert result.after_window[0] == 10.0
    assert set(result.ranking["subset"]) == {"A+H", "CaS", "H", "A"}
    assert result.settings["validate"] is False
    assert result.settings["n_models"] == 30
    assert result.settings["before_selection"] == "epoch 'baseline'"
    assert result.before_population.n_models == 30


def test_figures_are_written_as_png_and_svg(annotated):
    _, figures, _, _ = annotated
    names = sorted(p.name for p in figures.iterdir())
    assert names == sorted(f"unit0_{kind}.{ext}" for kind in ("ranking", "map", "conductances")
                           for ext in ("png", "svg"))
    for path in figures.iterdir():
        data = path.read_bytes()
        assert len(data) > 2000
        assert data.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in data[:2000]


def test_windows_and_json_are_strict(recording, capsys):
    code = main(["neuromodulation", str(recording), "--before", "0", "9", "--after", "11", "19", "--model", "stg",
                 "--unit", "3", *FAST, "--json"])
    assert code == 0
    captured = capsys.readouterr()
    payload = _strict_json(captured.out)
    assert payload["output"] is None
    assert payload["figures"] == []
    (analysis,) = payload["analyses"]
    assert analysis["unit_id"] == 3
    assert analysis["before_window"] == [0.0, 9.0]
    assert analysis["after_window"] == [11.0, 19.0]
    assert len(analysis["ranking"]) == 4
    assert {"subset", "rank", "cost", "feasible_fraction", "tie_reason"} <= set(analysis["ranking"][0])
    assert analysis["verdict"]
    assert analysis["reason"]
    assert isinstance(analysis["detectable"], bool)
    assert "before_population" not in analysis  # members are in the NWB output, not in the summary
    assert captured.err == ""  # --json: nothing but the JSON


def test_two_files_every_unit(two_files, capsys):
    before, after = two_files
    code = main(["neuromodulation", str(before), str(after), "--model", "stg", "--unit", "all", *FAST, "--json"])
    assert code == 0
    payload = _strict_json(capsys.readouterr().out)
    assert [a["unit_id"] for a in payload["analyses"]] == [0, 3]
    settings = payload["analyses"][0]["settings"]
    assert settings["before_source"] == str(before)
    assert settings["after_source"] == str(after)
    assert settings["before_selection"] == "the whole recording"


def test_the_only_unit_needs_no_unit_option(tmp_path, capsys):
    source = write_mock_nwb(tmp_path / "one.nwb", {5: np.concatenate([np.arange(0.05, 6, 0.1), np.arange(6, 12, 0.06)])},
                            epochs={"baseline": (0.0, 6.0), "drug": (6.0, 12.0)})
    assert main(["neuromodulation", str(source), "--before", "baseline", "--after", "drug", "--model", "stg",
                 *FAST, "-q"]) == 0
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- storage and show
def test_show_prints_the_stored_analysis(annotated, capsys):
    out, _, _, _ = annotated
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Neuromodulation analysis 1 of 1: Unit 0" in text
    assert "neuromodulation analyses below" in text
    assert main(["show", str(out), "--json"]) == 0
    payload = _strict_json(capsys.readouterr().out)
    (stored,) = payload["neuromodulation"]
    assert stored["unit_id"] == 0
    assert len(stored["ranking"]) == 4


def test_existing_output_is_refused_before_any_work(annotated, recording, capsys):
    out, _, _, _ = annotated
    stamp = out.stat().st_mtime_ns
    code = main(["neuromodulation", str(recording), "--before", "baseline", "--after", "drug", "--model", "stg",
                 "--unit", "0", *FAST, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "already exists" in err
    assert "--overwrite" in err
    assert "analysing" not in err  # refused before the analysis
    assert out.stat().st_mtime_ns == stamp


def test_adds_to_a_file_with_pipeline_results_and_overwrite_replaces(recording, tmp_path, capsys):
    from nwb_dicpop.testing import mock_dic_estimate

    annotated = ndp.write_results(recording, tmp_path / "pipeline.nwb", dics=mock_dic_estimate([0, 3], rng=0))
    out = tmp_path / "both.nwb"
    args = ["neuromodulation", str(annotated), "--before", "baseline", "--after", "drug", "--model", "stg",
            "--unit", "0", *FAST, "-o", str(out), "-q"]
    assert main(args) == 0
    results = ndp.read_results(out)
    assert results.dics is not None
    assert results.dics.unit_ids == (0, 3)
    assert len(results.neuromodulation) == 1
    # the output now holds an analysis: annotating it again needs --overwrite, which replaces the analysis only
    again = ["neuromodulation", str(out), "--before", "baseline", "--after", "drug", "--model", "stg",
             "--unit", "3", *FAST, "-o", str(tmp_path / "again.nwb")]
    assert main(again) == 1
    assert "already holds dicpop neuromodulation results" in capsys.readouterr().err
    assert main([*again, "--overwrite", "-q"]) == 0
    replaced = ndp.read_results(tmp_path / "again.nwb")
    assert [r.unit_id for r in replaced.neuromodulation] == [3]
    assert replaced.dics is not None


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("extra", "code", "fragment"),
    [
        (["--before", "baseline"], 2, "give both --before and --after"),
        (["--before", "3", "--after", "drug"], 2, "is one number"),
        (["--before", "0", "x", "--after", "drug"], 2, "takes a window T_START T_STOP"),
        (["--before", "baseline", "--after", "drug", "--unit", "4"], 1, "is not a unit of"),
        (["--before", "baseline", "--after", "drug"], 1, "choose one with --unit ID"),
        (["--before", "0", "12", "--after", "10", "19", "--unit", "0"], 1, "overlap"),
        (["--before", "baseline", "--after", "drugs", "--unit", "0"], 1, "drug"),
        (["--before", "0", "10", "--after", "10", "25", "--unit", "0"], 1, "outside the recording"),
    ],
)
def test_bad_periods_and_units(recording, capsys, extra, code, fragment):
    assert main(["neuromodulation", str(recording), "--model", "stg", *FAST, *extra]) == code
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err


def test_bad_subset_is_named_in_command_line_terms(recording, capsys):
    code = main(["neuromodulation", str(recording), "--before", "baseline", "--after", "drug", "--model", "stg",
                 "--unit", "0", "--no-validate", "--subsets", "Cas,H"])
    err = capsys.readouterr().err
    assert code == 1
    assert "--subsets" in err
    assert "Did you mean 'CaS'" in err


def test_more_than_two_inputs_and_csv_output(recording, tmp_path, capsys):
    assert main(["neuromodulation", str(recording), str(recording), str(recording), "--model", "stg"]) == 2
    assert "two files" in capsys.readouterr().err
    table = tmp_path / "spikes.csv"
    pd.DataFrame({"unit": [0] * 200, "time": np.sort(np.random.default_rng(0).uniform(0, 20, 200))}).to_csv(
        table, index=False)
    code = main(["neuromodulation", str(table), "--before", "0", "10", "--after", "10", "20", "--model", "stg",
                 *FAST, "-o", str(tmp_path / "out.nwb")])
    assert code == 1
    assert "annotated copy of the NWB input" in capsys.readouterr().err


def test_times_in_milliseconds_stop_with_the_time_unit_hint(tmp_path, capsys):
    ms = write_mock_nwb(tmp_path / "ms.nwb", {0: np.arange(50.0, 20000.0, 100.0)}, epochs={})
    code = main(["neuromodulation", str(ms), "--before", "0", "10000", "--after", "10000", "20000",
                 "--model", "stg", *FAST])
    err = capsys.readouterr().err
    assert code == 1
    assert "--time-unit ms" in err


def test_existing_figures_need_overwrite(annotated, recording, capsys):
    _, figures, _, _ = annotated
    code = main(["neuromodulation", str(recording), "--before", "baseline", "--after", "drug", "--model", "stg",
                 "--unit", "0", *FAST, "--figures", str(figures)])
    assert code == 1
    assert "figure files already exist" in capsys.readouterr().err


# --------------------------------------------------------------------------- trajectory
def test_trajectory_table_csv_and_figure(recording, tmp_path, capsys):
    out, figures = tmp_path / "trajectory.csv", tmp_path / "figures"
    code = main(["trajectory", str(recording), "--model", "stg", "--unit", "0", "--window", "4", "--step", "2",
                 "--n-models", "10", "-o", str(out), "--figures", str(figures)])
    assert code == 0
    text = capsys.readouterr().out
    assert "windows of 4 s every 2 s" in text
    table = pd.read_csv(out)
    assert len(table) == 8  # starts 0, 2, ..., 14: the recording of unit 0 is [0, 19.97] s
    assert {"t_start", "g_s", "g_u", "g_s_std", "network_class", "fraction_moved", "compensating_set"} <= set(table)
    assert "firing_class" not in table  # one meaning of firing_class: the ISI-CV rule's
    assert set(table["network_class"]) <= {"spiking", "bursting", "silent"}
    assert "network_class: the network's class" in text
    assert (table["t_stop"] - table["t_start"] == 4.0).all()
    assert sorted(p.name for p in figures.iterdir()) == ["unit0_trajectory.png", "unit0_trajectory.svg"]
    assert main(["trajectory", str(recording), "--model", "stg", "--unit", "0", "--window", "4", "--step", "2",
                 "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_trajectory_json_names_the_networks_class(recording, capsys):
    code = main(["trajectory", str(recording), "--model", "stg", "--unit", "3", "--window", "9", "--step", "9",
                 "--n-models", "5", "--json"])
    assert code == 0
    payload = _strict_json(capsys.readouterr().out)
    windows = payload["windows"]
    assert len(windows) == 2  # starts 0 and 9 s in a recording of about 20 s
    assert all(w["network_class"] in {"spiking", "bursting", "silent"} for w in windows)
    assert all("firing_class" not in w for w in windows)


def test_trajectory_errors(recording, capsys):
    assert main(["trajectory", str(recording), "--model", "stg", "--window", "4", "--step", "2"]) == 1
    assert "choose one with --unit ID" in capsys.readouterr().err
    assert main(["trajectory", str(recording), "--model", "stg", "--unit", "0", "--window", "40", "--step", "2"]) == 1
    assert "--window" in capsys.readouterr().err
    assert main(["trajectory", str(recording), "--model", "stg", "--unit", "0,3", "--window", "4", "--step", "2"]) == 2


# --------------------------------------------------------------------------- validated, on a known modulation
@pytest.mark.slow
def test_validated_analysis_of_a_simulated_modulation(tmp_path, capsys):
    """The default (--validate) on a simulated STG neuron whose A and H conductances changed (about 1 min)."""
    from nwb_dicpop.neuromodulation import generate_scenarios

    (scenario,) = generate_scenarios("stg", 1, class_changing_fraction=1.0, batch_size=8, rng=0)
    shift = scenario.duration + 1.0
    times = {0: np.concatenate([scenario.before_times, scenario.after_times + shift])}
    source = write_mock_nwb(tmp_path / "modulated.nwb", times,
                            epochs={"baseline": (0.0, scenario.duration), "drug": (shift, shift + scenario.duration)})
    out = tmp_path / "out.nwb"
    code = main(["neuromodulation", str(source), "--before", "baseline", "--after", "drug", "--model", "stg",
                 "--n-models", "60", "-o", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "with Brian2 simulations" in text
    (result,) = ndp.read_results(out).neuromodulation
    assert result.settings["validate"] is True
    assert result.ranking["n_simulated"].max() > 0
    assert np.isfinite(result.ranking["agreement"]).any()
    assert result.detectable  # a class-changing modulation (seed 0: A+H) is detected
    assert scenario.subset_name in set(result.ranking["subset"].head(5))
