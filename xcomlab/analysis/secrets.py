"""Secret scan: XCom keys and values that look like credentials, reported masked.

Airflow masks secrets in logs, not in XCom (apache/airflow#40704, #72377): a task that
returns a connection string or a token stores it in clear text in the metadata DB and
shows it in the UI. Rules here are patterns with a documented shape (AWS access key
ids, PEM private keys, JWTs, ``scheme://user:password@host`` URLs, GitHub and Slack
tokens) plus a contextual rule: a secret-like *name* (XCom key or JSON field) holding a
high-entropy string. Cheap vectorized prefilters pick candidates; Python checks them.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab.errors import SchemaMismatchError
from xcomlab.ingest import load_export

__all__ = ["SECRET_KINDS", "SecretReport", "mask", "scan_secrets", "scan_values"]

#: A name that says "this is a secret" (keys of XComs and of JSON objects).
_SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"credential|auth|bearer|session[_-]?key|signing[_-]?key|client[_-]?secret|conn(ection)?[_-]?(uri|url|string))"
)
#: Names that contain a secret word but hold none (counts, ids, flags, expiry times).
_NOT_SECRET_NAME = re.compile(
    r"(?i)(_count|_length|_len|_id$|_ids$|_type|_url$|_expir|_ttl|_at$|_name$|_path$|_file$|tokens$|^num_|"
    r"_enabled|_required|_used|_limit)"
)
_RULES: Final = {
    # AWS: access key ids start AKIA (long-term) or ASIA (temporary), 16 upper-case/digits.
    "aws_access_key": re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "private_key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{16,}"),
    "url_password": re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s/:@\"'\\]{0,128}:([^\s@/\"'\\]{1,256})@[^\s\"'\\]"),
    "github_token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
    "slack_token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,250}"),
    "gcp_api_key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "stripe_key": re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,99}\b"),
}
#: Every kind a finding can have.
SECRET_KINDS: Final = (*_RULES, "secret_named_key")
#: Substrings at least one of which every rule needs: a cheap vectorized prefilter.
_PREFILTER: Final = (r"AKIA|ASIA|PRIVATE KEY|eyJ|://[^/\s]*:[^/\s]*@|gh[pousr]_|github_pat_|xox[abposr]-|AIza|k_live_|"
                     r"(?i:pass|secret|token|key|credential|auth|bearer|conn)")
#: Password placeholders that are not secrets.
_PLACEHOLDER = re.compile(r"^(\*+|x+|<[^>]*>|\$\{[^}]*\}|\{\{.*\}\}|%\(.*\)s|changeme|password|secret|none|null|redacted|masked)$",
                          re.IGNORECASE)
#: Minimum Shannon entropy (bits/char) and length of a value under a secret-like name.
MIN_ENTROPY_BITS: Final = 3.0
MIN_SECRET_CHARS: Final = 12


def entropy_bits(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def mask(secret: str, keep: int = 4) -> str:
    """Show only the first ``keep`` characters and the length: ``AKIA…(20 chars)``."""
    return f"{secret[:keep]}…({len(secret)} chars)"


def _looks_secret(value: str) -> bool:
    value = re.sub(r"^(?i:bearer|basic|token)\s+", "", value.strip())
    if len(value) < MIN_SECRET_CHARS or _PLACEHOLDER.match(value) or " " in value:
        return False
    if re.fullmatch(r"[0-9a-fA-F-]{36}", value):  # a UUID is an id, not a secret
        return False
    if re.fullmatch(r"\d+(\.\d+)?", value) or value.startswith(("http://", "https://", "s3://", "/")):
        return False
    return entropy_bits(value) >= MIN_ENTROPY_BITS


def _named_strings(obj: Any, name: str | None, depth: int = 0) -> Iterable[tuple[str, str]]:
    """(field name, string) pairs of a decoded JSON value."""
    if depth > 20:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _named_strings(v, str(k), depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            yield from _named_strings(v, name, depth + 1)
    elif isinstance(obj, str) and name is not None:
        yield name, obj


def _secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET_NAME.search(name)


def find_secrets(text: str, key: str = "") -> list[tuple[str, str]]:
    """Findings in one stored value: ``(kind, masked evidence)``, at most one per kind."""
    found: dict[str, str] = {}
    for kind, rule in _RULES.items():
        m = rule.search(text)
        if not m:
            continue
        if kind == "url_password":
            pw = m.group(1)
            if _PLACEHOLDER.match(pw) or pw.startswith("{{") or len(pw) < 4:
                continue
            found[kind] = mask(pw, 2)
        elif kind == "private_key":  # the PEM header names the key type; it is not secret
            found[kind] = m.group(0).strip("-")
        else:
            found[kind] = mask(m.group(0))
    if "secret_named_key" not in found:
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):  # too deep to decode: the regex rules above still ran
            obj = None
        pairs = list(_named_strings(obj, key if key else None))
        for name, value in pairs:
            if _secret_name(name) and _looks_secret(value) and not any(
                    rule.search(value) for rule in _RULES.values()):
                found["secret_named_key"] = f"{name}={mask(value, 2)}"
                break
    return list(found.items())


def scan_values(values: pa.Array | list[Any], keys: pa.Array | list[str]) -> list[list[tuple[str, str]]]:
    """Findings per value (stored bytes or text) of one batch; keys are the XCom keys."""
    arr = values if isinstance(values, pa.Array) else pa.array(
        [v.encode() if isinstance(v, str) else v for v in values], pa.binary())
    key_list = keys.to_pylist() if isinstance(keys, pa.Array) else list(keys)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.binary())
    # Pickles are never decoded; their printable strings are still scanned as bytes.
    cand = np.asarray(pc.match_substring_regex(arr, _PREFILTER).fill_null(False))
    secret_key = np.array([bool(k) and _secret_name(str(k)) for k in key_list], dtype=bool)
    out: list[list[tuple[str, str]]] = [[] for _ in range(len(arr))]
    for i in np.flatnonzero(cand | secret_key):
        raw = arr[int(i)].as_py()
        if raw is None:
            continue
        text = raw.decode("utf-8", errors="replace")
        out[i] = find_secrets(text, str(key_list[i]) if secret_key[i] else "")
    return out


@dataclass(frozen=True)
class SecretReport:
    """Rows whose key or value looks like a credential (values masked).

    Attributes
    ----------
    findings : pandas.DataFrame
        One row per (XCom, kind): ``source_table, dag_id, task_id, run_id, key,
        map_index, kind, evidence`` (masked).
    """

    findings: pd.DataFrame
    rows_scanned: int
    frame: pd.DataFrame | None = None

    @property
    def rows_flagged(self) -> int:
        """XComs with at least one finding (the ``secrets`` summary key)."""
        f = self.findings
        ids = ["source_table", "dag_id", "task_id", "run_id", "key", "map_index"]
        return len(f.drop_duplicates(ids)) if len(f) else 0

    @property
    def by_kind(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.findings["kind"].value_counts().items()}

    def __repr__(self) -> str:
        return (f"SecretReport({self.rows_flagged} of {self.rows_scanned:,} rows flagged; "
                f"{self.by_kind or 'nothing found'})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.findings.head(50).to_html(index=False)


_FINDING_COLUMNS: Final = ["source_table", "dag_id", "task_id", "run_id", "key", "map_index",
                           "kind", "evidence"]


def scan_secrets(source: Any, **load_options: Any) -> SecretReport:
    """Scan an export (any ``load_export`` source) or a frame with a ``value`` column.

    A source is streamed through :func:`xcomlab.load_export` with ``on_values``: each
    batch is scanned as it is read and only findings are kept, so values never sit in
    memory all at once. The loaded frame is in ``report.frame``.
    """
    if isinstance(source, pd.DataFrame):
        if "value" not in source.columns:
            msg = ("the frame has no value column; load it with keep_values=True or pass the "
                   "export itself to scan_secrets")
            raise SchemaMismatchError(msg)
        return SecretReport(_findings(source), len(source))
    parts: list[pd.DataFrame] = []
    frame = load_export(source, on_values=lambda batch: parts.append(_findings(batch)), **load_options)
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_FINDING_COLUMNS)
    return SecretReport(found, len(frame), frame)


def _findings(frame: pd.DataFrame) -> pd.DataFrame:
    results = scan_values(frame["value"].tolist(), frame["key"].astype(str).tolist())
    hits = [i for i, r in enumerate(results) if r]
    rows = []
    for i in hits:
        rec = frame.iloc[i]
        for kind, evidence in results[i]:
            rows.append({"source_table": str(rec.get("source_table", "xcom")), "dag_id": str(rec["dag_id"]),
                         "task_id": str(rec["task_id"]), "run_id": str(rec.get("run_id")),
                         "key": str(rec["key"]), "map_index": int(rec.get("map_index", -1)),
                         "kind": kind, "evidence": evidence})
    return pd.DataFrame(rows, columns=_FINDING_COLUMNS)
