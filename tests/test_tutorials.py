"""Every tutorial runs from top to bottom (code cells executed in order, in a subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).parents[1] / "tutorials").glob("*.md"))
CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.DOTALL)
# quick tutorials run in the default test run; the others are marked slow
FAST = {"01_dics_and_populations.md", "02_reading_nwb_and_annotating.md"}


def tutorial_code(path: Path) -> str:
    """The code cells of a MyST notebook, concatenated."""
    return "\n\n".join(CELL.findall(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.name, marks=() if p.name in FAST else pytest.mark.slow) for p in TUTORIALS],
)
def test_tutorial_runs(path, tmp_path):
    code = tutorial_code(path)
    assert code.strip(), f"{path.name} has no code cells"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**__import__("os").environ, "MPLBACKEND": "Agg"}, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
