"""environment.yml and pyproject.toml list the same dependencies."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT

#: conda-forge names that differ from PyPI's.
CONDA_NAMES = {"duckdb": "python-duckdb"}


def _name(req: str) -> str:
    return re.split(r"[<>=!\[; ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_matches_pyproject() -> None:
    """Core, lab and dev dependencies of pyproject.toml appear in environment.yml and vice versa."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("lab", "postgres", "mysql", "dev"):
        reqs += [r for r in project["optional-dependencies"][extra] if not r.startswith("xcomlab")]
    wanted = {CONDA_NAMES.get(_name(r), _name(r)) for r in reqs}
    env = (ROOT / "environment.yml").read_text()
    listed = set()
    deps = env.split("dependencies:", 1)[1]
    for line in deps.splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)", line)
        if m and not line.strip().startswith("- -e"):
            listed.add(m.group(1).lower())
    listed -= {"python", "pip"}
    assert wanted == listed, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"


def test_py_typed_is_shipped() -> None:
    """The package is marked as typed."""
    assert (ROOT / "xcomlab" / "py.typed").exists()
