"""Report: one self-contained HTML file with every analysis of an export.

``render(frame)`` runs the profile, audit, forecast, retention what-if, secret scan and
backend recommendation and lays them out in sections with stable ids (``#summary``,
``#profile``, ``#audit``, ``#forecast``, ``#retention``, ``#secrets``, ``#backends``,
``#method``). Charts are matplotlib PNGs embedded as base64 ``data:`` URIs (drawn on a
bare :class:`~matplotlib.figure.Figure`, so pyplot's global state is not touched); the CSS
is inline; nothing is loaded from elsewhere, so the file opens offline. Secrets appear
masked only (:func:`xcomlab.analysis.secrets.mask`); raw values are never written.
Given the same frame the output is byte-identical, except the optional ``now`` stamp.

``render`` also takes a :class:`~xcomlab.summary.Summary`: every section then reads its
groups (the figures docs/figures.md#summary lists, the backends from its size groups), and
:func:`write_report` streams a source once into one (``frame=True``: the whole frame).
"""

from __future__ import annotations

import base64
import io
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, Final

import pandas as pd

import xcomlab
from xcomlab import plots
from xcomlab import schema as S
from xcomlab.analysis.audit import (
    LimitReport,
    MigrationAudit,
    check_limits,
    limits,
    migration_audit,
)
from xcomlab.analysis.disk import constants as disk_constants
from xcomlab.analysis.disk import disk_ratio
from xcomlab.analysis.forecast import Forecast, forecast
from xcomlab.analysis.profile import Profile, profile, summarize
from xcomlab.analysis.retention import RetentionPolicy, RetentionReport, retention
from xcomlab.analysis.secrets import SecretReport, scan_secrets, summary_secrets
from xcomlab.constants import DEFAULT_CEILINGS
from xcomlab.errors import InsufficientDataError, ParameterError, XcomlabError
from xcomlab.ingest.deployment import Deployment, deployment_of, infer_deployment
from xcomlab.models.cost import OBJECT_SERVICES, load_prices
from xcomlab.plots import format_bytes as _bytes
from xcomlab.randomness import RNG, seed_of
from xcomlab.recommend import Recommendation, recommend
from xcomlab.report_actions import Action, actions, growth, partial_day
from xcomlab.schema import primary_rows
from xcomlab.summary import Summary, summarize_source
from xcomlab.summary.store import is_summary_file

__all__ = ["DEFAULT_RETENTION", "SECTIONS", "render", "write_report"]

#: Section ids, in page order (stable: tests and links rely on them).
SECTIONS: Final = ("summary", "profile", "audit", "forecast", "retention", "secrets", "backends",
                   "method")
_TITLES: Final = {"summary": "Summary", "profile": "Profile", "audit": "Limits and upgrade audit",
                  "forecast": "Forecast", "retention": "Retention what-if",
                  "secrets": "Secrets (masked)", "backends": "Backends and recommendation",
                  "method": "Method and sources"}
#: The what-if policy when none is given: 30 days, as a round month of history.
DEFAULT_RETENTION: Final = RetentionPolicy(max_age_days=30)
#: A fit over fewer days than this is called short in the forecast section (two weekly
#: cycles after the first: below it the trend and weekly factors rest on little history).
SHORT_HISTORY_DAYS: Final = 28
_TOP: Final = 10
_DPI: Final = 100


# --- formatting -------------------------------------------------------------------------

def _int(n: Any) -> str:
    return "–" if n is None or pd.isna(n) else f"{int(n):,}"


def _num(fmt: str) -> Callable[[Any], str]:
    return lambda v: "–" if v is None or pd.isna(v) else format(float(v), fmt)


def _pct(v: Any) -> str:
    return "–" if v is None or pd.isna(v) else f"{float(v):.1%}"


def _usd(v: Any) -> str:
    return "–" if v is None or pd.isna(v) else f"${float(v):,.4f}" if abs(v) < 1 else f"${float(v):,.2f}"


def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _header(name: Any) -> str:
    """A column name that may wrap after each ``_`` (``steady_state_bytes``)."""
    return _e(name if name is not None else "").replace("_", "_<wbr>")


