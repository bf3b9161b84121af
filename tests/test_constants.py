"""The measured figures in xcomlab.constants hold what they claim: measured again here."""

from __future__ import annotations

from pathlib import Path

from xcomlab.backend import XComStore
from xcomlab.backend.codecs import dumps_json
from xcomlab.backend.envelope import is_envelope
from xcomlab.constants import REFERENCE_ROW_BYTES

REFERENCE_BASE = "s3://airflow-xcom/xcom"


def _reference_row_bytes(tmp_path: Path) -> tuple[int, int]:
    """Bytes of the row an offloaded 1,000-item ``return_value`` leaves, as the constant says."""
    with XComStore(url="sqlite://", object_base=f"file://{tmp_path}/xcom", threshold=0) as store:
        ids = {"dag_id": "d" * 20, "run_id": "scheduled__2026-01-01T00:00:00+00:00", "task_id": "t" * 20}
        value = [{"id": i, "name": f"row-{i:06d}", "amount": i * 1.5} for i in range(1000)]
        store.set("return_value", value, **ids)
        row = store.get_stored("return_value", **ids)
        assert store.objects is not None
        base = store.objects.base
    assert is_envelope(row) and row["uri"].startswith(base + "/")
    row["uri"] = REFERENCE_BASE + row["uri"][len(base):]
    return len(dumps_json(row)), len(row["uri"])


def test_reference_row_bytes_is_the_measured_envelope(tmp_path: Path) -> None:
    measured, uri_bytes = _reference_row_bytes(tmp_path)
    assert uri_bytes == 167
    assert measured == REFERENCE_ROW_BYTES, (
        f"xcomlab's reference envelope now takes {measured} B; update REFERENCE_ROW_BYTES "
        "in xcomlab/constants.py (and its date)")
