"""The CLI's terminal output: tables and wrapped text that fit 100 columns, plain in pipes.

Built on `rich <https://rich.readthedocs.io>`_: on a terminal, headings are bold and
tables have a rule under their header; when stdout is not a terminal (a pipe, a file,
a test) the same layout is printed with no escape codes. Text is wrapped, never cut;
figures go through :mod:`xcomlab.units` (binary byte units, thousands separators).
rich loads when the first :class:`Out` is made, so ``--json`` output never imports it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import IO, TYPE_CHECKING, Any

from xcomlab.units import MISSING, format_bytes, format_count, format_share

if TYPE_CHECKING:
    from rich.box import Box

__all__ = ["WIDTH", "Col", "Out", "counts", "date", "days", "load_line", "rows_table", "size_table"]

#: Widest line the CLI prints.
WIDTH = 100


@cache
def _plain() -> Box:
    """A rule under the header only, in ASCII for pipes (box drawing on terminals)."""
    from rich.box import Box

    return Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


@dataclass(frozen=True)
class Col:
    """One table column: its header, and whether it holds figures (right-aligned, unwrapped)."""

    header: str
    number: bool = False
    #: Whether this column gives up width first (long free text, run ids): the others
    #: keep their natural width as long as the table fits.
    flex: bool = False


class Out:
    """Where a command prints: a :class:`rich.console.Console` on ``file`` (stdout)."""

    def __init__(self, file: IO[str] | None = None) -> None:
        from rich.console import Console

        file = file if file is not None else sys.stdout
        tty = bool(getattr(file, "isatty", lambda: False)())
        width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns) if tty else WIDTH
        self.tty = tty
        self.console = Console(file=file, width=width, markup=False, highlight=False, emoji=False,
                               force_terminal=tty, no_color=not tty, soft_wrap=False)

    def _print(self, renderable: Any, **kw: Any) -> None:
        """Print, with the padding rich leaves at line ends removed."""
        with self.console.capture() as cap:
            self.console.print(renderable, **kw)
        text = "\n".join(line.rstrip() for line in cap.get().split("\n"))
        self.console.file.write(text)
        self.console.file.flush()

    def line(self, text: str = "", *, bold: bool = False, indent: int = 0) -> None:
        """A paragraph, wrapped at the width (continuation lines indented by ``indent``)."""
        from rich.table import Table
        from rich.text import Text

        style = "bold" if bold and self.tty else ""
        if indent and text:
            table = Table.grid(padding=0)
            table.add_column(width=indent, no_wrap=True)
            table.add_column(overflow="fold")
            table.add_row(Text(text[:indent]), Text(text[indent:], style=style))
            self._print(table)
            return
        self._print(Text(text, style=style, overflow="fold"))

    def heading(self, text: str) -> None:
        self._print("")
        self.line(text, bold=True)

    def note(self, text: str) -> None:
        """``note: …`` with wrapped lines under its text."""
        self.line(f"note: {text}", indent=6)

    def notes(self, texts: Iterable[str]) -> None:
        for t in texts:
            self.note(t)

    def table(self, columns: Sequence[Col], rows: Iterable[Sequence[Any]]) -> None:
        """Rows of already formatted cells under ``columns``; text columns wrap to fit."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        cells = [["" if v is None else str(v) for v in row] for row in rows]
        t = Table(box=_plain() if not self.tty else box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  header_style="bold" if self.tty else "", expand=False, collapse_padding=True)
        # Figures keep their width (min_width) and never fold; long headers wrap instead.
        for c, least in zip(columns, self._min_widths(columns, cells), strict=True):
            t.add_column(c.header, justify="right" if c.number else "left", overflow="fold",
                         min_width=least)
        for row in cells:
            t.add_row(*(Text(v) for v in row))
        self._print(t)

    def _min_widths(self, columns: Sequence[Col], cells: list[list[str]]) -> list[int]:
        """Each column's natural width, flex columns squeezed first, then all text columns
        alike, until the table fits the width (figures never wrap)."""
        natural = [max([len(w) for w in c.header.split()] + [len(r[i]) for r in cells] + [1])
                   if not c.number else max([len(r[i]) for r in cells] + [1])
                   for i, c in enumerate(columns)]
        room = self.console.width - 2 * (len(columns) - 1)
        least = [n if not c.flex else min(n, 12) for n, c in zip(natural, columns, strict=True)]
        text = [i for i, c in enumerate(columns) if not c.number]
        while sum(least) > room and any(least[i] > 6 for i in text):
            widest = max(text, key=lambda i: least[i])
            least[widest] -= 1
        return least

    def command(self, cmd: str) -> None:
        """A shell command, split with ``\\`` continuations to fit (it stays copy-pasteable)."""
        from rich.text import Text

        width = self.console.width - 2
        parts = cmd.split(" --")
        lines = [parts[0]]
        for p in parts[1:]:
            piece = "--" + p
            if len(lines[-1]) + 1 + len(piece) + 2 > width:
                lines[-1] += " \\"
                lines.append("    " + piece)
            else:
                lines[-1] += " " + piece
        for ln in lines:
            self._print(Text(ln), soft_wrap=True)