def _table(df: pd.DataFrame, formats: Mapping[str, Callable[[Any], str]] | None = None, *,
           index: bool = True, numeric: Iterable[str] = (), caption: str = "") -> str:
    """An escaped HTML table; ``formats`` per column, numbers right-aligned."""
    formats = formats or {}
    right = set(numeric) | set(formats)
    names = [*(df.index.names if index else []), *df.columns]
    num = ' class="num"'
    head = "".join(f"<th{num if str(n) in right else ''}>{_header(n)}</th>" for n in names)
    body = []
    for idx, row in zip(df.index, df.itertuples(index=False), strict=True):
        cells = []
        if index:
            cells += [f"<th scope='row'>{_e(i)}</th>" for i in (idx if isinstance(idx, tuple) else (idx,))]
        for col, value in zip(df.columns, row, strict=True):
            fmt = formats.get(str(col))
            text = fmt(value) if fmt else ("–" if value is None or (not isinstance(value, str)
                                                                      and pd.isna(value)) else str(value))
            cells.append(f"<td{num if str(col) in right else ''}>{_e(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    if not body:
        body.append(f"<tr><td colspan=\"{len(names)}\" class=\"empty\">none</td></tr>")
    return (f"<div class=\"scroll\"><table>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _list(items: Iterable[str], cls: str = "notes") -> str:
    lis = "".join(f"<li>{_e(i)}</li>" for i in items)
    return f"<ul class=\"{cls}\">{lis}</ul>" if lis else ""


def _cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline numbers: (label, value, detail)."""
    cards = "".join(f"<div class=\"card\"><div class=\"label\">{_e(label)}</div>"
                    f"<div class=\"value\">{_e(value)}</div><div class=\"detail\">{_e(detail)}</div></div>"
                    for label, value, detail in items)
    return f"<div class=\"cards\">{cards}</div>"


def _section(sid: str, body: str) -> str:
    return f"<section id=\"{sid}\"><h2>{_e(_TITLES[sid])}</h2>{body}</section>"


# --- figures ----------------------------------------------------------------------------

def _png(draw: Callable[[Any], Any], size: tuple[float, float] = (7.0, 3.2), alt: str = "",
         panels: int = 1) -> str:
    """Draw on a fresh Agg figure; return an ``<img>`` with the PNG as a ``data:`` URI.

    ``draw`` gets one Axes, or a row of ``panels`` Axes sharing y. Labels drawn from the
    data (DAG ids, keys) are escaped by :func:`xcomlab.plots.plain`, so a ``$`` in them never
    reaches matplotlib's mathtext parser.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
    draw(fig.subplots() if panels == 1 else fig.subplots(1, panels, sharey=True))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: stable bytes
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt=\"{_e(alt)}\" src=\"data:image/png;base64,{data}\">"


# --- sections ---------------------------------------------------------------------------

def _findings(lim: LimitReport, mig: MigrationAudit, fc: Forecast, ceilings: Mapping[str, float],
              ret: RetentionReport, sec: SecretReport | None, rec: Recommendation,
              dep: Deployment) -> list[str]:
    """One line per section: what a reader of the summary alone must know.

    Ranked by what applies to this deployment: limits of another database or release
    come last, as "if you moved to …".
    """
    hard = lim.summary[(lim.summary["kind"] == "hard") & (lim.summary["rows_over"] > 0)]
    here = hard[hard["applies"].astype(bool)]
    where = dep.describe()
    out = [f"Hard limits on {where}: "
           + ", ".join(f"{int(r['rows_over']):,} row(s) over {k}" for k, r in here.iterrows()) + "."
           if len(here) else f"Hard limits on {where}: no row over any of its hard limits."]
    moved = [f"If you moved to {r['dialect']} (Airflow {r['airflow']}): {int(r['rows_over']):,} row(s) "
             f"would be over {k}." for k, r in hard[~hard["applies"].astype(bool)].iterrows()]
    if mig.verdict != "not applicable":
        out.append(f"Airflow 2 → 3 upgrade to {mig.target}: {mig.verdict}.")
    ttt = fc.time_to_thresholds(dict(ceilings))
    reach = [f"{name} {'already exceeded' if d == 0 else f'in ~{int(d):,} days'}"
             for name, d in ttt["days"].items() if not pd.isna(d)]
    out.append("Ceilings: " + (", ".join(reach) if reach else
                               f"none of {', '.join(ceilings)} reached within 10 years at the fitted growth") + ".")
    out.append(f"Retention ({_policy_text(ret.policy)}) frees {_bytes(ret.totals['bytes_freed'])} "
               f"of {_bytes(ret.totals['value_bytes'])}.")
    out.append("Secrets: values not scanned." if sec is None else
               f"Secrets: {sec.rows_flagged:,} XCom(s) hold what looks like a credential."
               if sec.rows_flagged else "Secrets: nothing found.")
    out.append(f"Backend: {rec.best.name} at {_usd(rec.table.loc[rec.best.name, 'monthly_cost_usd'])}/month.")
    return out + moved


def _actions(todo: list[Action]) -> str:
    if not todo:
        return "<div class=\"callout good\"><b>What to do</b><p>Nothing: no leak, no blocker, no cleanup or backend change called for.</p></div>"
    items = "".join(f"<li><b>{_e(a.title)}</b>. {_e(a.detail)} (<a href=\"#{a.section}\">"
                    f"{_e(_TITLES[a.section])}</a>){_list(a.items, 'plain')}<pre>{_e(a.command)}</pre></li>"
                    for a in todo)
    return f"<div class=\"callout actions\"><b>What to do</b><ol>{items}</ol></div>"


def _summary(frame: pd.DataFrame | Summary, s: dict[str, Any], dialect: str, findings: list[str],
             todo: list[Action]) -> str:
    disk = s["on_disk_bytes"]
    scope = s["on_disk_scope"]
    span = (f"{s['first_timestamp'][:10]} to {s['last_timestamp'][:10]}"
            if s["first_timestamp"] else "no timestamps")
    secrets = "not scanned" if s["secrets"] is None else _int(s["secrets"])
    cards = [("live XComs", _int(s["rows"]), "xcom table rows"),
             ("logical bytes", _bytes(s["value_bytes"]),
              f"{_int(s['value_bytes'])} B" + ("" if s["sizes_exact"] else ", some estimated")),
             *((f"{d} on disk ({scope['on_disk_bytes']})", _bytes(disk[d]),
                f"modelled, ×{s['disk_ratio'][d]:.2f}; all tables {_bytes(s['on_disk_bytes_all_tables'][d])}"
                + (", used below" if d == dialect else ""))
               for d in disk),
             *_measured_cards(s.get("measured_on_disk")),
             ("schema", str(s["airflow_schema"]), span),
             ("DAGs", _int(len(s["by_dag"])), f"{_int(s['internal_rows'])} internal rows"),
             ("secrets flagged", secrets, "XComs with a finding")]
    tables = pd.DataFrame.from_dict(s["tables"], orient="index").rename_axis("table")
    facts = [f"{_int(s['references'])} rows are references to an object store",
             f"{_int(s['pickled'])} pickled values (never unpickled here)",
             f"{_int(s['nan_values'])} values with NaN/Infinity"]
    with_notes = ["the frame carries no load report (built by hand)"]
    try:
        rep = frame.report if isinstance(frame, Summary) else xcomlab.load_report(frame)
    except XcomlabError:
        rep = None
    if rep is not None:
        with_notes = [f"load: {n}" for n in rep.notes]
        if rep.rejections:
            with_notes.append(f"load: {len(rep.rejections)} rows rejected; first at "
                              f"{rep.rejections[0].where()}: {rep.rejections[0].detail}")
    key = "".join(f"<li>{_e(f)}</li>" for f in findings)
    return (f"<div class=\"callout key\"><b>Key findings</b><ul>{key}</ul></div>" + _actions(todo)
            + _cards(cards)
            + "<h3>Tables read</h3>"
            + _table(tables, {"rows": _int, "value_bytes": _bytes})
            + _list(facts + with_notes))


def _measured_cards(m: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    if not m:
        return []
    c = m["comparison"][0]
    if c["measured_bytes"] is None:
        return []
    err = "" if c["error_pct"] is None else f"; model {c['error_pct']:+.1f}%"
    return [(f"{m['dialect']} measured ({c['scope']})", _bytes(c["measured_bytes"]), f"{m['method']}{err}")]


def _profile(p: Profile, last: pd.Timestamp | None) -> str:
    cols = {"rows": _int, "value_bytes": _bytes, "p50_bytes": _bytes, "p99_bytes": _bytes,
            "max_bytes": _bytes, "share": _pct}
    keep = list(cols)
    top = p.top_rows.drop(columns=[S.ENCODING]).assign(
        value_bytes=p.top_rows[S.VALUE_BYTES]).set_index([S.DAG_ID, S.TASK_ID])
    plots_row = ("<div class=\"figs\">"
                 + _png(lambda ax: plots.size_hist(p.sizes, ax=ax), (5.6, 3.2), "value size histogram")
                 + _png(lambda ax: plots.size_cdf(p.sizes, ax=ax), (5.6, 3.2), "value size CDF")
                 + "</div>")
    daily = (_png(lambda ax: plots.daily(p.daily, ax=ax, last_timestamp=last), (11.2, 3.0),
                  "bytes written per day")
             if len(p.daily) else "<p>No timestamps: no daily series.</p>")
    bars = (_png(lambda ax: plots.top_bar(p.by_dag, n=_TOP, ax=ax, title="Largest DAGs by value bytes"),
                 (11.2, 0.32 * min(_TOP, len(p.by_dag)) + 1.2), "largest DAGs")
            if len(p.by_dag) else "")
    return (plots_row + daily + bars
            + "<h3>Largest DAGs</h3>" + _table(p.by_dag[keep].head(_TOP), cols)
            + "<h3>Largest keys</h3>" + _table(p.by_key[keep].head(_TOP), cols)
            + "<h3>Largest single values</h3>"
            + _table(top, {"value_bytes": _bytes, "map_index": _int}))


_BADGE: Final = {"ok": "good", "not applicable": "good", "data loss": "warn", "blocked": "bad"}


def _audit(lim: LimitReport, mig: MigrationAudit) -> str:
    summary = lim.summary[["kind", "dialect", "airflow", "applies", "limit_bytes", "rows_over",
                           "largest_bytes", "what_happens"]].assign(
        applies=lim.summary["applies"].map({True: "here", False: "if you moved"}))
    over = int((lim.summary["rows_over"] > 0).sum())
    head = (f"<p>{_int(len(lim.violations))} live rows are over at least one limit; "
            f"{over} of {len(lim.summary)} limits are exceeded. Hard limits fail the write; "
            "policies are thresholds worth keeping under.</p>")
    viol = lim.violations.head(_TOP).drop(columns=[S.SOURCE_TABLE])
    verdict = (f"<p>Airflow 2 → 3 upgrade to {_e(mig.target)} on {_e(mig.dialect)}: "
               f"<span class=\"badge {_BADGE.get(mig.verdict, 'warn')}\">{_e(mig.verdict)}</span></p>")
    findings = (_table(mig.summary, {"rows": _int, "bytes": _bytes}) if len(mig.summary) else "")
    return (head + _table(summary, {"limit_bytes": _bytes, "rows_over": _int, "largest_bytes": _bytes})
            + ("<h3>Largest offending rows</h3>"
               + _table(viol, {"value_bytes": _bytes, "map_index": _int}, index=False) if len(viol) else "")
            + "<h3>Upgrade check</h3>" + verdict + findings + _list(mig.notes))


def _forecast(fc: Forecast, ceilings: Mapping[str, float], dialect: str,
              last: pd.Timestamp | None = None) -> str:
    ttt = fc.time_to_thresholds(dict(ceilings)).reset_index()
    ttt["reached"] = [("already over" if d == 0 else f"in {int(d):,} days ({date})")
                      if not pd.isna(d) else "not within 10 years"
                      for d, date in zip(ttt["days"], ttt["date"], strict=True)]
    ttt["band"] = [("–" if pd.isna(a) and pd.isna(b) else
                    f"{'>horizon' if pd.isna(a) else int(a)}–{'>horizon' if pd.isna(b) else int(b)} days")
                   for a, b in zip(ttt["earliest_days"], ttt["latest_days"], strict=True)]
    ttt = ttt.set_index("ceiling")[["ceiling_bytes", "reached", "band"]]
    total = fc.fit.iloc[0]
    days = int(total["days_fitted"])
    short = (f"<p class=\"callout\">The history is short: {days} day(s) fitted. The trend and "
             "any weekly pattern rest on little data; read the band, not the line.</p>"
             if days < SHORT_HISTORY_DAYS else "")
    horizon = len(fc.projection)
    end = fc.projection.iloc[-1]
    head = (f"<p>Live value bytes now {_bytes(fc.current_bytes)}; on disk in {_e(dialect)} (xcom table) ×"
            f"{fc.disk_ratio:.2f} = {_bytes(fc.current_bytes * fc.disk_ratio)}. Growth "
            f"{_pct(total['growth_per_month'])} per month of the write rate; in {horizon} days the "
            f"table is expected at {_bytes(end['expected'] * fc.disk_ratio)} on disk "
            f"(5–95 %: {_bytes(end['lower'] * fc.disk_ratio)} to {_bytes(end['upper'] * fc.disk_ratio)}). "
            "No retention is assumed: rows are kept forever.</p>")
    if last is not None:
        head += (f"<p class=\"partial\">The export's last day, {_e(partial_day(last))}, is partial: "
                 "it is drawn hollow and labelled “partial” in the daily chart, and the fitted "
                 "rate leaves it out, so it does not read as a drop.</p>")
    fit = fc.fit.head(_TOP + 1)[["days_fitted", "level_bytes_per_day", "growth_per_month", "weekly",
                                 "active"]]
    return (short + head + _png(lambda ax: plots.forecast(fc, ax=ax, ceilings=dict(ceilings)),
                                (11.2, 3.6), "table size forecast")
            + "<h3>Time to ceilings (on disk)</h3>" + _table(ttt, {"ceiling_bytes": _int})
            + "<h3>Fit per DAG</h3>"
            + _table(fit, {"days_fitted": _int, "level_bytes_per_day": _bytes,
                           "growth_per_month": _pct}) + _list(fc.notes))


def _policy_text(p: RetentionPolicy) -> str:
    parts = []
    if p.max_age_days is not None:
        parts.append(f"remove rows older than {p.max_age_days:g} days")
    if p.keep_last_runs is not None:
        parts.append(f"keep the last {p.keep_last_runs} runs per DAG")
    if p.per_dag:
        parts.append(f"{len(p.per_dag)} per-DAG override(s)")
    if p.key_rules:
        parts.append(f"{len(p.key_rules)} key rule(s)")
    return "; ".join(parts) or "keep everything"


def _retention(rep: RetentionReport) -> str:
    t = rep.totals
    cards = [("rows freed", _int(t["rows_freed"]), f"of {_int(t['rows'])}"),
             ("bytes freed", _bytes(t["bytes_freed"]), f"{_bytes(t['on_disk_bytes_freed'])} on disk"),
             ("left now", _bytes(t["bytes_left"]), f"{_int(t['rows_left'])} rows"),
             ("steady state", _bytes(t["steady_state_bytes"]),
              f"{_bytes(t['steady_state_on_disk_bytes'])} on disk" if not pd.isna(t["steady_state_bytes"])
              else "some DAGs keep growing")]
    cmd = (f"<h3>Equivalent command</h3><pre>{_e(rep.db_clean_command)}</pre>" if rep.db_clean_command
           else "<p>No <code>airflow db clean</code> command does the same.</p>")
    cols = ["rows", "rows_freed", "bytes_freed", "bytes_left", "bytes_per_day", "steady_state_bytes"]
    return (f"<p>Policy: {_e(_policy_text(rep.policy))}, applied as of {rep.now:%Y-%m-%d %H:%M} UTC "
            f"(on-disk ratio {rep.disk_ratio:.2f}).</p>" + _cards(cards) + cmd
            + "<h3>Limitations</h3>" + _list(rep.limitations)
            + "<h3>Per DAG</h3>"
            + _table(rep.by_dag[cols].head(_TOP), {"rows": _int, "rows_freed": _int, "bytes_freed": _bytes,
                                                   "bytes_left": _bytes, "bytes_per_day": _bytes,
                                                   "steady_state_bytes": _bytes}))


def _secrets(sec: SecretReport | None) -> str:
    if sec is None:
        return ("<p>Values were not scanned: the frame has no <code>value</code> column. Pass the "
                "export itself (<code>write_report(path, …)</code>) or a <code>SecretReport</code>.</p>")
    f = sec.findings
    head = (f"<p>{_int(sec.rows_flagged)} of {_int(sec.rows_scanned)} rows look like they hold a "
            "credential. Airflow masks secrets in logs, not in XCom: these are stored in clear "
            "text in the metadata DB and shown in the UI. Evidence is masked (first characters "
            "and length only).</p>")
    kinds = pd.DataFrame({"rows": pd.Series(sec.by_kind, dtype="int64")}).rename_axis("kind")
    cols = ["kind", "evidence", "dag_id", "task_id", "key", "map_index", "source_table", "run_id"]
    return head + (_table(kinds, {"rows": _int}) + _table(f[cols], {"map_index": _int}, index=False)
                   if len(f) else "<p>Nothing found.</p>")


_SHORT: Final = {"offloaded_share": "offloaded", "monthly_cost_usd": "USD/month",
                 "push_p50_ms": "push p50 ms", "push_p99_ms": "push p99 ms", "pull_p50_ms": "pull p50 ms",
                 "pull_p99_ms": "pull p99 ms", "peak_db_bytes": "peak DB", "object_bytes": "objects"}


def _backends(rec: Recommendation) -> str:
    t = rec.table
    ms = _num(",.1f")
    cols: dict[str, Callable[[Any], str]] = {
        "kind": str, "monthly_cost_usd": _usd, "push_p99_ms": ms, "pull_p99_ms": ms,
        "peak_db_bytes": _bytes, "offloaded_share": _pct, "violations": _int, "pareto": str,
        "object_bytes": _bytes}  # p50s left out so the table fits 1000 px: p99 is what decides
    shown = t[list(cols)].assign(pareto=t["pareto"].map({True: "yes", False: ""}))
    fmt = {_SHORT.get(k, k): v for k, v in cols.items() if k not in ("kind", "pareto")}
    shown = shown.rename(columns=_SHORT).rename_axis("candidate")
    env = "".join(f"<p>With {_e(group)} (either set, not both):</p><pre>"
                  + _e("\n".join(f"{k}={v}" for k, v in group_env.items())) + "</pre>"
                  for group, group_env in rec.settings.items() if group_env)
    return (f"<div class=\"callout good\"><p><b>Recommended: {_e(rec.best.name)}</b></p>"
            f"<p>{_e(rec.reason)}</p></div>"
            + (f"<h3>Settings</h3>{env}" if env else
               "<h3>Settings</h3><p>None needed: keep Airflow's default XCom backend.</p>")
            + _png(lambda axes: plots.candidates(t, rec.best.name, axes=axes),
                   (11.2, 0.26 * len(t) + 1.3), "cost and latency per candidate", panels=2)
            + "<h3>Candidates</h3>" + _table(shown, fmt)
            + "<h3>Pareto front</h3><p>Candidates no other beats on cost, push and pull p99 and "
              "violations at once: " + _e(", ".join(map(str, rec.pareto.index))) + ".</p>"
            + "<h3>Assumptions</h3>" + _list(rec.notes))


def _method(dialect: str, rec: Recommendation, now: datetime | None, source_name: str) -> str:
    lim_rows = pd.DataFrame([{"limit": lim.target, "bytes": lim.limit_bytes, "source": lim.source,
                              "date": lim.date} for lim in limits()]).set_index("limit")
    consts = [c for c in disk_constants().values() if c.dialect in (dialect, "any")]
    const_rows = pd.DataFrame([{"name": c.name, "value": f"{c.value:g} {c.unit}", "source": c.source,
                                "date": c.date} for c in consts]).set_index("name")
    prices = load_prices()
    used = {OBJECT_SERVICES.get(str(s), str(s)) for s in rec.table["object_store"] if s}
    used |= {svc for svc in prices["service"].unique() if str(svc).startswith(("rds-", "ebs-"))}
    price_rows = (prices[prices["service"].isin(used)]
                  .drop_duplicates(["service", "item"])[["service", "item", "unit", "price", "source", "date"]]
                  .set_index(["service", "item"]))
    stamp = f"generated {now:%Y-%m-%d %H:%M} UTC" if now is not None else "no generation time recorded"
    items = [f"xcomlab {xcomlab.__version__}; source {source_name}; {stamp}.",
             "Sizes are the bytes of each value as stored (value_bytes); on-disk sizes come from "
             "xcomlab.analysis.disk, a page-level model of PostgreSQL, MySQL/InnoDB and SQLite "
             "(constants below, xcomlab/data/storage.csv).",
             "Limits: xcomlab/data/limits.csv (docs/airflow-xcom.md#limits).",
             "Forecast: Theil–Sen trend per DAG with weekly factors and a block bootstrap band "
             "(xcomlab.analysis.forecast); ceilings 20 GB (Cloud Composer snapshots) and 50 GiB "
             "(Astronomer) per docs/managed-airflow.md#astronomer.",
             "Backends: xcomlab.recommend with prices from xcomlab/data/pricing.csv "
             "(docs/prices.md) and the latency model's defaults (docs/latency.md).",
             "Secrets: pattern rules and a secret-name + entropy rule (xcomlab.analysis.secrets); "
             "no value is decoded beyond JSON and no pickle is ever loaded.",
             "Upstream references: https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/xcoms.html "
             "and https://airflow.apache.org/docs/apache-airflow-providers-common-io/stable/xcom_backend.html "
             "(plain text, nothing is fetched)."]
    return (_list(items, "plain")
            + "<details><summary>Limits and their sources</summary>"
            + _table(lim_rows, {"bytes": _int}) + "</details>"
            + f"<details><summary>Storage constants ({_e(dialect)})</summary>" + _table(const_rows)
            + "</details><details><summary>Prices used</summary>" + _table(price_rows) + "</details>")


# --- page -------------------------------------------------------------------------------

_CSS: Final = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#d9e2ec; --bg:#f5f7fa; --accent:#1f77b4;
        --good:#2f855a; --warn:#b7791f; --bad:#c53030; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:#102a43; color:#fff; padding:24px 32px 12px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:600; }
header .sub { margin:0 0 12px; color:#bcccdc; }
nav a { color:#d9e2ec; margin-right:16px; text-decoration:none; font-size:14px; }
nav a:hover { text-decoration:underline; }
main { max-width:1180px; margin:0 auto; padding:8px 24px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:8px 24px 20px;
          margin:20px 0; }
h2 { font-size:20px; border-bottom:2px solid var(--accent); padding-bottom:4px; margin:12px 0 12px; }
h3 { font-size:15px; margin:20px 0 6px; color:#334e68; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(140px,1fr)); gap:10px; margin:12px 0; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 12px; background:#fbfcfd; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card { min-width:0; overflow-wrap:anywhere; }
.card .value { font-size:20px; font-weight:600; }
.card .detail { color:var(--muted); font-size:12px; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; font-size:13px; margin:6px 0 10px; width:100%; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top;
         overflow-wrap:anywhere; }
thead th { background:#f0f4f8; font-weight:600; overflow-wrap:normal; }
tbody tr:nth-child(even) { background:#fafbfc; }
tbody th { font-weight:500; }
.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.empty { color:var(--muted); font-style:italic; }
caption { text-align:left; color:var(--muted); }
img { max-width:100%; height:auto; display:block; margin:8px 0; }
.figs { display:grid; grid-template-columns:1fr 1fr; gap:8px; }
.figs > img { min-width:0; }
@media (max-width:900px) { .figs { grid-template-columns:1fr; } }
pre { background:#f0f4f8; border:1px solid var(--line); border-radius:6px; padding:10px;
      white-space:pre-wrap; overflow-wrap:anywhere; font-size:12.5px; }
code { font-size:13px; }
.badge { display:inline-block; padding:1px 10px; border-radius:10px; color:#fff; font-weight:600; }
.badge.good { background:var(--good); } .badge.warn { background:var(--warn); } .badge.bad { background:var(--bad); }
.callout { border-left:4px solid var(--warn); background:#fffaf0; padding:6px 14px; margin:10px 0; }
.callout.good { border-left-color:var(--good); background:#f0fff4; }
.callout.key { border-left-color:var(--accent); background:#f0f7ff; }
.callout.actions { border-left-color:var(--bad); background:#fff5f5; }
.callout ol { margin:4px 0 6px; padding-left:22px; } .callout li { margin:4px 0; }
.callout pre { background:#fff; margin:4px 0 8px; }
p.partial { color:var(--muted); font-size:13px; }
.callout ul { margin:4px 0 6px; padding-left:20px; }
ul.notes { color:var(--muted); font-size:13px; }
details { margin:6px 0; } summary { cursor:pointer; color:#334e68; font-weight:600; }
footer { text-align:center; color:var(--muted); font-size:12px; padding:0 0 24px; }
"""


def render(frame: pd.DataFrame | Summary, *, title: str | None = None, source_name: str | None = None,
           retention_policy: RetentionPolicy | None = None,
           ceilings: Mapping[str, float] = DEFAULT_CEILINGS, dialect: str | None = None,
           airflow: str | None = None, secrets: SecretReport | None = None, now: datetime | None = None, rng: RNG = 0,
           recommend_options: Mapping[str, Any] | None = None, measured: Any = None) -> str:
    """The capacity report of an XCom frame as one self-contained HTML page.

    Parameters
    ----------
    frame
        An XCom frame (:func:`xcomlab.load_export`), or its :class:`~xcomlab.summary.Summary`
        (every section from its groups; secrets as the summary's scan found them).
    title, source_name
        Page title (default from ``source_name``) and where the data came from.
    retention_policy
        The what-if policy (default :data:`DEFAULT_RETENTION`: 30 days).
    ceilings
        On-disk sizes for time-to-threshold, ``{label: bytes}``.
    dialect, airflow
        Database and Airflow release the on-disk sizes, the audit and the backends refer
        to; default: inferred from the source
        (:func:`xcomlab.ingest.deployment.infer_deployment`), PostgreSQL when it does not say.
    secrets
        A :class:`~xcomlab.analysis.secrets.SecretReport`; default: scan the frame's
        ``value`` column when it has one, else the section says values were not seen.
    now
        Generation time to print (None: none, and the output depends on the input only).
    rng
        Seed or generator of the forecast bootstrap and the latency sampling.
    recommend_options
        Passed to :func:`xcomlab.recommend.recommend` (``prices``, ``db_ceiling_bytes`` …).
    measured
        A :class:`~xcomlab.ingest.dbsize.MeasuredSize` of the connected database: shown beside
        the model with its error, and its ratio is the forecast's starting point.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> html = render(xcomlab.load_export("data/samples/af3/airflow.db"))  # doctest: +SKIP
    """
    if isinstance(frame, Summary):
        if not frame.rows:
            msg = "report: the summary has no rows; summarise an export with an xcom table"
            raise InsufficientDataError(msg)
        if secrets is None:
            secrets = summary_secrets(frame)
        dep = deployment_of(frame.report, frame.primary().airflow_schema(), dialect=dialect, airflow=airflow)
    else:
        S.validate_frame(frame)
        if not len(primary_rows(frame)):
            msg = "report: the frame has no rows; load an export with an xcom table"
            raise InsufficientDataError(msg)
        if secrets is None and S.VALUE in frame.columns:
            secrets = scan_secrets(frame)
        dep = infer_deployment(frame, dialect=dialect, airflow=airflow)
    name = source_name or ("a summary" if isinstance(frame, Summary) else "an XCom frame")
    dialect = dep.dialect_or_default
    s = summarize(frame, secrets=secrets, dialect=dep.dialect, airflow=dep.airflow)
    ratio = float(disk_ratio(frame, dialect))  # the xcom table's, as summarize reports it
    if measured is not None:
        from xcomlab.analysis.measured import measured_summary

        s["measured_on_disk"] = measured_summary(frame, measured)
        if measured.dialect == dialect and s["measured_on_disk"]["disk_ratio"]:
            ratio = float(s["measured_on_disk"]["disk_ratio"])
    seed = seed_of(rng)
    rec = recommend(frame, dialect=dialect, rng=seed, **dict(recommend_options or {}))
    lim = check_limits(frame, dialect=dep.dialect, airflow=dep.airflow)
    mig = migration_audit(frame, dialect=dialect)
    fc = forecast(frame, disk_ratio=ratio, rng=seed)
    ret = retention(frame, retention_policy or DEFAULT_RETENTION, disk_ratio=ratio)
    last = _last_write(frame)
    findings = [growth(fc, dialect, last), *_findings(lim, mig, fc, ceilings, ret, secrets, rec, dep)]
    todo = actions(secrets=secrets, retention=ret, policy_text=_policy_text(ret.policy),
                   recommendation=rec, migration=mig, dialect=dialect,
                   source=shlex.quote(name) if source_name else "SOURCE")
    body = {
        "summary": _summary(frame, s, dialect, findings, todo),
        "profile": _profile(profile(frame, top=_TOP), last),
        "audit": _audit(lim, mig),
        "forecast": _forecast(fc, ceilings, dialect, last),
        "retention": _retention(ret),
        "secrets": _secrets(secrets),
        "backends": _backends(rec),
        "method": _method(dialect, rec, now, name),
    }
    page_title = title or f"XCom capacity report: {name}"
    nav = "".join(f"<a href=\"#{sid}\">{_e(_TITLES[sid])}</a>" for sid in SECTIONS)
    sub = (f"{_int(s['rows'])} live XComs · {_bytes(s['value_bytes'])} logical · "
           f"schema {s['airflow_schema']} · {dep.describe()}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"xcomlab {_e(xcomlab.__version__)}\">"
            f"<title>{_e(page_title)}</title><style>{_CSS}</style></head>\n<body>"
            f"<header><h1>{_e(page_title)}</h1><p class=\"sub\">{_e(sub)}</p><nav>{nav}</nav></header>\n"
            "<main>" + "\n".join(_section(sid, body[sid]) for sid in SECTIONS) + "</main>"
            f"<footer>xcomlab {_e(xcomlab.__version__)} · self-contained: no scripts, no external "
            "resources</footer></body></html>\n")


def _last_write(frame: pd.DataFrame | Summary) -> pd.Timestamp | None:
    """The live rows' last timestamp (None: none has one)."""
    if isinstance(frame, Summary):
        return frame.primary().timestamps()[1]
    live = primary_rows(frame)[S.TIMESTAMP].dropna()
    return pd.Timestamp(live.max()) if len(live) else None


def write_report(source_or_frame: Any, path: str | Path, *,
                 load_options: Mapping[str, Any] | None = None, to: str | None = None,
                 figures: bool = True, frame: bool = False, **kw: Any) -> Path:
    """Summarise (or take) the data, render the report and write it to ``path``.

    A source is streamed once into a :class:`~xcomlab.summary.Summary`
    (:func:`~xcomlab.summary.summarize_source`: values scanned for secrets and sampled for
    compression as they pass, memory by groups; a database URL or ``airflow.db`` is pushed
    down; a saved summary file is read back), and every section reads it. ``frame=True`` loads the whole frame instead, read
    once through :func:`~xcomlab.analysis.secrets.scan_secrets` (``load_options={"keep_values":
    True}`` keeps its values for the backend comparison). A frame or a summary is taken as
    it is. ``**kw`` goes to :func:`render`.

    ``to`` is ``"html"`` or ``"md"`` (default: ``md`` when ``path`` ends in ``.md`` or
    ``.markdown``). The Markdown flavour has the same sections (GitHub tables, commands in
    code blocks); its charts are written as PNG files in ``<name>_figures/`` next to it and
    linked relatively, or left out with a note when ``figures=False``.
    """
    out = Path(path)
    fmt = to or ("md" if out.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in ("html", "md"):
        msg = f"report format {fmt!r}; expected 'html' or 'md'"
        raise ParameterError(msg)
    name = (Path(str(source_or_frame)).name if "://" not in str(source_or_frame)
            else str(source_or_frame).split("@")[-1])
    data: pd.DataFrame | Summary
    if isinstance(source_or_frame, pd.DataFrame | Summary):
        data, secrets = source_or_frame, kw.pop("secrets", None)
        kw.setdefault("source_name", "an XCom frame" if isinstance(data, pd.DataFrame) else "a summary")
    elif not frame:
        if isinstance(source_or_frame, str) and "://" in source_or_frame and "measured" not in kw:
            from xcomlab.ingest.dbsize import measure_sizes

            kw["measured"] = measure_sizes(source_or_frame)
        options = {k: v for k, v in dict(load_options or {}).items() if k != "keep_values"}
        data = (Summary.load(source_or_frame) if is_summary_file(source_or_frame)
                else summarize_source(source_or_frame, progress=False, **options))
        secrets = kw.pop("secrets", None)
        kw.setdefault("source_name", name)
    else:
        if isinstance(source_or_frame, str) and "://" in source_or_frame and "measured" not in kw:
            from xcomlab.ingest.dbsize import measure_sizes

            kw["measured"] = measure_sizes(source_or_frame)
        secrets = scan_secrets(source_or_frame, **dict(load_options or {}))
        assert secrets.frame is not None
        data = secrets.frame
        kw.setdefault("source_name", name)
    html = render(data, secrets=secrets, **kw)
    if fmt == "html":
        out.write_text(html, encoding="utf-8")
        return out
    from xcomlab.report_markdown import to_markdown

    folder = out.with_name(f"{out.stem}_figures")
    text, _ = to_markdown(html, figures=folder if figures else None, link_base=folder.name)
    out.write_text(text, encoding="utf-8")
    return out
