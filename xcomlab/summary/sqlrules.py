"""SQL spellings of the loader's value rules, one class per dialect, for the push-down summary.

:mod:`xcomlab.summary.pushdown` asks the database for sizes, size buckets and encodings
without fetching values. Each rule here is the SQL twin of a test in
:mod:`xcomlab.ingest.classify` or :func:`xcomlab.summary.histogram.bucket_of`, over the
same head, tail and NaN hint the SQL loader reads (:func:`xcomlab.ingest.sqlsource.value_sql`):
where SQL cannot match the Python rule exactly, it answers *undecided* and the row's head
and tail are fetched and classified by :func:`xcomlab.ingest.classify.classify` itself.

Byte tests on text columns (PostgreSQL jsonb rendered as text, MariaDB JSON) compare
characters: every rule compares ASCII characters at positions whose earlier characters
are ASCII too, so a character test and the byte test agree.
"""

from __future__ import annotations

import bisect
import re
from datetime import UTC, datetime
from typing import Final

import pandas as pd

from xcomlab.ingest.classify import CODES, MAX_REF_BYTES
from xcomlab.ingest.secret_rules import _PREFILTER
from xcomlab.summary.histogram import EDGES

__all__ = ["HARD", "SqlRules", "rules_for"]

#: The class code of a row SQL leaves to Python.
HARD: Final = -1
_WS = "\t\n\f\r "  # RE2's \s, the class the Python rules' regexes use
_DIGITS = "0123456789"
_SPACE = "\t\n\v\f\r "  # what the classifier's byte shortcuts leave to its regexes
_SERDE_KEYS = ('{"__classname__"', '{"__type"', '{"__var"')
_DOUBLE_LITERAL = '^"((true|false|null)|( *-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)? *))"'

_SERDE_HEAD = '^\\{[' + _WS + ']*"(__classname__|__type|__var)"[' + _WS + ']*:'
_SERDE_TAIL = ('"(__classname__|__type)"[' + _WS + ']*:[' + _WS + ']*"[^"\\\\]*"[' + _WS + ']*\\}['
               + _WS + ']*')
_RE2_SPACE = "[\t\n\f\r ]"


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (``|`` outside groups, classes and escapes)."""
    out, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*out, pattern[start:]]


def _secret_patterns() -> tuple[str, str]:
    """The secret prefilter (:mod:`xcomlab.ingest.secret_rules`) as its case-sensitive
    alternatives and its case-insensitive ones (``(?i:words)rest`` as ``(?:words)rest``,
    matched case-insensitively: a superset, which is all a prefilter needs), ``\\s`` in a
    class spelled out as RE2's (so no engine that counts ``\\v`` as a space matches less)."""
    cs: list[str] = []
    ci: list[str] = []
    for alt in _alternatives(_PREFILTER):
        if alt.startswith("(?i:"):
            ci.append("(?:" + alt.removeprefix("(?i:"))
        else:
            cs.append(alt.replace("[^/\\s]", "[^/\t\n\f\r ]"))
    return "|".join(cs), "|".join(ci)


SECRET_CS, SECRET_CI = _secret_patterns()
#: Sizes up to this have a bucket each (``bucket_of(s) == s``).
_EXACT_BUCKETS: Final = int(next(i for i in range(len(EDGES)) if EDGES[i] != i)) - 1
#: ``floor(ln(s) / ln(1.04)) + _LOG_OFFSET`` is ``bucket_of(s)`` to within one bucket past the exact ones.
_LOG_OFFSET: Final = -57
#: Largest stored value any supported database holds (MariaDB LONGBLOB: 4 GiB) — with margin.
_MAX_SIZE: Final = 2**45