# ------------------------------------------------------------------ per command

def days(x: Any) -> str:
    """Whole days, or ``–`` when missing (not reached within the horizon)."""
    return format_count(x)


def where(r: Any) -> str:
    """Where an XCom row is, in one wrappable phrase: ``dag.task[2] key k, run r (table t)``."""
    mapped = f"[{r.map_index}]" if r.map_index is not None and str(r.map_index) not in ("-1", "<NA>") else ""
    table = "" if getattr(r, "source_table", "xcom") == "xcom" else f" (table {r.source_table})"
    return f"{r.dag_id}.{r.task_id}{mapped} key {r.key}, run {r.run_id}{table}"


def date(x: Any) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return MISSING
    text = str(x)
    return MISSING if text in ("NaT", "<NA>", "None") else text[:10]


def counts(d: dict[str, Any]) -> str:
    """``{'a': 2, 'b': 0}`` → ``a 2``: the non-zero counts, largest first."""
    items = sorted(((k, v) for k, v in d.items() if v), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:,}" for k, v in items)


def size_table(out: Out, frame: Any, name: str) -> None:
    """Rows, bytes and size quantiles per group (profile's by_dag / by_key)."""
    cols = [Col(name), Col("rows", True), Col("value bytes", True), Col("p50", True),
            Col("p90", True), Col("p99", True), Col("max", True), Col("share", True)]
    out.table(cols, ([str(idx), format_count(r.rows), format_bytes(r.value_bytes), format_bytes(r.p50_bytes),
                      format_bytes(r.p90_bytes), format_bytes(r.p99_bytes), format_bytes(r.max_bytes),
                      format_share(r.share)] for idx, r in frame.iterrows()))


def load_line(out: Out, rep: Any) -> None:
    """Where the rows came from: the source, rows per table, rejections, exactness."""
    tables = "; ".join(f"{t.table} {t.rows_read:,} rows" for t in rep.tables)
    exact = "exact" if all(t.sizes_exact for t in rep.tables) else "approximate (see notes)"
    out.line(f"Source: {rep.source} ({rep.format}): {tables}; {len(rep.rejections):,} rejected; "
             f"sizes {exact}")


def rows_table(out: Out, frame: Any, extra: Sequence[tuple[str, str, bool]] = ()) -> None:
    """XCom rows by their ids, then value size and ``extra`` (column, header, is figure)."""
    cols = [Col("dag_id"), Col("task_id"), Col("run_id", flex=True), Col("key"), Col("map", True),
            Col("size", True), *(Col(h, num) for _c, h, num in extra)]
    if "source_table" in frame.columns and frame["source_table"].nunique() > 1:
        cols.insert(0, Col("table", flex=True))
    show_table = cols[0].header == "table"

    def cells(r: Any) -> list[str]:
        row = [r.dag_id, r.task_id, r.run_id, r.key, format_count(r.map_index), format_bytes(r.value_bytes)]
        row += [", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
                for v in (getattr(r, c) for c, _h, _n in extra)]
        return [r.source_table, *row] if show_table else row

    out.table(cols, (cells(r) for r in frame.itertuples(index=False)))
