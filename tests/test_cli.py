"""The nwb-dicpop command line, in-process and as a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from nwb_dicpop.cli import main


def test_demo_prints_both_models(capsys):
    assert main(["demo", "--n-models", "10"]) == 0
    out = capsys.readouterr().out
    assert "stg" in out
    assert "da" in out
    assert "bursting" in out


def test_demo_json_is_machine_readable(capsys):
    assert main(["demo", "--model", "stg", "--n-models", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["pattern"] for r in rows] == ["spiking", "bursting"]
    assert rows[1]["g_s (mean)"] == pytest.approx(-8.0, abs=1e-6)


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


def test_usage_error_exit_code():
    with pytest.raises(SystemExit) as info:
        main(["populate", "--model", "stg"])
    assert info.value.code == 2


def test_entry_point_runs_as_subprocess():
    exe = shutil.which("nwb-dicpop")
    command = [exe] if exe else [sys.executable, "-m", "nwb_dicpop.cli"]
    result = subprocess.run([*command, "dics", "--model", "stg", "--conductances",
                             "6600.82,125.961,4.14918,18.3416,159.678,413.833,0.321589,0.00957712", "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["rows"][0]["g_f"] == pytest.approx(-6.16, abs=0.01)