class SqlRules:
    """SQL fragments over a row's head ``h``, tail ``tl``, size ``vb`` and NaN hint ``nn``."""

    dialect = ""
    #: End-of-text anchor of the dialect's regex engine (never "before a final newline").
    end = "$"

    def __init__(self, binary: bool) -> None:
        self.binary = binary

    # -- literals and byte tests ------------------------------------------------------
    def lit(self, text: str) -> str:
        """A literal of ASCII ``text`` comparable with the value's type."""
        raise NotImplementedError

    def at(self, e: str, k: int) -> str:
        """Character (byte) ``k`` (0-based) of ``e``."""
        raise NotImplementedError

    def last(self, e: str) -> str:
        raise NotImplementedError

    def prefix(self, e: str, n: int) -> str:
        raise NotImplementedError

    def contains(self, e: str, needle: str) -> str:
        raise NotImplementedError

    def regex(self, e: str, param: str) -> str:
        """``e`` matches the bound pattern ``:param``."""
        raise NotImplementedError

    def tail_exact(self, e: str) -> str:
        """True where :meth:`regex` on the tail agrees with RE2 on its bytes."""
        return "1=1"

    def bucket(self, vb: str) -> str:
        raise NotImplementedError

    def day(self, ts: str, aware: bool) -> str:
        raise NotImplementedError

    def instant(self, ts: str, agg: str) -> str:
        """``agg`` (``MIN``/``MAX``) of timestamps ``ts`` compared as instants, as
        microseconds since the epoch (a naive timestamp read as UTC, as the loader reads it)."""
        raise NotImplementedError

    def one_of(self, e: str, chars: str) -> str:
        return f"{e} IN ({', '.join(self.lit(c) for c in chars)})"

    def whole(self, e: str) -> str:
        """``e`` as compared with :meth:`lit` (byte-wise)."""
        return e

    def patterns(self) -> dict[str, str]:
        return {"serde_head": _SERDE_HEAD, "serde_tail": _SERDE_TAIL + self.end,
                "double_literal": _DOUBLE_LITERAL + self.end, "secret_cs": SECRET_CS,
                "secret_ci": SECRET_CI, "secret": f"{SECRET_CS}|(?i:{SECRET_CI})"}

    def secret(self, v: str) -> str:
        """True where the value may hold a secret: a superset of the prefilter's rows."""
        return f"{self.regex(v, 'secret')}"

    # -- the rules ---------------------------------------------------------------------
    def encoding(self, json_3x: bool, v: str = "v", h: str = "h", tl: str = "tl", vb: str = "vb",
                 nn: str = "nn", p: str | None = None, e: str | None = None, u: str | None = None) -> str:
        """The class code (:data:`xcomlab.ingest.classify.CODES`) SQL can decide, else :data:`HARD`.

        ``v`` is the value as the loader reads it, ``h`` / ``tl`` its head and tail, ``vb``
        its size, ``nn`` the loader's NaN hint. As in :func:`xcomlab.ingest.classify.classify`,
        a value's first and last characters decide most rows and a regex runs only on
        the rows they leave open. Decided rows have ``has_nan`` false and no reference:
        every row that could hold either (a NaN hint, an URL string, an xcomlab envelope)
        is left to Python. ``p`` (the value's first 17 characters) and ``e`` (its last
        two), when given, are read instead of ``v`` for the character tests. ``u``, when
        given, is true where an object holds ``"__`` (each of its serde tail keys and the
        xcomlab envelope's key start so): where it is false the tail is never read.
        """
        first17 = p or v
        last2 = e or v
        j, s, pk, n, dj = CODES["json"], CODES["serde"], CODES["pickle"], CODES["null"], CODES["double_json"]
        first, second = self.at(first17, 0), self.at(first17, 1)
        small = f"{vb} <= {MAX_REF_BYTES}"
        pickle = f"WHEN {first} = {self._byte(0x80)} THEN {pk} " if self.binary else ""
        q = chr(34)
        sure_serde = " OR ".join(f"{self.prefix(first17, len(k) + 1)} = {self.lit(k + ':')}" for k in _SERDE_KEYS)
        spaced = " OR ".join(f"({self.prefix(first17, len(k))} = {self.lit(k)} AND "
                             f"{self.one_of(self.at(first17, len(k)), _SPACE)})"
                             for k in _SERDE_KEYS)
        tail_open = (f"{self.one_of(self.last(last2), _SPACE)} OR ({self.last(last2)} = {self.lit('}')} AND "
                     f"{self.one_of(self.second_last(last2), q + _SPACE)})")
        # values of at most 7 bytes are their own first 17 characters
        literal = " OR ".join(f"{self.whole(first17)} = {self.lit(w)}" for w in ("null", "true", "false"))
        words = " OR ".join(f"{self.whole(first17)} = {self.lit(q + w + q)}" for w in ("null", "true", "false"))
        double = (f"WHEN {self.one_of(second, _DIGITS)} OR ({second} = {self.lit('-')} AND "
                  f"{self.one_of(self.at(first17, 2), _DIGITS)}) THEN CASE "
                  f"WHEN {self.regex(h, 'double_literal')} THEN {dj} "
                  f"WHEN {self.contains(h, chr(92))} THEN {HARD} ELSE {j} END "
                  f"WHEN {self.one_of(second, '{[')} THEN {HARD} "
                  f"WHEN {vb} <= 7 AND ({words}) THEN {dj} ") if json_3x else ""
        return (
            f"CASE WHEN {vb} IS NULL THEN {n} {pickle}"
            f"WHEN {nn} THEN {HARD} "
            f"WHEN {first} = {self.lit('{')} THEN CASE "
            f"WHEN {small} AND {u + ' AND ' if u else ''}{self.contains(h, q + '__xcomlab__' + q)} THEN {HARD} "
            f"WHEN {sure_serde} THEN {s} "
            f"WHEN ({self.one_of(second, _SPACE)} OR {spaced}) AND {self.regex(h, 'serde_head')} THEN {s} "
            f"{f'WHEN NOT ({u}) THEN {j} ' if u else ''}"
            f"WHEN NOT ({tail_open}) THEN {j} "
            f"WHEN NOT ({self.contains(tl, q + '__')}) THEN {j} "  # both tail keys start so
            f"WHEN NOT ({self.tail_exact(tl)}) THEN {HARD} "
            f"WHEN {self.regex(tl, 'serde_tail')} THEN {s} ELSE {j} END "
            f"WHEN {self.one_of(first, '[' + _DIGITS)} THEN {j} "
            f"WHEN {first} = {self.lit('-')} AND {self.one_of(second, _DIGITS)} THEN {j} "
            f"WHEN {first} = {self.lit(q)} THEN CASE {double}"
            f"WHEN {small} AND {self.last(h)} = {self.lit(q)} AND {self.contains(h, '://')} "
            f"THEN {HARD} ELSE {j} END "
            f"WHEN {vb} <= 5 AND ({literal}) THEN {j} "
            f"ELSE {HARD} END")

    def second_last(self, e: str) -> str:
        raise NotImplementedError

    def _byte(self, b: int) -> str:
        raise NotImplementedError


