"""Sphinx configuration of the nwb_dicpop documentation site.

Build (from the repository root, after ``pip install -e . --group docs``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The tutorials live in the top-level ``tutorials/`` folder; they are copied into ``docs/tutorials/``
(generated, git-ignored) at each build and executed by MyST-NB.  The CLI reference is generated
from the ``nwb-dicpop`` argument parser, and the NWB extension reference from the extension's
YAML, both at build time (local extensions in ``docs/_ext/``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

# one thread per numerical library, as in the tests (the tutorials run in a kernel started from here)
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
# the tutorials' kernel draws figures inline (into the pages); an inherited MPLBACKEND would stop it
os.environ.pop("MPLBACKEND", None)
# the command-line tutorial runs `nwb-dicpop`: the one installed beside the Python building the docs
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

import nwb_dicpop

project = "nwb_dicpop"
author = "nwb_dicpop developers"
copyright = "nwb_dicpop developers, MIT licence"
release = version = nwb_dicpop.__version__

# ---------------------------------------------------------------------------------------------
# Tutorials: synced from ../tutorials into a generated folder
# ---------------------------------------------------------------------------------------------

TUTORIALS_SOURCE = ROOT / "tutorials"
TUTORIALS_COPY = DOCS / "tutorials"


def sync_tutorials(source: Path = TUTORIALS_SOURCE, copy: Path = TUTORIALS_COPY) -> list[str]:
    """Mirror ``source/*.md`` into ``copy``; unchanged files keep their time stamp (cache stays valid)."""
    copy.mkdir(exist_ok=True)
    names = sorted(path.name for path in source.glob("*.md"))
    for name in names:
        text = (source / name).read_bytes()
        target = copy / name
        if not target.exists() or target.read_bytes() != text:
            target.write_bytes(text)
    for stale in copy.glob("*.md"):
        if stale.name not in names:
            stale.unlink()
    return names

# ---------------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------------

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "cli_reference",
    "extension_types",
]

exclude_patterns = ["_build", "_ext", "_templates", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
root_doc = "index"

# MyST
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# MyST-NB: execute every tutorial at build time; a failing cell fails the build
nb_execution_mode = "cache"
nb_execution_timeout = 300  # seconds per cell; the whole tutorials are meant to take under a minute
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = True  # tutorials write their files into a temporary folder
nb_merge_streams = True

# autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types and units
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"nwb_dicpop {release}"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
html_static_path: list[str] = []


def _sync_tutorials(app, config) -> None:
    sync_tutorials()


def setup(app):
    # before Sphinx looks for source files, so that the copies are read like any page
    app.connect("config-inited", _sync_tutorials)
