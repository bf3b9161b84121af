"""The public namespace is curated: ``__all__`` is exactly what xcomlab exports, and the
heavy part of it loads on first use (PEP 562) so the backend stays light."""

import inspect
import json
import subprocess
import sys
import textwrap

from conftest import ROOT

import xcomlab

#: What an Airflow worker must not pay for when it imports the backend (issue 11 item 2).
HEAVY = ("pandas", "pyarrow", "matplotlib")


def test_all_matches_public_names() -> None:
    """Every name in __all__ resolves, and once resolved, every public attribute is listed.

    Submodules (``xcomlab.analysis``, ``xcomlab.backend``, ...) appear as attributes once
    imported anywhere; they are namespaces, not exports, so they are left out.
    """
    assert all(hasattr(xcomlab, n) for n in xcomlab.__all__)
    public = {n for n, v in vars(xcomlab).items()
              if not n.startswith("_") and not inspect.ismodule(v)}
    assert set(xcomlab.__all__) - {"__version__"} == public


def test_dir_lists_the_public_names_and_unknown_names_raise() -> None:
    assert set(xcomlab.__all__) <= set(dir(xcomlab))
    assert not {"importlib", "sys", "types", "TYPE_CHECKING", "Any"} & set(dir(xcomlab))
    try:
        xcomlab.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("xcomlab.no_such_name did not raise AttributeError")


def _loaded_after(statement: str) -> dict[str, object]:
    """Which heavy modules a fresh interpreter holds after ``statement``."""
    code = textwrap.dedent(f"""
        import json, sys
        {statement}
        json.dump({{"heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}, sys.stdout)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_backend_imports_load_no_pandas_pyarrow_or_matplotlib() -> None:
    """``import xcomlab``, ``xcomlab.backend`` and its store (what an Airflow worker imports
    through the adapter) load none of the analysis stack; the adapters themselves are
    checked inside the Airflow venvs (tests/backend/test_airflow*_integration.py)."""
    stmt = ("import xcomlab, xcomlab.backend, xcomlab.backend.store; "
            "xcomlab.backend.XComStore(url='sqlite://').set('k', 1, dag_id='d', run_id='r', "
            "task_id='t')")
    assert _loaded_after(stmt) == {"heavy": []}


def test_a_lazy_name_loads_its_module_on_first_use() -> None:
    """The control: touching ``xcomlab.profile`` does load pandas (the check above can fail)."""
    assert _loaded_after("import xcomlab; xcomlab.profile") == {"heavy": ["pandas", "pyarrow"]}


def test_the_function_wins_over_its_same_named_submodule() -> None:
    """``xcomlab.recommend`` is the function even after ``import xcomlab.recommend``."""
    import xcomlab.recommend  # binds the submodule on the package

    assert callable(xcomlab.recommend) and not inspect.ismodule(xcomlab.recommend)
