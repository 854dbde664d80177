"""The documentation site: its sources stand alone, and (slow) it builds with warnings as errors.

CI builds the whole site, every tutorial executed (``.ci/run``); the slow test here builds it
without executing the tutorials, in a copy of ``docs/`` so that nothing is written into the
working tree, and checks that the generated references cover the command line and the schema.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
BUILD_COMMAND = "python -m sphinx -W --keep-going -b html docs docs/_build/html"
INCLUDE = re.compile(r"```\{include\} \.\./README\.md\n(.*?)```", re.DOTALL)
OPTION = re.compile(r':(start-after|end-before): "(.*)"')
TOCTREE = re.compile(r"```\{toctree\}\n(.*?)```", re.DOTALL)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _load_conf():
    spec = importlib.util.spec_from_file_location("docs_conf_under_test", DOCS / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _readme_part_in_index() -> str:
    """The part of the README that docs/index.md includes (its quickstart among it)."""
    blocks = INCLUDE.findall((DOCS / "index.md").read_text(encoding="utf-8"))
    assert len(blocks) == 1, "docs/index.md should include the README once"
    options = dict(OPTION.findall(blocks[0]))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker in options.values():
        assert readme.count(marker) == 1, f"the README should hold {marker!r} exactly once"
    start = readme.index(options["start-after"]) + len(options["start-after"])
    end = readme.index(options["end-before"])
    assert start < end
    return readme[start:end]


def test_the_site_quickstart_is_the_readme_quickstart():
    included = _readme_part_in_index()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = PYTHON_BLOCK.findall(readme)[0]
    assert "run_pipeline" in quickstart
    assert quickstart in included, "the README's quickstart is not in the part the site includes"
    assert "pip install" in included, "the site's index should show the installation"


def _toctree_entries() -> set[str]:
    entries: set[str] = set()
    for page in [*DOCS.glob("*.md"), *DOCS.glob("*.rst")]:
        for block in TOCTREE.findall(page.read_text(encoding="utf-8")):
            entries |= {line.strip() for line in block.splitlines() if line.strip() and not line.startswith(":")}
    return entries


def test_every_page_is_in_a_toctree():
    entries = _toctree_entries()
    assert "tutorials/*" in entries, "the tutorials are listed by glob, so new ones appear by themselves"
    pages = {p.stem for p in [*DOCS.glob("*.md"), *DOCS.glob("*.rst")]} - {"index"}
    assert pages - entries == set(), "pages missing from every toctree"


def test_the_build_command_is_documented_and_run_by_ci():
    for path in (ROOT / "README.md", DOCS / "building_docs.md"):
        assert BUILD_COMMAND in path.read_text(encoding="utf-8"), path.name
    assert "docs/_build/html/index.html" in (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^\s*python -m sphinx -W --keep-going .*-b html docs ", ci, re.MULTILINE)


def test_the_docs_name_no_internal_notes_or_work_items():
    sources = [*ROOT.joinpath("nwb_dicpop").rglob("*.py"), *DOCS.glob("*.md"), *DOCS.glob("*.rst"),
               *ROOT.joinpath("tutorials").glob("*.md"), ROOT / "README.md"]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "science.md" not in text, f"{path.relative_to(ROOT)} cites a file users do not have"
        assert not re.search(r"\bissues? #?\d+", text, re.IGNORECASE), f"{path.relative_to(ROOT)} names a work item"


def test_tutorials_are_mirrored_into_the_docs(tmp_path):
    conf = _load_conf()
    source, copy = tmp_path / "tutorials", tmp_path / "docs" / "tutorials"
    source.mkdir()
    copy.parent.mkdir()
    (source / "01_a.md").write_text("# A\n")
    (source / "02_b.md").write_text("# B\n")
    assert conf.sync_tutorials(source, copy) == ["01_a.md", "02_b.md"]
    stamp = (copy / "01_a.md").stat().st_mtime_ns
    (source / "02_b.md").unlink()
    (source / "03_c.md").write_text("# C\n")
    assert conf.sync_tutorials(source, copy) == ["01_a.md", "03_c.md"]
    assert sorted(p.name for p in copy.glob("*.md")) == ["01_a.md", "03_c.md"]
    assert (copy / "01_a.md").stat().st_mtime_ns == stamp, "an unchanged tutorial was rewritten"


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    """The site built from a copy of docs/ (tutorials not executed), warnings as errors."""
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["cp", "-r", str(DOCS), str(repo / "docs")], check=True)
    for stale in ("_build", "tutorials", "generated"):
        subprocess.run(["rm", "-rf", str(repo / "docs" / stale)], check=True)
    for name in ("tutorials", "extensions"):
        (repo / name).symlink_to(ROOT / name)
    (repo / "README.md").write_bytes((ROOT / "README.md").read_bytes())  # included: links resolve from its copy
    output = repo / "docs" / "_build" / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-D", "nb_execution_mode=off",
         str(repo / "docs"), str(output)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return output


@pytest.mark.slow
def test_the_site_builds_without_warnings(built_site):
    for page in ("index", "tutorials", "howto", "explanations", "reference", "api", "cli", "extension"):
        assert (built_site / f"{page}.html").is_file(), page
    tutorials = sorted(p.stem for p in (ROOT / "tutorials").glob("*.md"))
    assert tutorials
    for name in tutorials:
        assert (built_site / "tutorials" / f"{name}.html").is_file(), name


@pytest.mark.slow
def test_the_cli_reference_covers_every_command_and_option(built_site):
    from nwb_dicpop.cli import build_parser

    page = (built_site / "cli.html").read_text(encoding="utf-8")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, command in commands.items():
        assert f'id="cli-{name}"' in page, name
        for action in command._actions:
            if action.help == "==SUPPRESS==" or not action.option_strings:
                continue
            assert all(flag in page for flag in action.option_strings), (name, action.option_strings)


@pytest.mark.slow
def test_the_extension_reference_is_rendered_from_the_yaml(built_site):
    import yaml

    page = (built_site / "extension.html").read_text(encoding="utf-8")
    spec = yaml.safe_load((ROOT / "extensions" / "ndx-dicpop.extensions.yaml").read_text())
    types = [t["neurodata_type_def"] for t in [*spec.get("groups", []), *spec.get("datasets", [])]]
    assert types
    for name in types:
        assert f'id="{name.lower()}"' in page, name
