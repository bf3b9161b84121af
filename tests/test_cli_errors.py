"""The operator's front edge, by subprocess: Airflow's own configuration as the default
source, URLs as Airflow users write them, and one masked line (exit 2) per mistake."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import ROOT, _answers

import xcomlab
from xcomlab.errors import ExportFormatError, mask_url

AF3_DB = ROOT / "data" / "samples" / "af3" / "airflow.db"
AF3_CSV = ROOT / "data" / "samples" / "af3" / "xcom_copy.csv"
AF3_ROWS = 8854


def cli(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``python -m xcomlab.cli`` with this worktree first on the path and no Airflow
    settings from the developer's shell."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    base["PYTHONPATH"] = str(ROOT)
    base.setdefault("HOME", str(cwd or ROOT))
    return subprocess.run([sys.executable, "-m", "xcomlab", *argv], capture_output=True,
                          text=True, timeout=timeout, env={**base, **(env or {})}, cwd=cwd or ROOT)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``xcomlab: …`` line of a failed run (exit 2, no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("xcomlab: reading ")]
    assert len(lines) == 1 and lines[0].startswith("xcomlab: "), proc.stderr
    return lines[0]


def _csv_rows(n: int) -> tuple[list[str], list[list[str]]]:
    with AF3_CSV.open(newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows)
        return header, [r for _, r in zip(range(n), rows, strict=False)]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


# ---------------------------------------------------------------- Airflow's configuration

def test_env_var_is_the_default_source_and_is_named_masked(tmp_path: Path) -> None:
    proc = cli("profile", "--json", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AF3_DB}"},
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"reading sqlite:///{AF3_DB} (from AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)" in proc.stderr
    import json

    assert json.loads(proc.stdout)["rows"] > 0
    refused = cli("scan", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                               "postgresql://airflow:Sup3rSecretPw@127.0.0.1:1/airflow"}, cwd=tmp_path)
    assert "Sup3rSecretPw" not in refused.stderr + refused.stdout
    assert "postgresql://airflow:***@127.0.0.1:1/airflow" in refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 2 and "does not answer" in line and "Traceback" not in refused.stderr


def test_cmd_variant_runs_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    proc = cli("audit", "--json", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD":
                                       f"echo sqlite:///{AF3_DB}"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "(from AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD)" in proc.stderr
    # No shell: ';' is an argument to echo, so the second command never runs.
    proc = cli("audit", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD":
                             f"echo sqlite:///{AF3_DB}; touch {marker}"}, cwd=tmp_path)
    assert not marker.exists()
    one_line_error(proc)
    failing = cli("audit", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD": "false"}, cwd=tmp_path)
    assert "exited with code 1" in one_line_error(failing)


def test_secret_variant_says_it_is_out_of_reach(tmp_path: Path) -> None:
    line = one_line_error(cli("scan", env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET": "sql_alchemy_conn"},
                              cwd=tmp_path))
    assert "secrets backend" in line and "airflow config get-value database sql_alchemy_conn" in line


def test_airflow_cfg_under_airflow_home_and_the_flag(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    home.mkdir()
    (home / "airflow.cfg").write_text(f"[core]\ndags_folder = /x\n\n[database]\n"
                                      f"sql_alchemy_conn = sqlite:///{AF3_DB}\n")
    proc = cli("scan", "--json", env={"AIRFLOW_HOME": str(home)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"(from {home / 'airflow.cfg'} [database] sql_alchemy_conn)" in proc.stderr
    proc = cli("scan", "--json", "--airflow-home", str(home), cwd=tmp_path)
    assert proc.returncode == 0 and "[database] sql_alchemy_conn" in proc.stderr
    # ~/airflow by default (HOME is tmp_path here).
    proc = cli("scan", "--json", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (home / "airflow.cfg").write_text("[database]\nsql_alchemy_conn_cmd = cat /etc/url\n")
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD" in one_line_error(
        cli("scan", "--airflow-home", str(home), cwd=tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(cli("profile", "--airflow-home", str(empty), cwd=tmp_path))
    assert "no source given" in line and "SOURCE" in line


def test_missing_sqlite_file_is_an_error_and_never_created(tmp_path: Path) -> None:
    line = one_line_error(cli("profile", "sqlite:///missing.db", cwd=tmp_path))
    assert "no such file" in line and "missing.db" in line
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"])
def test_postgres_url_forms(pg_url: str, scheme: str) -> None:
    url = sa.make_url(pg_url).set(drivername=scheme).render_as_string(hide_password=False)
    line = one_line_error(cli("profile", url))  # connected: the fresh schema has no xcom table
    assert "no xcom table found" in line, line


@pytest.mark.parametrize("scheme", ["mysql", "mysql+mysqldb", "mysql+pymysql", "mariadb"])
def test_mysql_url_forms(mysql_url: str, scheme: str) -> None:
    url = sa.make_url(mysql_url).set(drivername=scheme).render_as_string(hide_password=False)
    line = one_line_error(cli("profile", url))
    assert "no xcom table found" in line, line


def test_missing_driver_hint_names_the_extra_that_fixes_it() -> None:
    from xcomlab.ingest import dburl

    # psycopg 3 and PyMySQL are what the extras install; the hint names those extras.
    text = "postgresql+psycopg2://u@127.0.0.1/db"
    assert dburl.resolve_url(text).drivername in ("postgresql+psycopg", "postgresql+psycopg2")
    assert dburl.resolve_url("mysql://u@h/db").drivername in ("mysql+pymysql", "mysql+mysqldb")
    line = one_line_error(cli("profile", "oracle://u@127.0.0.1/db"))
    assert "is not a database xcomlab reads" in line


# ------------------------------------------------------------------- one line per mistake

def test_readme_live_example_gives_one_line() -> None:
    if not _answers(5432):
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    proc = cli("profile", "postgresql://airflow@127.0.0.1/airflow", "--json")
    if proc.returncode == 0:  # a server with Airflow's role and database: it just works
        return
    line = one_line_error(proc)
    assert 'role "airflow" does not exist' in line or 'database "airflow" does not exist' in line


def test_closed_port_wrong_database_and_debug() -> None:
    assert "does not answer" in one_line_error(cli("profile", "postgresql://postgres@127.0.0.1:1/test"))
    if _answers(5432):
        line = one_line_error(cli("profile", "postgresql://postgres@127.0.0.1:5432/front_nodb"))
        assert 'database "front_nodb" does not exist' in line
    debug = cli("profile", "postgresql://postgres@127.0.0.1:1/test", "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_corrupt_and_truncated_sqlite(tmp_path: Path) -> None:
    data = AF3_DB.read_bytes()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 3])
    assert "corrupt or truncated" in one_line_error(cli("profile", str(truncated)))
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\x07" * 4096)
    one_line_error(cli("scan", str(garbage)))


def test_non_utf8_text_in_a_sqlite_dag_id(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    shutil.copy(AF3_DB, db)
    con = sqlite3.connect(db)
    con.execute("UPDATE xcom SET dag_id = CAST(x'61ff62' AS TEXT) WHERE rowid = 1")
    con.commit()
    con.close()
    assert "not UTF-8" in one_line_error(cli("profile", str(db)))


def test_bad_csv_headers(tmp_path: Path) -> None:
    header, rows = _csv_rows(20)
    p = _write_csv(tmp_path / "xcom.csv", header, rows)
    text = p.read_bytes()
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.replace(b"dag_id", b"dag_\xffid", 1))
    assert "not UTF-8" in one_line_error(cli("profile", str(latin)))
    cr = tmp_path / "cr.csv"
    cr.write_bytes(text.replace(b"task_id", b"task\r_id", 1))
    one_line_error(cli("profile", str(cr)))
    jsonl = tmp_path / "xcom.jsonl"
    jsonl.write_bytes(b'{"dag_id": "a\xff", "task_id": "t", "key": "k", "value": "1", "timestamp": "x"}\n')
    one_line_error(cli("profile", str(jsonl)))


def test_plus_sign_map_index_reads_like_postgresql(tmp_path: Path) -> None:
    header, rows = _csv_rows(20)
    rows[3][header.index("map_index")] = "+5"
    frame = xcomlab.load_export(_write_csv(tmp_path / "xcom.csv", header, rows))
    assert frame["map_index"].iloc[3] == 5


def test_values_in_errors_are_masked(tmp_path: Path) -> None:
    header, rows = _csv_rows(30)
    rows[4][header.index("map_index")] = "password=hunter2xyz"
    p = _write_csv(tmp_path / "xcom.csv", header, rows)
    for command in ("scan", "profile", "report"):
        line = one_line_error(cli(command, str(p), "-o", str(tmp_path / "r.html")) if command == "report"
                              else cli(command, str(p)))
        assert "hunter2xyz" not in line and "line 6, row 5" in line and "--errors collect" in line
        assert "errors='collect'" not in line
    collected = cli("profile", str(p), "--errors", "collect")
    assert collected.returncode == 0 and "hunter2xyz" not in collected.stdout + collected.stderr
    with pytest.raises(ExportFormatError) as info:
        xcomlab.load_export(p)
    assert "hunter2xyz" not in str(info.value)


def test_ref_uri_credentials_are_masked(tmp_path: Path) -> None:
    header, rows = _csv_rows(10)
    value = header.index("value")
    rows[1][value] = '"s3://AKIAEXAMPLE:wJalrXUtnFEMIK7MDENG@bucket/dag/run/key.json"'
    rows[2][value] = '"https://host.example/x?X-Amz-Signature=abcdef0123&y=1"'
    frame = xcomlab.load_export(_write_csv(tmp_path / "xcom.csv", header, rows))
    uris = [u for u in frame["ref_uri"].dropna()]
    assert "s3://AKIAEXAMPLE:***@bucket/dag/run/key.json" in uris
    assert not any("wJalr" in u for u in uris)
    assert mask_url("gs://b/o?sig=zz&token=t") == "gs://b/o?sig=***&token=***"


def test_deep_nesting_and_dollar_dag_ids_do_not_crash(tmp_path: Path) -> None:
    header, rows = _csv_rows(60)
    rows[5][header.index("value")] = "[" * 50_000 + "1" + "]" * 50_000
    for r in rows[:30]:
        r[header.index("dag_id")] = "a$\\x$b"
    p = _write_csv(tmp_path / "xcom.csv", header, rows)
    for argv in (("profile", str(p)), ("scan", str(p)),
                 ("report", str(p), "-o", str(tmp_path / "r.html"))):
        proc = cli(*argv)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_collect_mode_is_linear_in_rejections(tmp_path: Path) -> None:
    """4,000 rejected rows took 24 s when each rejection re-read the file (2026-12-07)."""
    header, rows = _csv_rows(4000)
    mi = header.index("map_index")
    bad = [list(r) for r in rows]
    for r in bad:
        r[mi] = "x5"
    interleaved = [r for pair in zip(bad, rows, strict=True) for r in pair]
    p = _write_csv(tmp_path / "xcom.csv", header, interleaved)
    t0 = time.perf_counter()
    frame = xcomlab.load_export(p, errors="collect")
    elapsed = time.perf_counter() - t0
    rep = xcomlab.load_report(frame)
    assert (len(frame), rep.rows_rejected) == (4000, 4000)
    lines = [r.line for r in rep.rejections]
    assert lines[:2] == [2, 4] and lines == sorted(lines)  # exact physical lines
    assert elapsed < 8, f"collect mode took {elapsed:.1f} s for 4,000 rejections"


# ------------------------------------------------------------------------ README / make

def test_make_demo_skips_the_install_when_nothing_changed(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("#!/bin/sh\n")
    (bin_dir / "python").chmod(0o755)
    old = time.time() - 100
    os.utime(tmp_path / "pyproject.toml", (old, old))
    (tmp_path / ".venv" / ".installed").touch()

    def planned() -> str:
        return subprocess.run(["make", "-n", "demo"], cwd=tmp_path, capture_output=True, text=True,
                              check=True).stdout

    assert "pip install" not in planned()
    assert ".venv/bin/xcomlab profile" in planned()
    (tmp_path / "pyproject.toml").touch()  # changed: install again
    assert "pip install -q -e '.[lab]'" in planned()


def test_readme_names_the_venv_command() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme[readme.index("## Quick start: command line"):readme.index("## Quick start: Airflow")]
    commands = [ln for ln in quick.splitlines() if "xcomlab " in ln and ln.lstrip().startswith((".venv", "xcomlab"))]
    assert commands and all(c.startswith(".venv/bin/xcomlab ") for c in commands)
    assert "source .venv/bin/activate" in quick
