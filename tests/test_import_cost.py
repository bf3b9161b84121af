"""What ``xcomlab profile FILE`` loads: a file's profile never pays for SQLAlchemy.

The CLI is timed as a whole process (issue 13's benchmarks); SQLAlchemy alone costs about
0.2 s to import. It loads when a database is opened (a URL, an ``airflow.db`` file, an
Engine), not when the CLI module is imported nor when a CSV export is profiled or fails to
read. The same process then profiles the bundled ``airflow.db``, which does load it: the
check can fail.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT, SAMPLES

#: Modules a file's ``profile --json`` has no use for (rich: it prints tables, not JSON;
#: xcomlab.recommend: the cost, latency and simulation models of ``recommend``).
UNUSED = ("sqlalchemy", "rich", "matplotlib", "jinja2", "ipywidgets", "tqdm", "xcomlab.recommend")

CSV = SAMPLES / "af3" / "xcom_copy.csv"
DB = SAMPLES / "af3" / "airflow.db"


def _run(code: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_profile_of_a_file_loads_no_sqlalchemy(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.csv"  # read, then refused: the error is translated without SQLAlchemy
    bad.write_bytes(CSV.read_bytes().replace(b"\n", "é\n".encode("latin-1"), 3))
    got = _run(f"""
        import contextlib, io, json, sys
        unused = {UNUSED!r}
        loaded = lambda: sorted(m for m in unused if m in sys.modules)
        import xcomlab.cli
        state = {{"import": loaded()}}
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out):
            state["csv_rc"] = xcomlab.cli.main(["profile", {str(CSV)!r}, "--json"])
        state["csv_rows"] = json.loads(out.getvalue())["rows"]
        state["csv"] = loaded()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            state["bad_rc"] = xcomlab.cli.main(["profile", {str(bad)!r}, "--json"])
        state["bad_error"] = "UTF-8" in err.getvalue()
        state["bad"] = loaded()
        with contextlib.redirect_stdout(io.StringIO()):
            state["db_rc"] = xcomlab.cli.main(["profile", {str(DB)!r}, "--json"])
        state["db"] = loaded()
        print(json.dumps(state))
    """)
    assert got["import"] == [] and got["csv"] == [], got
    assert got["csv_rc"] == 0 and isinstance(got["csv_rows"], int) and got["csv_rows"] > 0
    assert got["bad_rc"] != 0 and got["bad_error"] and got["bad"] == [], got
    # the control: an airflow.db is a database, read through SQLAlchemy
    assert got["db_rc"] == 0 and got["db"] == ["sqlalchemy"], got


def test_text_output_loads_rich_and_without_it_the_cli_names_the_extra(tmp_path: Path) -> None:
    """rich loads for the tables (the control of ``UNUSED``); an install without it still
    stops at start-up with the extra to install, as when pandas is missing."""
    got = _run(f"""
        import contextlib, io, json, sys
        import xcomlab.cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = xcomlab.cli.main(["profile", {str(CSV)!r}])
        print(json.dumps({{"rc": rc, "rich": "rich" in sys.modules, "text": out.getvalue()[:200]}}))
    """)
    assert got["rc"] == 0 and got["rich"] is True and "Source: " in str(got["text"]), got
    code = ("import sys; sys.modules['rich'] = None; sys.argv = ['xcomlab', 'profile', 'x']; "
            "from xcomlab.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("xcomlab: the command line needs the toolkit, which this "
                                   "install lacks (rich is missing): pip install 'xcomlab[lab]'")


def test_the_database_entry_points_stay_importable_and_load_sqlalchemy_on_use() -> None:
    """``summarize_db`` and ``load_audit`` keep their import paths; an Engine still works."""
    got = _run(f"""
        import json, sys
        from xcomlab.summary import PushdownStats, summarize_db, summarize_source
        from xcomlab.ingest import load_audit
        import xcomlab
        before = "sqlalchemy" in sys.modules
        stats = PushdownStats()
        s = summarize_db({str(DB)!r}, stats=stats)
        import sqlalchemy as sa
        engine = sa.create_engine("sqlite://")
        try:
            load_audit(engine)
        except xcomlab.ExportFormatError as exc:
            missing = "no audit table" in str(exc)
        print(json.dumps({{"before": before, "rows": s.rows, "statements": stats.statements,
                          "same": xcomlab.load_audit is load_audit, "missing": missing}}))
    """)
    assert got == {"before": False, "rows": got["rows"], "statements": got["statements"],
                   "same": True, "missing": True}
    assert isinstance(got["rows"], int) and got["rows"] > 0
    assert isinstance(got["statements"], int) and got["statements"] > 0
