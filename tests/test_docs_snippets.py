"""Every Python snippet of the README and of docs/ runs as written.

The snippets of one file run in order, in one fresh interpreter, in a folder that holds
``session.nwb``: a mock NWB file whose units are simulated STG neurons (the file the README's
examples open).  Tutorials are executed by ``test_tutorials.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SNIPPET = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WITH_SNIPPETS = [p for p in DOCUMENTS if SNIPPET.search(p.read_text(encoding="utf-8"))]

SESSION = """
import nwb_dicpop as ndp
from nwb_dicpop.testing import write_mock_nwb

population = ndp.generate_population("stg", 4.0, 5.0, n_models=2, rng=1)
simulated = ndp.simulate_population(population, duration=3.0, transient=3.0)
write_mock_nwb("session.nwb", list(simulated.spike_times), quality=["good", "mua"])
"""


def snippets(path: Path) -> str:
    """The ```python blocks of a Markdown file, concatenated in order."""
    return "\n\n".join(SNIPPET.findall(path.read_text(encoding="utf-8")))


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    # docs/extension.md imports the reader package ndx_dicpop, as `pip install ./extensions` installs it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "extensions" / "src" / "pynwb"),
                                                      env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=900, env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def session_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("session")
    made = _run(SESSION, folder)
    assert made.returncode == 0, made.stderr[-3000:]
    return folder


def test_the_readme_has_python_snippets():
    assert ROOT / "README.md" in WITH_SNIPPETS


@pytest.mark.parametrize("path", WITH_SNIPPETS, ids=[p.relative_to(ROOT).as_posix() for p in WITH_SNIPPETS])
def test_snippets_run_as_written(path, session_folder, tmp_path):
    for item in session_folder.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    before = (tmp_path / "session.nwb").read_bytes()
    result = _run(snippets(path), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Brian 2 encountered an unexpected error" not in result.stderr
    assert (tmp_path / "session.nwb").read_bytes() == before, "a snippet modified its input file"
