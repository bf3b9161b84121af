"""Ground truth of a synthetic deployment: what a correct reader must find.

Computed from the generated values themselves (not from the plan's target sizes), with
the same meaning as :func:`xcomlab.summarize`: headline counts cover the live ``xcom``
table; ``tables`` and ``all_tables_by_dag`` cover every table.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pandas as pd

from xcomlab.schema import is_internal_key

if TYPE_CHECKING:  # for annotations only: generate imports this module
    from xcomlab.synth.generate import Deployment

__all__ = ["compute_truth"]

_SERDE_KINDS = frozenset({"datetime", "pair", "frame"})
_REF_PREFIX = '"s3://'


def compute_truth(dep: Deployment) -> dict[str, Any]:
    """Return the ground truth of ``dep`` as JSON-ready values."""
    tables: dict[str, Any] = {}
    all_by_dag: dict[str, dict[str, int]] = {}
    secrets: list[dict[str, Any]] = []
    for table in dep.tables:
        t = _Table()
        for chunk in dep.chunks(table):
            t.add(chunk, json_table=dep.table_kind(table) == "json", kinds=chunk["kind"])
            for row in chunk[chunk["secret"] != ""].itertuples(index=False):
                secrets.append({"table": table, "dag_id": row.dag_id, "task_id": row.task_id,
                                "run_id": row.run_id, "map_index": int(row.map_index),  # type: ignore[arg-type]
                                "key": row.key, "kind": row.secret})
        tables[table] = t.result()
        for dag, v in t.by_dag.items():
            acc = all_by_dag.setdefault(dag, {"rows": 0, "value_bytes": 0})
            acc["rows"] += v["rows"]
            acc["value_bytes"] += v["value_bytes"]
    live = tables.get("xcom") or next(iter(tables.values()))
    schema = "3.3+" if dep.config.airflow == "3.3" else "2.3-2.11"
    return {
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(dep.config).items()},
        "airflow_schema": schema,
        **{k: live[k] for k in ("rows", "value_bytes", "by_dag", "references", "pickled",
                                "nan_values", "internal_rows", "first_timestamp",
                                "last_timestamp", "encodings")},
        "tables": {k: {"rows": v["rows"], "value_bytes": v["value_bytes"]} for k, v in tables.items()},
        "all_tables_by_dag": dict(sorted(all_by_dag.items())),
        "secrets": secrets,
    }


class _Table:
    def __init__(self) -> None:
        self.rows = 0
        self.value_bytes = 0
        self.by_dag: dict[str, dict[str, int]] = {}
        self.counts = {"references": 0, "pickled": 0, "nan_values": 0, "internal_rows": 0}
        self.encodings: dict[str, int] = {}
        self.first: pd.Timestamp | None = None
        self.last: pd.Timestamp | None = None

    def add(self, chunk: pd.DataFrame, *, json_table: bool, kinds: pd.Series) -> None:
        sizes = [0 if v is None else len(v.encode() if isinstance(v, str) else v) for v in chunk["value"]]
        self.rows += len(chunk)
        self.value_bytes += sum(sizes)
        for dag, size in zip(chunk["dag_id"], sizes, strict=True):
            acc = self.by_dag.setdefault(dag, {"rows": 0, "value_bytes": 0})
            acc["rows"] += 1
            acc["value_bytes"] += size
        for value, kind, key, nan in zip(chunk["value"], kinds, chunk["key"], chunk["nan"], strict=True):
            enc = _encoding(value, kind, json_table)
            self.encodings[enc] = self.encodings.get(enc, 0) + 1
            self.counts["pickled"] += enc == "pickle"
            self.counts["references"] += _is_ref(value)
            self.counts["nan_values"] += bool(nan) and enc != "pickle" and not _is_ref(value)
            self.counts["internal_rows"] += is_internal_key(key)
        ts = chunk["timestamp"]
        if len(ts):
            self.first = ts.min() if self.first is None else min(self.first, ts.min())
            self.last = ts.max() if self.last is None else max(self.last, ts.max())

    def result(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "value_bytes": self.value_bytes,
            "by_dag": dict(sorted(self.by_dag.items(), key=lambda kv: -kv[1]["value_bytes"])),
            **self.counts,
            "encodings": dict(sorted(self.encodings.items())),
            "first_timestamp": None if self.first is None else self.first.isoformat(),
            "last_timestamp": None if self.last is None else self.last.isoformat(),
        }


def _is_ref(value: str | bytes | None) -> bool:
    if value is None:
        return False
    text = value if isinstance(value, str) else value[:8].decode("latin-1")
    return text.startswith(_REF_PREFIX)


def _encoding(value: str | bytes | None, kind: str, json_table: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bytes) and value[:1] == b"\x80":
        return "pickle"
    if _is_ref(value):
        return "json"
    if kind == "depends" and json_table:
        return "double_json"
    if kind in _SERDE_KINDS:
        return "serde"
    return "json"
