"""The nwb-dicpop command line, in-process and as a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from nwb_dicpop.cli import main


def test_populate_writes_csv(tmp_path, capsys):
    out = tmp_path / "pop.csv"
    code = main(["populate", "--model", "da", "--g-s", "-4", "--g-u", "5", "--n-models", "25", "-o", str(out), "-q"])
    assert code == 0
    assert capsys.readouterr().out == ""
    frame = pd.read_csv(out)
    assert len(frame) == 25
    assert frame["dic_g_s"].sub(-4.0).abs().max() < 1e-6


def test_user_error_is_one_line_without_traceback(capsys):
    code = main(["populate", "--model", "stgg", "--g-s", "1", "--g-u", "5"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Did you mean 'stg'" in err
    assert "Traceback" not in err


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as info:
        main(["populate", "--g-s", "1"])
    assert info.value.code == 2
    assert main(["populate", "--model", "stg"]) == 2  # options that need one another: a usage error too
    assert "--dics" in capsys.readouterr().err


def test_populate_then_simulate_chain(tmp_path, capsys):
    pop = tmp_path / "pop.csv"
    spikes = tmp_path / "spikes.csv"
    assert main(["populate", "--model", "stg", "--g-s", "4", "--g-u", "5", "--n-models", "3", "-o", str(pop), "-q"]) == 0
    code = main(["simulate", str(pop), "--model", "stg", "--duration", "0.5", "--transient", "0.5", "-o", str(spikes), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["n_spikes"]) == 3
    assert min(payload["n_spikes"]) > 0
    table = pd.read_csv(spikes)
    assert set(table.columns) == {"unit", "time"}
    assert table["time"].between(0.0, 0.5).all()


def test_entry_point_runs_as_subprocess():
    exe = shutil.which("nwb-dicpop")
    command = [exe] if exe else [sys.executable, "-m", "nwb_dicpop.cli"]
    result = subprocess.run([*command, "dics", "--model", "stg", "--conductances",
                             "6600.82,125.961,4.14918,18.3416,159.678,413.833,0.321589,0.00957712", "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["rows"][0]["g_f"] == pytest.approx(-6.16, abs=0.01)


def test_show_prints_results_of_an_annotated_file(tmp_path, capsys):
    import nwb_dicpop as ndp
    from nwb_dicpop.testing import mock_dic_estimate, write_mock_nwb

    source = write_mock_nwb(tmp_path / "session.nwb", n_units=3, rng=0)
    dics = mock_dic_estimate([0, 1, 2], g_s=[-4.0, 3.0, -8.0], g_u=[5.0, 6.0, 7.0])
    pops = ndp.generate_populations("stg", dics.g_s, dics.g_u, n_models=5, unit_ids=dics.unit_ids, rng=0)
    annotated = ndp.write_results(source, dics=dics, populations=pops)
    assert main(["show", str(annotated), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [u["n_models"] for u in payload["units"]] == [5, 5, 5]
    assert payload["units"][2]["compensating_set"] == "CaS+H"
    assert main(["show", str(tmp_path / "missing.nwb")]) == 1
    assert "missing.nwb" in capsys.readouterr().err


def test_training_data_train_and_evaluate_commands(tmp_path, capsys):
    """make-training-data -> train -> evaluate-network, end to end at small scale."""
    data = tmp_path / "data"
    assert main(["make-training-data", "--model", "stg", "-o", str(data), "--n-targets", "6", "--n-per-target", "2",
                 "--duration", "1.5", "--transient", "0.1", "--chunk-size", "6", "--seed", "5", "-q"]) == 0
    assert (data / "dataset.npz").is_file()
    assert len(list((data / "simulation").glob("chunk_*.parquet"))) == 2
    stem = tmp_path / "weights" / "stg-v9"
    capsys.readouterr()
    assert main(["train", "--model", "stg", "--data", str(data), "-o", str(stem), "--epochs", "2",
                 "--batch-size", "4", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["training"]["seed"] == 1
    card = stem.with_suffix(".json")
    assert card.is_file()
    assert stem.with_suffix(".pt").is_file()
    assert main(["evaluate-network", "--model", "stg", "--data", str(data), "--weights", str(card),
                 "--record", "tiny", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["network"] == "stg-v9"
    assert report["clean"]["n_trains"] >= 1
    assert json.loads(card.read_text())["evaluation"]["tiny"]["clean"] == report["clean"]
    # the wrong model for the data is one clear error
    assert main(["train", "--model", "da", "--data", str(data), "-o", str(tmp_path / "da-v1"), "--epochs", "1"]) == 1
    assert "holds 'stg' trains" in capsys.readouterr().err


def test_populate_from_dics_reports_a_status_and_reason_per_unit(tmp_path, capsys):
    import numpy as np

    import nwb_dicpop as ndp

    table = pd.DataFrame({
        "unit_id": [7, 8, 9, 10], "g_s": [4.0, -15.0, np.nan, 5.0], "g_u": [5.0, 5.0, np.nan, 4.0],
        "g_s_std": [0.2, 0.1, np.nan, 0.1], "g_u_std": [0.1, 0.1, np.nan, 0.2],
        "status": ["ok", "ok", "silent", "odd"], "firing_class": ["spiking", "bursting", "silent", "spiking"],
        "network_class": ["spiking", "bursting", "silent", "spiking"],  # both classes, as `infer -o` writes them
    })
    dics = tmp_path / "dics.csv"
    table.to_csv(dics, index=False)
    out = tmp_path / "pops.csv"
    assert main(["populate", "--model", "stg", "--dics", str(dics), "--n-models", "4", "--set", "A,H", "--seed", "3",
                 "-o", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in rows] == ["ok", "unreachable", "silent", "no_estimate"]
    assert [r["n_models"] for r in rows] == [4, 0, 0, 0]
    assert rows[0]["reason"] == ""
    assert rows[1]["reason"].startswith("Target (g_s=-15, g_u=5) of model 'stg' cannot be reached")
    members = pd.read_csv(out)
    assert members["unit_id"].tolist() == [7] * 4
    # the same population as the library call with the same seed
    estimate = ndp.DICEstimate(unit_ids=[7], model_name="stg", threshold=ndp.get_model("stg").threshold, g_s=[4.0],
                               g_u=[5.0], g_s_std=[0.2], g_u_std=[0.1], network_class=["spiking"],
                               out_of_distribution=[False], status=["ok"])
    (population,) = ndp.generate_unit_populations(estimate, n_models=4, seed=3, compensating_set=("A", "H")).populations
    np.testing.assert_allclose(members[[f"g_{n}" for n in population.conductance_names]].to_numpy(),
                               population.conductances, rtol=1e-15)
    # a table without the needed columns is one clear error
    table.drop(columns=["g_u_std"]).to_csv(dics, index=False)
    assert main(["populate", "--model", "stg", "--dics", str(dics)]) == 1
    assert "lacks columns ['g_u_std']" in capsys.readouterr().err


# --------------------------------------------------------------------------- messages in CLI terms


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("`n_models` must be a positive integer; got 0.", "--n-models must be a positive integer; got 0."),
        ("`output_path` 'a.nwb' already exists; pass overwrite=True to replace it, or choose another `output_path`.",
         "output 'a.nwb' already exists; pass --overwrite to replace it, or choose another --output."),
        ("Choose another output path, or pass in_place=True to append to it.", "Choose another output path."),
        ("If so, pass time_unit='ms'.", "If so, pass --time-unit ms."),
        ("Leave time_unit=None.", "Leave out --time-unit."),
        ("Sort them with np.sort, or pass sort=True to read_spike_trains or as_spike_trains.",
         "Sort them in the file, or pass --sort while reading."),
        ("or pass window=(start, stop) covering them (read_spike_trains, as_spike_trains).",
         "or pass --window START STOP covering them."),
        ("generate them with unit_id=...", "generate them with --units ..."),
        ("none. Write them with write_results.", "none. Write them with nwb-dicpop run."),
        ("Pass write=False (CLI: --no-write) and use the result", "Pass --no-write and use the result"),
        ("set validate=False to skip it", "set --no-validate to skip it"),
        ("check `unit_ids`, `where`, `window` and `epoch`.", "check --units, --where, --window and --epoch."),
        ("`source` 'x.nwb' is a folder", "input 'x.nwb' is a folder"),
        ("`timeout` must be positive; unknown=True stays", "`timeout` must be positive; unknown=True stays"),
    ],
)
def test_messages_are_translated_to_the_command_line(message, expected):
    from nwb_dicpop.cli import _command_flags, build_parser, to_cli_terms

    parser = build_parser()
    run = parser.parse_args(["run", "x.nwb", "--model", "stg"]).command_parser
    flags, negatable = _command_flags(run)
    assert to_cli_terms(message, flags, negatable) == expected


def test_only_the_commands_own_flags_are_used():
    from nwb_dicpop.cli import _command_flags, build_parser, to_cli_terms

    show = build_parser().parse_args(["show", "x.nwb"]).command_parser
    flags, negatable = _command_flags(show)
    # show has no --overwrite: the Python spelling stays rather than a flag the command lacks
    assert to_cli_terms("pass overwrite=True", flags, negatable) == "pass overwrite=True"
    assert "--seed" not in flags.values()


# --------------------------------------------------------------------------- run: checks first, one message


def _ms_recording(folder):
    import nwb_dicpop as ndp
    from nwb_dicpop.testing import mock_spike_trains, write_mock_nwb

    spikes = mock_spike_trains(n_units=2, rate=8.0, duration=6.0, rng=4)
    in_ms = ndp.SpikeTrains([t * 1000.0 for t in spikes.times], spikes.unit_ids, t_start=0.0, t_stop=6000.0)
    return write_mock_nwb(folder / "session.nwb", in_ms), spikes


def test_run_in_ms_then_again_gives_one_message_before_any_work(tmp_path, capsys, monkeypatch):
    """--time-unit ms converts an NWB file written in ms; a second run stops at once, before any work."""
    import hashlib
    import time

    import nwb_dicpop as ndp

    source, spikes = _ms_recording(tmp_path)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert main(["run", str(source), "--model", "stg", "--n-models", "2", "--no-validate", "-q"]) == 1
    assert "--time-unit ms" in capsys.readouterr().err
    assert main(["run", str(source), "--model", "stg", "--n-models", "2", "--no-validate", "--time-unit", "ms",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert [r["n_spikes"] for r in rows] == spikes.n_spikes.tolist()
    assert all(r["valid_fraction"] is None for r in rows)  # not validated: null, not NaN
    output = tmp_path / "session_dicpop.nwb"
    results = ndp.read_results(output)
    assert results.provenance["settings"]["time_unit"] == "ms"
    written = hashlib.sha256(output.read_bytes()).hexdigest()

    monkeypatch.setattr(ndp, "run_pipeline", lambda *a, **k: pytest.fail("work started"))
    started = time.perf_counter()
    assert main(["run", str(source), "--model", "stg", "--n-models", "2", "--no-validate", "--time-unit", "ms"]) == 1
    assert time.perf_counter() - started < 5.0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "already exists; pass --overwrite" in err
    assert "overwrite=True" not in err
    assert "Traceback" not in err
    assert hashlib.sha256(output.read_bytes()).hexdigest() == written
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.nwb", "session_dicpop.nwb"]


def test_show_leaves_out_what_the_file_does_not_store(tmp_path, capsys):
    import nwb_dicpop as ndp
    from nwb_dicpop.testing import mock_dic_estimate, write_mock_nwb

    source = write_mock_nwb(tmp_path / "session.nwb", n_units=2, rng=0)
    annotated = ndp.write_results(source, dics=mock_dic_estimate([0, 1], rng=0))
    assert main(["show", str(annotated)]) == 0
    out = capsys.readouterr().out
    assert "n_spikes_used" not in out
    # no sentinel -1 in the table (the file's path printed above it may hold "-1")
    table = out[out.index("unit_id"):]
    assert "-1" not in table.split()
    assert main(["show", str(annotated), "--json"]) == 0
    units = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))["units"]
    assert [u["n_spikes_used"] for u in units] == [None, None]


@pytest.mark.parametrize("command", ["show x.nwb", "stats x.nwb", "infer x.nwb --model stg",
                                     "dics --model stg --conductances 1", "model-card"])
def test_seed_is_refused_where_nothing_is_random(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command.split(), "--seed", "3"])
    assert info.value.code == 2
    assert "unrecognized arguments: --seed 3" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run x.nwb --model stg", "populate --model stg", "simulate p.csv --model stg",
                                     "reachability --model stg --set A,H", "demo",
                                     "make-training-data --model stg -o d --n-targets 1",
                                     "train --model stg --data d -o w", "evaluate-network --model stg --data d"])
def test_seed_is_taken_where_something_is_random(command):
    from nwb_dicpop.cli import build_parser

    assert build_parser().parse_args([*command.split(), "--seed", "3"]).seed == 3


def test_progress_ticks_during_a_long_stage(monkeypatch):
    """On a terminal the line is redrawn every second while a stage runs (a batch being simulated),
    then the bar is full; elsewhere each step is one line."""
    import io
    import time

    from nwb_dicpop.cli import _Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = _Progress()
    progress.begin("units", label="session.nwb: 2 units")
    time.sleep(2.3)
    progress("units", 2, 2)
    progress.close()
    frames = terminal.getvalue().split("\r")[1:]
    assert len(frames) >= 3  # begin, at least two ticks, the end
    assert "0 s" in frames[0]
    assert any(" 2 s" in f for f in frames[1:-1])
    assert "[" + "#" * 30 + "] 2/2" in frames[-1]
    assert frames[-1].endswith("\n")

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    progress = _Progress()
    progress.begin("units", label="x")
    progress("units", 1, 2)
    progress("units", 2, 2)
    progress.close()
    assert "\r" not in log.getvalue()
    assert len(log.getvalue().splitlines()) == 3


def test_unexpected_errors_are_one_message_unless_traceback_is_asked(monkeypatch, capsys):
    import nwb_dicpop as ndp

    def broken(*args, **kwargs):
        raise RuntimeError("solver diverged")

    monkeypatch.setattr(ndp, "compute_dics", broken)
    argv = ["dics", "--model", "stg", "--conductances", "6600,126,4,18,160,414,0.32,0.0096"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unexpected RuntimeError: solver diverged" in err
    assert "--traceback" in err
    with pytest.raises(RuntimeError, match="solver diverged"):
        main([*argv, "--traceback"])


# --------------------------------------------------------------------------- run/infer/show: classes, g_f, yield, window


@pytest.fixture(scope="module")
def stand_in_weights(tmp_path_factory):
    from nwb_dicpop.testing.network import write_mock_weights

    return write_mock_weights(tmp_path_factory.mktemp("weights"), model="stg")


def _tonic_recording(folder):
    import numpy as np

    from nwb_dicpop.testing import write_mock_nwb

    return write_mock_nwb(folder / "session.nwb", {0: np.arange(0.05, 3.0, 0.1), 1: np.array([1.0])}, duration=3.0)


def test_run_writes_validated_populations_with_their_yield_and_says_which_window(tmp_path, capsys,
                                                                                 stand_in_weights):
    import nwb_dicpop as ndp

    source = _tonic_recording(tmp_path)
    out = tmp_path / "annotated.nwb"
    assert main(["run", str(source), "-o", str(out), "--model", "stg", "--n-models", "2", "--duration", "0.5",
                 "--transient", "0.5", "--max-rounds", "2", "--simulation-budget", "2", "--weights",
                 str(stand_in_weights), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    first = rows[0]
    assert {"firing_class", "network_class", "g_f_population", "n_simulated", "n_valid", "yield",
            "window_duration", "window_transient"} <= set(first)
    assert "g_f" not in first  # the network does not infer it: no column of NaN
    assert first["firing_class"] == "spiking"
    assert first["window_duration"] == 0.5
    assert first["n_simulated"] <= 4
    assert first["status"] in ("ok", "partial", "not_reproduced")
    assert rows[1]["status"] == "silent"
    results = ndp.read_results(out)
    assert results.provenance["settings"]["max_rounds"] == 2
    if first["n_models"]:
        stored = results.population_outcomes.set_index("unit_id")
        assert stored.loc[0, "n_simulated"] == first["n_simulated"]
        assert stored.loc[0, "yield"] == pytest.approx(first["yield"])
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "network_class" in shown
    assert "firing_class" in shown
    if first["n_models"]:
        assert "yield" in shown
        assert "g_f_population: derived from the population" in shown
    # the human-readable run says which window validated the members
    again = tmp_path / "again.nwb"
    assert main(["run", str(source), "-o", str(again), "--model", "stg", "--n-models", "2", "--max-rounds", "1",
                 "--weights", str(stand_in_weights)]) == 0
    err = capsys.readouterr().err
    assert "validation: members simulated for 2.9 s after 3 s" in err  # the recording's 2.95 s, the model's 3 s
    from nwb_dicpop import cli

    assert not hasattr(cli, "_write_annotated")  # one writing step: run_pipeline's


def test_run_budget_options_are_checked(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "x.nwb", "--model", "stg", "--simulation-budget", "0.5"])
    assert info.value.code == 2
    assert "must be a number >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "x.nwb", "--model", "stg", "--rule", "lenient"])


def test_infer_names_both_classes_and_the_population_g_f(tmp_path, capsys, stand_in_weights):
    import numpy as np

    import nwb_dicpop as ndp
    from nwb_dicpop.compensation import unit_seed

    source = _tonic_recording(tmp_path)
    table = tmp_path / "dics.csv"
    assert main(["infer", str(source), "--model", "stg", "--weights", str(stand_in_weights), "-o", str(table)]) == 0
    out = capsys.readouterr().out
    assert "g_f_population: derived from the population" in out
    frame = pd.read_csv(table)
    assert {"firing_class", "network_class", "g_f_population"} <= set(frame.columns)
    assert "g_f" not in frame.columns
    assert frame["firing_class"].tolist() == ["spiking", "silent"]
    dics = ndp.infer_dics(ndp.read_spike_trains(source), model="stg", weights=stand_in_weights)
    assert frame["network_class"].tolist() == list(dics.network_class)
    point = ndp.generate_population("stg", dics.g_s[0], dics.g_u[0], n_models=20, thresholds=False,
                                    rng=unit_seed(0, 0))
    assert frame.loc[0, "g_f_population"] == pytest.approx(point.dics[:, 0].mean(), abs=1e-3)
    assert np.isnan(frame.loc[1, "g_f_population"])
    # the table feeds populate --dics, which reads the network's class from network_class
    assert main(["populate", "--model", "stg", "--dics", str(table), "--n-models", "2", "--json"]) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)] == ["ok", "silent"]
