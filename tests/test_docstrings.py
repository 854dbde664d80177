"""The Examples sections of public docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "nwb_dicpop.dics",
    "nwb_dicpop.compensation",
    "nwb_dicpop.containers",
    "nwb_dicpop.models",
    "nwb_dicpop.io",
    "nwb_dicpop.testing",
    "nwb_dicpop.testing.mock",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
