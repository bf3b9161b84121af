"""xcomlab.synth: deterministic deployments, every export format, and the bundled samples.

The cross-format test is the ingest issue's acceptance check: one dataset, written in
every format (a real PostgreSQL and MariaDB included), loads to the same rows and the
same bytes per DAG.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

import xcomlab
from xcomlab import synth
from xcomlab.schema import is_internal_key
from xcomlab.synth.samples import SAMPLES, write_samples

EXT = {"psql_csv": "xcom.csv", "pgdump": "dump.sql", "sqlite": "airflow.db", "jsonl": "xcom.jsonl",
       "parquet": "xcom.parquet", "archive_csv": "archived", "archive_csv_postgres": "archived_pg"}


def _small(airflow: str) -> synth.Deployment:
    extra = {"upgraded_from": "2.10"} if airflow == "3.3" else {}
    return synth.generate(seed=11, airflow=airflow, dags=5, days=40, max_fan_out=12,
                          max_runs_per_day=4, cleaned_before_day=6, offenders=2,
                          offender_bytes=30_000, **extra)


@pytest.fixture(scope="module", params=["2.10", "3.3"])
def dep(request: pytest.FixtureRequest) -> synth.Deployment:
    return _small(request.param)


def _by_table_dag(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    g = frame.groupby(["source_table", "dag_id"], observed=True)["value_bytes"].agg(["size", "sum"])
    return {k: (int(v["size"]), int(v["sum"])) for k, v in g.iterrows()}


def _truth_by_table_dag(dep: synth.Deployment, rename: dict[str, str] | None = None
                        ) -> dict[tuple[str, str], tuple[int, int]]:
    out = {}
    for table in dep.tables:
        for chunk in dep.chunks(table):
            sizes = chunk["value"].map(lambda v: len(v.encode() if isinstance(v, str) else v))
            for dag, s in sizes.groupby(chunk["dag_id"]):
                key = ((rename or {}).get(table, table), dag)
                rows, total = out.get(key, (0, 0))
                out[key] = (rows + len(s), total + int(s.sum()))
    return out


# --- generation -------------------------------------------------------------------------

def test_same_seed_same_bytes(tmp_path: Path) -> None:
    """Two runs with one seed write identical files; another seed writes different ones."""
    digests = []
    for i, seed in enumerate((5, 5, 6)):
        dep = synth.generate(seed=seed, dags=4, days=20, max_fan_out=8)
        path = synth.write(dep, "psql_csv", tmp_path / f"{i}.csv")
        digests.append(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


@pytest.mark.slow
def test_values_do_not_depend_on_chunk_size() -> None:
    dep = synth.generate(seed=2, dags=3, days=15)
    a = pd.concat(dep.chunks("xcom", chunk_rows=7))["value"].tolist()
    b = pd.concat(dep.chunks("xcom", chunk_rows=100_000))["value"].tolist()
    assert a == b


def test_exact_row_count_and_fan_out_cap() -> None:
    dep = synth.generate(seed=3, rows=20_000, dags=8, max_fan_out=1024)
    assert dep.rows("xcom") == 20_000
    assert dep.plan["map_index"].max() < 1024
    pk = dep.plan[["dag_run_id", "task_id", "map_index", "key"]]
    assert not pk.duplicated().any(), "the xcom primary key must be unique"


def test_sizes_grow_over_time() -> None:
    dep = synth.generate(seed=4, dags=10, days=180, growth_per_month=0.2, late_dag_share=0)
    plain = dep.plan[dep.plan["kind"].isin(["metrics", "paths"])]
    month = (plain["ts_us"] - plain["ts_us"].min()) // (30 * 86_400 * 10**6)
    means = plain.groupby(month)["size"].median()
    assert means.iloc[-1] > means.iloc[0] * 1.6  # +20 %/month over ~5 months


@pytest.mark.slow
def test_planted_secrets_nan_and_internal_keys() -> None:
    dep2 = synth.generate(seed=9, airflow="2.10", dags=8, days=30, secrets=7, nan_values=3)
    truth = dep2.truth
    assert sorted(s["kind"] for s in truth["secrets"]) == sorted(synth.SECRET_KINDS)
    assert truth["nan_values"] == 3
    assert truth["internal_rows"] == int(dep2.plan["key"].map(is_internal_key).sum())
    dep3 = synth.generate(seed=9, airflow="3.3", dags=8, days=30, nan_values=3)
    assert dep3.truth["nan_values"] == 0, "Airflow 3's API refuses NaN, so 3.x rows hold none"
    assert dep3.truth["encodings"]["double_json"] > 0
    leaked = next(s for s in truth["secrets"] if s["kind"] == "aws_access_key")
    rows = pd.concat(dep2.chunks("xcom"))
    hit = rows[(rows["run_id"] == leaked["run_id"]) & (rows["task_id"] == leaked["task_id"])
               & (rows["map_index"] == leaked["map_index"]) & (rows["key"] == leaked["key"])]
    assert b"AKIA" in hit["value"].iloc[0]


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match=r"airflow='1\.10'"):
        synth.SynthConfig(airflow="1.10")
    with pytest.raises(ValueError, match="caps mapped fan-out at 1024"):
        synth.SynthConfig(max_fan_out=2048)
    with pytest.raises(ValueError, match="upgraded_from"):
        synth.SynthConfig(airflow="2.10", upgraded_from="2.10")
    with pytest.raises(ValueError, match="expected one of"):
        synth.write(synth.generate(dags=1, days=2), "xml", "/tmp/x")


def test_jsonb_text_orders_keys_like_postgres() -> None:
    env = {"__classname__": "builtins.tuple", "__version__": 1, "__data__": [1, 2]}
    assert synth.jsonb_text(env) == '{"__data__": [1, 2], "__version__": 1, "__classname__": "builtins.tuple"}'


# --- every format, same numbers ----------------------------------------------------------

@pytest.mark.parametrize("fmt", ["psql_csv", "pgdump", "sqlite", "jsonl", "parquet", "archive_csv"])
def test_every_format_loads_to_the_truth(dep: synth.Deployment, fmt: str, tmp_path: Path) -> None:
    path = synth.write(dep, fmt, tmp_path / EXT[fmt])
    frame = xcomlab.load_export(path)
    got = _by_table_dag(frame)
    if fmt == "archive_csv":  # the live table is exported as if db clean had archived it
        from xcomlab.synth.writers import _archive_name

        want = _truth_by_table_dag(dep, {"xcom": _archive_name(dep, "xcom")})
    else:
        want = {k: v for k, v in _truth_by_table_dag(dep).items()
                if fmt in ("pgdump", "sqlite") or k[0] == "xcom"}
    assert got == want
    assert xcomlab.load_report(frame).sizes_exact
    if fmt != "archive_csv":
        s = xcomlab.summarize(frame)
        for k in ("rows", "value_bytes", "references", "pickled", "nan_values", "internal_rows",
                  "first_timestamp", "last_timestamp", "airflow_schema"):
            assert s[k] == dep.truth[k], k
        enc = frame[frame["source_table"] == "xcom"]["encoding"].value_counts()
        assert {k: int(v) for k, v in enc.items() if v} == dep.truth["encodings"]


def test_postgres_export_archived_says_sizes_are_lost(dep: synth.Deployment, tmp_path: Path) -> None:
    """export-archived on PostgreSQL loses bytea and reprs JSON: rows reconcile, sizes do not."""
    frame = xcomlab.load_export(synth.write(dep, "archive_csv_postgres", tmp_path / "a"))
    assert len(frame) == dep.rows()
    assert not xcomlab.load_report(frame).sizes_exact
    bytea = frame["source_table"].isin(["_xcom_archive"]) | (dep.config.airflow == "2.10")
    assert frame.loc[bytea, "value_bytes"].isna().all()
    assert (frame.loc[bytea, "encoding"] == "lost").all()


def _check_live(dep: synth.Deployment, url: str) -> None:
    synth.write(dep, "database", url)
    frame = xcomlab.load_export(url)
    assert _by_table_dag(frame) == _truth_by_table_dag(dep)
    s = xcomlab.summarize(frame)
    assert (s["rows"], s["value_bytes"], s["pickled"], s["references"]) == (
        dep.truth["rows"], dep.truth["value_bytes"], dep.truth["pickled"], dep.truth["references"])


def test_live_postgres(dep: synth.Deployment, pg_url: str) -> None:
    _check_live(dep, pg_url)


def test_live_mariadb(dep: synth.Deployment, mysql_url: str) -> None:
    _check_live(dep, mysql_url)


def test_live_sqlite_url(dep: synth.Deployment, tmp_path: Path) -> None:
    _check_live(dep, f"sqlite:///{tmp_path / 'live.db'}")


# --- samples and CLI ------------------------------------------------------------------------

def test_committed_samples_are_reproducible(tmp_path: Path) -> None:
    """`make samples` rewrites data/samples/ exactly; truth.json matches what loads."""
    write_samples(tmp_path)
    committed = ROOT / "data" / "samples"
    for name, (_, files) in SAMPLES.items():
        assert json.loads((committed / name / "truth.json").read_text()) == json.loads(
            (tmp_path / name / "truth.json").read_text())
        for _, file_name, _ in files:
            for new in sorted((tmp_path / name / file_name).rglob("*")) or [tmp_path / name / file_name]:
                if new.is_dir():
                    continue
                old = committed / name / new.relative_to(tmp_path / name)
                if new.suffix == ".db":
                    assert _dump(old) == _dump(new)
                else:
                    assert old.read_bytes() == new.read_bytes(), old


def _dump(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


@pytest.mark.parametrize("name", list(SAMPLES))
def test_samples_load_to_their_truth(name: str) -> None:
    folder = ROOT / "data" / "samples" / name
    truth = json.loads((folder / "truth.json").read_text())
    for path in sorted(p for p in folder.iterdir() if p.name != "truth.json"):
        s = xcomlab.summarize(xcomlab.load_export(path))
        if "xcom" in s["tables"]:
            assert (s["rows"], s["value_bytes"], s["by_dag"]) == (truth["rows"], truth["value_bytes"], truth["by_dag"]), path
        for table, v in s["tables"].items():
            assert truth["tables"][table] == v, (path, table)


def test_cli_writes_rows_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "x.csv", tmp_path / "t.json"
    run = subprocess.run([sys.executable, "-m", "xcomlab.synth", "--rows", "3000", "--airflow", "2.10",
                          "--format", "psql_csv", "--out", str(out), "--truth", str(truth)],
                         capture_output=True, text=True, check=True)
    assert "wrote 3,000 rows" in run.stdout
    frame = xcomlab.load_export(out)
    assert len(frame) == 3000 == json.loads(truth.read_text())["rows"]
    assert xcomlab.summarize(frame)["value_bytes"] == json.loads(truth.read_text())["value_bytes"]