class PostgresRules(SqlRules):
    dialect = "postgresql"

    def lit(self, text: str) -> str:
        if self.binary:
            return f"'\\x{text.encode().hex()}'::bytea"
        return "'" + text.replace("'", "''") + "'"

    def _byte(self, b: int) -> str:
        return f"'\\x{b:02x}'::bytea"

    def at(self, e: str, k: int) -> str:
        return f"substring({e} from {k + 1} for 1)" if self.binary else f"substr({e}, {k + 1}, 1)"

    def last(self, e: str) -> str:
        return f"substring({e} from octet_length({e}) for 1)" if self.binary else f"right({e}, 1)"

    def prefix(self, e: str, n: int) -> str:
        return f"substring({e} from 1 for {n})" if self.binary else f"left({e}, {n})"

    def second_last(self, e: str) -> str:
        return (f"substring({e} from octet_length({e}) - 1 for 1)" if self.binary
                else f"left(right({e}, 2), 1)")

    def suffix(self, e: str, n: int) -> str:
        """The last ``n`` characters (bytes) of ``e``."""
        return (f"substring({e} from greatest(octet_length({e}) - {n - 1}, 1))" if self.binary
                else f"right({e}, {n})")

    def contains(self, e: str, needle: str) -> str:
        return f"position({self.lit(needle)} in {e}) > 0" if self.binary else \
            f"strpos({e}, {self.lit(needle)}) > 0"

    def regex(self, e: str, param: str) -> str:
        # bytea: 'escape' keeps printable ASCII as is (a backslash or a high byte becomes
        # an escape, where these ASCII-only patterns stop matching on both sides)
        return f"encode({e}, 'escape') ~ :{param}" if self.binary else f"{e} ~ :{param}"

    def tail_exact(self, e: str) -> str:
        return f"strpos(encode({e}, 'escape'), '\\') = 0" if self.binary else "true"

    def secret(self, v: str) -> str:
        # no (?i:…) group in PostgreSQL's regexes: the words match case-insensitively (~*)
        t = f"encode({v}, 'escape')" if self.binary else v
        return f"({t} ~ :secret_cs OR {t} ~* :secret_ci)"

    def bucket(self, vb: str) -> str:
        edges = ",".join(str(int(x)) for x in EDGES)
        return f"(width_bucket({vb}::bigint, '{{{edges}}}'::bigint[]) - 1)"

    def day(self, ts: str, aware: bool) -> str:
        return f"({ts} AT TIME ZONE 'UTC')::date" if aware else f"{ts}::date"

    def instant(self, ts: str, agg: str) -> str:
        return f"(extract(epoch from {agg}({ts})) * 1000000)::bigint"


