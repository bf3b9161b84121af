"""Secret rules: patterns of credentials in stored XCom values, and a vectorized batch scan.

Airflow masks secrets in logs, not in XCom (apache/airflow#40704, #72377): a task that
returns a connection string or a token stores it in clear text in the metadata DB and
shows it in the UI. Rules here are patterns with a documented shape (AWS access key
ids, PEM private keys, JWTs, ``scheme://user:password@host`` URLs, GitHub and Slack
tokens) plus a contextual rule: a secret-like *name* (XCom key or JSON field) holding a
high-entropy string.

The rules live at the ingest layer so that every consumer of a stream (the analyses and
the summaries) scans the same way: :func:`candidates` runs one RE2 prefilter
(``pyarrow.compute.match_substring_regex``) over a batch's binary value column, and only
the rows it picks (or whose XCom key has a secret-like name) reach Python, where
:func:`find_secrets` checks them. :func:`scan_batch` does both for one batch.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["FINDING_IDS", "SECRET_KINDS", "candidates", "entropy_bits", "find_secrets", "mask",
           "scan_batch", "scan_table", "scan_values", "secret_name"]

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
#: Each rule's necessary condition in RE2 (Arrow's ``match_substring_regex`` over the bytes
#: of the prefilter's candidates): a row that fails a rule's filter cannot match the rule, so
#: Python runs only the rules whose filter a row passes. Each filter matches wherever its rule
#: does: look-arounds are dropped, character counts that a multi-byte character would change
#: are relaxed, and ``\b`` always sits next to an ASCII word character (where RE2's ASCII
#: ``\b`` holds whenever Python's Unicode one does). ``tests/analysis/test_secrets_fast.py``
#: checks them against the rules.
_RULE_FILTERS: Final = {
    "aws_access_key": r"(?:AKIA|ASIA)[A-Z0-9]{16}",
    "private_key": r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY",
    "jwt": r"eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{16}",
    "url_password": r"://[^\s/:@\"'\\]*:[^\s@/\"'\\]+@[^\s\"'\\]",
    "github_token": r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60}",
    "slack_token": r"xox[abposr]-[0-9A-Za-z-]{10}",
    "gcp_api_key": r"AIza[0-9A-Za-z_-]{35}",
    "stripe_key": r"[sr]k_live_[0-9A-Za-z]{20}",
}
#: Every kind a finding can have.
SECRET_KINDS: Final = (*_RULES, "secret_named_key")
#: Substrings at least one of which every rule needs: a cheap vectorized prefilter (RE2).
#: The pattern rules need their own prefixes. The secret-named-field rule needs a JSON
#: object key holding one of the words every secret-like name contains, so a value is a
#: candidate when such a key is spelled out (``"…word…":``, escaped characters allowed
#: in the rest of the key) or when it holds a ``\uXXXX`` escape (a key whose word is
#: escaped decodes to it). A word in a value (``"status": "passed"``) is not enough: that
#: alone once made 4 % of a synthetic export's rows candidates for one finding in 10⁶.
#: XCom keys with a secret-like name are picked apart (:func:`scan_batch`).
#: Its parts, so the databases' own regex engines can spell it (:mod:`xcomlab.summary.sqlrules`):
#: the case-sensitive prefixes, the words matched in any case, and what must follow a word.
PREFILTER_PREFIXES: Final = (r"AKIA|ASIA|PRIVATE KEY|eyJ|://[^/\s]*:[^/\s]*@|gh[pousr]_|github_pat_|"
                             r"xox[abposr]-|AIza|k_live_|\\u[0-9a-fA-F]{4}")
PREFILTER_WORDS: Final = "pass|secret|token|key|credential|auth|bearer|conn"
PREFILTER_KEY_TAIL: Final = r'(?:[^"\\]|\\.)*"\s*:'
_PREFILTER: Final = f"{PREFILTER_PREFIXES}|(?i:{PREFILTER_WORDS}){PREFILTER_KEY_TAIL}"
#: The secret-named-field rule's necessary condition: a JSON key holding a secret word whose
#: value is a string of at least :data:`MIN_SECRET_CHARS` stored bytes (a character takes at
#: least one; escapes more) or a list, or a ``\uXXXX`` escape anywhere (a key may spell its
#: word with escapes). Rows with a secret-like XCom key are checked whatever it says.
_NAMED_FILTER: Final = (f'(?i:{PREFILTER_WORDS}){PREFILTER_KEY_TAIL}\\s*(?:"(?:[^"\\\\]|\\\\.){{12,}}"|\\[)'
                        r"|\\u[0-9a-fA-F]{4}")
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


def find_secrets(text: str, key: str = "", *, rules: Iterable[str] | None = None,
                 fields: bool = True) -> list[tuple[str, str]]:
    """Findings in one stored value: ``(kind, masked evidence)``, at most one per kind.

    ``rules``: the pattern rules to run (None: all); ``fields``: run the secret-named-field
    rule (:func:`scan_batch` passes what the RE2 filters left open)."""
    found: dict[str, str] = {}
    for kind in _RULES if rules is None else rules:
        rule = _RULES[kind]
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
    if fields and "secret_named_key" not in found:
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
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(
        [v.encode() if isinstance(v, str) else v for v in values], pa.binary())
    key_list = keys.to_pylist() if isinstance(keys, pa.Array | pa.ChunkedArray) else list(keys)
    words = [None if k is None else str(k) for k in key_list]
    # Pickles are never decoded; their printable strings are still scanned as bytes.
    out: list[list[tuple[str, str]]] = [[] for _ in range(len(arr))]
    for row, kind, evidence in scan_batch(arr, np.arange(len(arr), dtype=np.int64), words):
        out[row].append((kind, evidence))
    return out


def secret_name(name: str) -> bool:
    """True when an XCom key or JSON field name says it holds a secret."""
    return _secret_name(name)


def _binary(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one Arrow binary array (text is cast: the same bytes)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type):
        arr = arr.cast(pa.binary())
    elif pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_binary())
    return arr


def candidates(values: pa.Array | pa.ChunkedArray, named: np.ndarray | None = None) -> np.ndarray:
    """Positions of the rows of a batch that may hold a secret (ascending, int64).

    ``values`` are the stored values (binary or text, nulls allowed); ``named`` marks rows
    whose XCom key has a secret-like name (:func:`secret_name`). One RE2 pass over the
    values' bytes; no value is turned into a Python object. Every rule needs one of the
    prefilter's substrings, so a row not picked here has no finding.
    """
    arr = _binary(values)
    if not len(arr):
        return np.zeros(0, dtype=np.int64)
    hit = pc.match_substring_regex(arr, _PREFILTER).fill_null(False)
    mask_ = hit.to_numpy(zero_copy_only=False)
    if named is not None:
        mask_ = mask_ | named
    return np.flatnonzero(mask_).astype(np.int64)


def scan_batch(values: pa.Array | pa.ChunkedArray,
               key_codes: np.ndarray | int, key_words: Sequence[str | None]) -> list[tuple[int, str, str]]:
    """Findings of one batch: ``(row, kind, masked evidence)``, rows ascending.

    ``key_codes`` are the rows' XCom keys as codes into ``key_words`` (``-1``: null; one
    int for every row), as a built batch holds them
    (:class:`~xcomlab.ingest.pieces.Coded`). Only candidate rows (:func:`candidates`)
    are decoded.
    """
    arr = _binary(values)
    n = len(arr)
    named_words = np.array([bool(w) and _secret_name(str(w)) for w in key_words] + [False], dtype=bool)
    codes = np.full(n, key_codes, dtype=np.int64) if isinstance(key_codes, int | np.integer) \
        else np.asarray(key_codes, dtype=np.int64)
    named = named_words[codes]  # -1 (null) reads the trailing False
    rows = candidates(arr, named)
    if not len(rows):
        return []
    # Which rules each candidate can match (one RE2 pass per rule over the candidates):
    # Python decodes and checks only the rows some rule is left open for.
    cand = arr.take(pa.array(rows))
    kinds = list(_RULE_FILTERS)
    hits = np.column_stack([_matches(cand, _RULE_FILTERS[k]) for k in kinds])
    fields = _matches(cand, _NAMED_FILTER) | named[rows]
    open_ = np.flatnonzero(hits.any(axis=1) | fields)
    if not len(open_):
        return []
    picked = cand.take(pa.array(open_)).to_pylist()
    out: list[tuple[int, str, str]] = []
    for j, raw in zip(open_.tolist(), picked, strict=True):
        if raw is None:
            continue
        i = int(rows[j])
        text = raw.decode("utf-8", errors="replace")
        key = str(key_words[codes[i]]) if named[i] else ""
        which = [k for k, on in zip(kinds, hits[j].tolist(), strict=True) if on]
        out.extend((i, kind, evidence) for kind, evidence in
                   find_secrets(text, key, rules=which, fields=bool(fields[j])))
    return out


def _matches(arr: pa.Array, pattern: str) -> np.ndarray:
    """Rows of a binary array that ``pattern`` (RE2) matches somewhere, as a bool array."""
    return np.asarray(pc.match_substring_regex(arr, pattern).fill_null(False)
                      .to_numpy(zero_copy_only=False), dtype=bool)


#: The ids of a finding, as a values table (``on_value_table``) holds them.
FINDING_IDS: Final = ("source_table", "dag_id", "task_id", "run_id", "key", "map_index")


def _codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """A column as (int64 codes, -1 for null; the distinct words)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    codes = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, arr.dictionary.to_pylist()


def scan_table(table: pa.Table) -> list[dict[str, Any]]:
    """Findings of one values table (ids and ``value``, as ``load_export(on_value_table=…)``
    hands it over): one record per (row, kind) with :data:`FINDING_IDS`, ``kind`` and
    ``evidence``, ids as text (``str`` of the value, as a pandas scan spells them).
    Only candidate rows' ids and values become Python objects."""
    codes, words = _codes(table.column("key"))
    hits = scan_batch(table.column("value"), codes, [None if w is None else str(w) for w in words])
    if not hits:
        return []
    rows = sorted({h[0] for h in hits})
    picked = table.select([c for c in FINDING_IDS if c in table.column_names]).take(pa.array(rows))
    ids = dict(zip(rows, picked.to_pylist(), strict=True))
    out = []
    for row, kind, evidence in hits:
        rec = ids[row]
        out.append({"source_table": str(rec.get("source_table", "xcom")), "dag_id": str(rec["dag_id"]),
                    "task_id": str(rec["task_id"]), "run_id": str(rec.get("run_id")),
                    "key": str(rec["key"]), "map_index": int(rec.get("map_index", -1)),
                    "kind": kind, "evidence": evidence})
    return out
