"""Sphinx extension: the ``extension`` page is rendered from the ndx-dicpop YAML at build time.

The page's source is replaced by ``extensions/make_docs.py``'s rendering of
``extensions/ndx-dicpop.{namespace,extensions}.yaml``, so the site always documents the schema
of the checkout it is built from; the YAML files are recorded as dependencies of the page, so an
incremental build redraws it when they change.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ROOT / "extensions"
DOCNAME = "extension"


def _renderer() -> Any:
    spec = importlib.util.spec_from_file_location("ndx_dicpop_make_docs", EXTENSIONS / "make_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render


def _replace_source(app: Any, docname: str, source: list[str]) -> None:
    if docname != DOCNAME:
        return
    for path in sorted(EXTENSIONS.glob("*.yaml")):
        app.env.note_dependency(str(path))
    source[0] = _renderer()()


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _replace_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
