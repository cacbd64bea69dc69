"""The examples in docstrings run as written."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["riscmoe.registry", "riscmoe.classifier", "riscmoe.encoders.protocol", "riscmoe.validation",
                                    "riscmoe.archive.sqlite_archive"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
