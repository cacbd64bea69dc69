"""The runnable examples in the functions modules' docstrings still run as written."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["values", "tasks", "sandbox", "library", "meta", "synthesis", "controller", "llm", "router"])
def test_docstring_examples(module):
    mod = importlib.import_module(f"riscmoe.functions.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
