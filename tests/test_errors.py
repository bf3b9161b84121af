"""The error tree drawn in xcomlab/errors.py is the real one, and every class in it is raised right."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import xcomlab
from xcomlab import errors
from xcomlab.analysis.audit import hard_limit
from xcomlab.analysis.retention import retention
from xcomlab.errors import InsufficientDataError, ParameterError, ParameterTypeError, XcomlabError
from xcomlab.policy import RetentionPolicy
from xcomlab.schema import empty_frame
from xcomlab.widgets import BackendExplorer

#: Modules that need an optional dependency absent from the test environment.
OPTIONAL = {"xcomlab.backend.airflow": "airflow", "xcomlab.backend.airflow2": "airflow",
            "xcomlab.backend.dags.xcomlab_maintenance": "airflow"}


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


def _package_errors() -> dict[str, type]:
    for info in pkgutil.walk_packages(xcomlab.__path__, "xcomlab."):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            if info.name not in OPTIONAL or OPTIONAL[info.name] not in str(exc):
                raise
    found = {c.__name__: c for c in _all_subclasses(XcomlabError) if c.__module__.startswith("xcomlab")}
    return {"XcomlabError": XcomlabError, **found}


def _drawn() -> dict[str, str]:
    """``{class: drawn parent}`` from the tree in the errors module's docstring."""
    assert errors.__doc__ is not None
    parents: dict[int, str] = {}
    out: dict[str, str] = {}
    for line in errors.__doc__.splitlines():
        m = re.match(r"^\s*([│ ]*)(?:[├└]── )?(\w+Error)\b", line)
        if not m:
            continue
        depth = len(m.group(1)) // 4 + (1 if "──" in line else 0)
        parents[depth] = m.group(2)
        if depth:
            out[m.group(2)] = parents[depth - 1]
    return out


def test_the_drawing_lists_every_error_class_under_its_parent() -> None:
    drawn = _drawn()
    found = _package_errors()
    assert set(drawn) == set(found) - {"XcomlabError"}, (
        f"drawn but not defined: {sorted(set(drawn) - set(found))}; "
        f"defined but not drawn: {sorted(set(found) - set(drawn) - {'XcomlabError'})}")
    for name, parent in drawn.items():
        assert found[parent] in found[name].__bases__, f"{name} is drawn under {parent}"


def test_every_error_also_is_a_builtin_error() -> None:
    for name, cls in _package_errors().items():
        if cls is not XcomlabError:
            assert any(issubclass(cls, b) for b in (ValueError, TypeError, KeyError, AttributeError,
                                                     OSError, ImportError)), name


def test_argument_errors_are_xcomlab_errors_and_builtins() -> None:
    with pytest.raises(ParameterError, match="dialect='oracle'") as exc:
        hard_limit("oracle")
    assert isinstance(exc.value, ValueError)
    with pytest.raises(ParameterTypeError, match="expected the XCom frame") as texc:
        BackendExplorer([1, 2, 3])  # type: ignore[arg-type]
    assert isinstance(texc.value, TypeError)
    with pytest.raises(InsufficientDataError, match="no live xcom rows"):
        retention(empty_frame(), RetentionPolicy(max_age_days=1))
