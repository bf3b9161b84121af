"""Airflow settings: the one :class:`XComStore` per worker process, configured from
``XCOMLAB_*``, ``AIRFLOW__XCOMLAB__*`` and the ``[xcomlab]`` section of ``airflow.cfg``.

Shared by the Airflow 2 and Airflow 3 adapters; imports no Airflow module until a store is
built (then Airflow's own ``conf``: the task SDK's on Airflow 3, ``airflow.configuration``
on Airflow 2).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from typing import Any, Final

from xcomlab.backend.config import ENV_PREFIXES, StoreConfig, check_names
from xcomlab.backend.store import XComStore

__all__ = ["SECTION", "UNNAMED", "encode", "settings", "store"]

#: airflow.cfg section read after the environment.
SECTION: Final = "xcomlab"
#: Path segments used when Airflow does not name the XCom (as common-io's ``NO_DAG_ID``).
UNNAMED: Final = {"dag_id": "NO_DAG_ID", "run_id": "NO_RUN_ID", "task_id": "NO_TASK_ID",
                  "key": "NO_KEY"}

_lock = threading.Lock()
_stores: dict[tuple[tuple[str, str], ...], XComStore] = {}


def store() -> XComStore:
    """The process's store for the current settings (built once per distinct settings).

    The store's own SQL table is not used (Airflow writes the rows), so no table is created.
    Measurements are off unless ``MEASURE`` is set (a worker lives long).
    """
    env = settings()
    cache_key = tuple(sorted(env.items()))
    with _lock:
        st = _stores.get(cache_key)
        if st is None:
            cfg = StoreConfig.from_env(environ=env)
            if not any(p + "MEASURE" in env for p in ENV_PREFIXES):
                cfg = cfg.replace(measure=False)
            st = _stores[cache_key] = XComStore(cfg, create=False)
    return st


def settings() -> dict[str, str]:
    """``XCOMLAB_*`` and ``AIRFLOW__XCOMLAB__*`` variables, then ``[xcomlab]`` of airflow.cfg."""
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    section = cfg_section()
    check_names(section, (), origin=f"key of the [{SECTION}] section of airflow.cfg")
    for name, value in section.items():
        env.setdefault(ENV_PREFIXES[1] + name.upper(), value)
    return env


@functools.cache
def cfg_section() -> Mapping[str, str]:
    """The ``[xcomlab]`` section of airflow.cfg (empty when there is none)."""
    import importlib

    try:
        mod = importlib.import_module("airflow.sdk.configuration")  # Airflow 3 task SDK
    except ImportError:  # Airflow 2 (and 3 before the SDK had its own)
        mod = importlib.import_module("airflow.configuration")
    conf: Any = mod.conf
    section = conf.getsection(SECTION) if conf.has_section(SECTION) else None
    return {str(k): str(v) for k, v in (section or {}).items()}


def encode(value: Any, *, key: str | None, task_id: str | None, dag_id: str | None,
           run_id: str | None, map_index: int | None) -> Any:
    """What a row's ``value`` column holds for ``value`` (the object written first when
    offloaded); ids Airflow leaves unnamed get common-io's placeholders (:data:`UNNAMED`)."""
    return store().encode(value, key=key or UNNAMED["key"], dag_id=dag_id or UNNAMED["dag_id"],
                          run_id=run_id or UNNAMED["run_id"],
                          task_id=task_id or UNNAMED["task_id"],
                          map_index=-1 if map_index is None else map_index)