class MysqlRules(SqlRules):
    dialect = "mysql"
    end = "\\z"

    def lit(self, text: str) -> str:
        return f"X'{text.encode().hex()}'"

    def _byte(self, b: int) -> str:
        return f"X'{b:02x}'"

    def _b(self, e: str) -> str:
        return e if self.binary else f"CAST({e} AS BINARY)"

    def at(self, e: str, k: int) -> str:
        return self._b(f"SUBSTRING({e}, {k + 1}, 1)")

    def last(self, e: str) -> str:
        return self._b(f"RIGHT({e}, 1)")

    def prefix(self, e: str, n: int) -> str:
        return self._b(f"LEFT({e}, {n})")

    def second_last(self, e: str) -> str:
        return self._b(f"LEFT(RIGHT({e}, 2), 1)")

    def whole(self, e: str) -> str:
        return self._b(e)

    def contains(self, e: str, needle: str) -> str:
        return f"LOCATE({self.lit(needle)}, {self._b(e)}) > 0"

    def regex(self, e: str, param: str) -> str:
        return f"({self._b(e)} REGEXP :{param})"

    def bucket(self, vb: str) -> str:
        top = bisect.bisect_right(EDGES.tolist(), _MAX_SIZE)
        edges = ",".join(str(int(x)) for x in EDGES[:top + 1])
        est = f"(FLOOR(LN({vb}) / LN(1.04)) + ({_LOG_OFFSET}))"
        return (f"CASE WHEN {vb} IS NULL THEN NULL WHEN {vb} <= {_EXACT_BUCKETS} THEN {vb} ELSE "
                f"{est} + ({vb} >= CAST(ELT({est} + 2, {edges}) AS UNSIGNED)) "
                f"- ({vb} < CAST(ELT({est} + 1, {edges}) AS UNSIGNED)) END")

    def day(self, ts: str, aware: bool) -> str:
        return f"DATE({ts})"

    def instant(self, ts: str, agg: str) -> str:
        return f"TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {agg}({ts}))"


class SqliteRules(SqlRules):
    dialect = "sqlite"
    end = "\\Z"

    def lit(self, text: str) -> str:
        return f"x'{text.encode().hex()}'"

    def _byte(self, b: int) -> str:
        return f"x'{b:02x}'"

    def at(self, e: str, k: int) -> str:
        return f"substr({e}, {k + 1}, 1)"

    def last(self, e: str) -> str:
        return f"substr({e}, -1)"

    def prefix(self, e: str, n: int) -> str:
        return f"substr({e}, 1, {n})"

    def second_last(self, e: str) -> str:
        return f"substr({e}, -2, 1)"

    def contains(self, e: str, needle: str) -> str:
        return f"instr({e}, {self.lit(needle)}) > 0"

    def regex(self, e: str, param: str) -> str:
        return f"xcomlab_regexp(:{param}, {e})"

    def bucket(self, vb: str) -> str:
        return f"xcomlab_bucket({vb})"

    def day(self, ts: str, aware: bool) -> str:
        return f"date({ts})"

    def instant(self, ts: str, agg: str) -> str:
        # text compared as text puts '2026-01-01T…' after '2026-01-01 …' whatever the times:
        # compare each as its UTC instant in one fixed-width spelling (:func:`sqlite_instant`)
        return f"{agg}(xcomlab_instant({ts}))"


def rules_for(dialect: str, binary: bool) -> SqlRules:
    """The rules of ``dialect`` (``postgresql``, ``mysql``/``mariadb``, ``sqlite``) for a
    value column that is binary (bytea/BLOB) or text (jsonb rendered, JSON)."""
    if dialect == "postgresql":
        return PostgresRules(binary)
    if dialect in ("mysql", "mariadb"):
        return MysqlRules(binary)
    return SqliteRules(True)  # CAST(value AS BLOB): bytes whatever the column holds


# -- Python functions SQLite calls --------------------------------------------------------

_EDGE_LIST: Final = [int(x) for x in EDGES]
_COMPILED: dict[str, re.Pattern[bytes]] = {}


def sqlite_bucket(size: int | None) -> int | None:
    """:func:`~xcomlab.summary.histogram.bucket_of` of one size (SQLite's ``xcomlab_bucket``)."""
    if size is None:
        return None
    return bisect.bisect_right(_EDGE_LIST, int(size)) - 1


_NANOS: Final = re.compile(r"\.\d{7}")


def sqlite_instant(value: object) -> object:
    """A stored timestamp as ``YYYY-MM-DD HH:MM:SS.ffffff[nnn]`` in UTC (naive read as UTC),
    so that text order is time order (SQLite's ``xcomlab_instant``); what does not parse
    is returned as it is (the loader's check reports it)."""
    if not isinstance(value, str):
        return value
    try:
        fast = None if _NANOS.search(value) else datetime.fromisoformat(value)  # quick; Airflow writes µs
    except ValueError:
        fast = None
    if fast is not None:
        if fast.tzinfo is not None:
            fast = fast.astimezone(UTC).replace(tzinfo=None)
        return fast.isoformat(sep=" ", timespec="microseconds")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return value
    if stamp is pd.NaT:
        return value
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    text = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"{text}{stamp.nanosecond:03d}" if stamp.nanosecond else text


def sqlite_regexp(pattern: str, value: bytes | str | None) -> int:
    """``re.search`` on a value's bytes (SQLite's ``xcomlab_regexp``)."""
    if value is None:
        return 0
    rx = _COMPILED.get(pattern)
    if rx is None:
        rx = _COMPILED[pattern] = re.compile(pattern.encode(), re.DOTALL)
    data = value.encode() if isinstance(value, str) else bytes(value)
    return 1 if rx.search(data) else 0
