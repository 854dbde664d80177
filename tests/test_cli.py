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
    assert main(["populate", "--model", "stg"]) == 1
    assert "--dics" in capsys.readouterr().err


def test_populate_then_simulate_chain(tmp_path, capsys):
    pop = tmp_path / "pop.csv"
    spikes = tmp_path / "spikes.csv"
    assert main(["populate", "--model", "stg", "--g-s", "4", "--g-u", "5", "--n-models", "3", "-o", str(pop), "-q"]) == 0
    code = main(["simulate", str(pop), "--model", "stg", "--duration", "1.0", "--transient", "0.5", "-o", str(spikes), "--json"])
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
                 "--duration", "1.6", "--transient", "0.1", "--chunk-size", "6", "--seed", "5", "-q"]) == 0
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
