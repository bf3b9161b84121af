"""Every notebook is a slow test: nbval runs it top to bottom in a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the cells nbval collects from ``notebooks/*.ipynb`` ``slow``."""
    for item in items:
        path = Path(str(item.path)).resolve()
        if path.suffix == ".ipynb" and path.parent == HERE and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
