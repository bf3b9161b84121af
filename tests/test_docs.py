"""The repo explains itself: every citation of a Markdown page points at a page (and section)
that exists in the repo, nothing cites research notes kept outside it, and no committed text
holds an absolute path of a build machine."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What is scanned: the code, tests, notebooks, benchmarks, the docs and the README.
SCANNED = ("xcomlab", "tests", "notebooks", "benchmarks", "docs", "README.md")
#: Top-level folders whose paths, when cited, must exist.
LOCAL_ROOTS = frozenset({"docs", "benchmarks", "tests", "xcomlab", "notebooks", "data", ".ci"})

#: Research notes that live outside the repo (cite the docs/ page instead). Spelled in pieces
#: so that this file does not match itself.
_OUTSIDE_NOTES = ("model_parameters", "airflow_xcom", "user_needs_and_peers", "aesthetics_anchors")
OUTSIDE = re.compile(r"\b(?:" + "reference" + r"/[\w.-]+\.md|(?:" + "|".join(_OUTSIDE_NOTES)
                     + r")\.md)")
#: A Markdown path, optionally with a section anchor; not part of a URL or a longer path.
MD_PATH = re.compile(r"(?<![\w/.:@-])(?P<path>(?:\.\.?/)*(?:[\w.-]+/)*[\w.-]+\.md)"
                     r"(?:#(?P<anchor>[\w-]+))?")
#: An absolute path on a developer's or build machine (home folders, the build workspace).
ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:" + "work" + r"|home|root|Users)/[\w.-]")
ANCHOR_ID = re.compile(r"""<a\s+(?:id|name)=["']([\w-]+)["']""")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _text_files() -> list[Path]:
    """Committed text files under :data:`SCANNED` (a plain walk outside a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *SCANNED], cwd=ROOT,
                             capture_output=True, check=True).stdout
        paths = [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for s in SCANNED for p in ([ROOT / s] if (ROOT / s).is_file()
                                               else (ROOT / s).rglob("*")) if p.is_file()]
    files = []
    for p in paths:
        if not p.is_file():
            continue
        data = p.read_bytes()
        if b"\0" in data[:8192]:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files.append(p)
    return files


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def anchors_of(page: Path) -> frozenset[str]:
    """Section anchors of a Markdown page: explicit ``<a id>`` ids and heading slugs."""
    text = page.read_text(encoding="utf-8")
    return frozenset(ANCHOR_ID.findall(text)) | {_slug(h) for h in HEADING.findall(text)}


def _resolve(path: str, citing: Path, *, link: bool) -> Path | None:
    """The file a cited ``.md`` path names, or None when it is not a repo path.

    ``link``: the path is the target of a Markdown link, so relative to the citing file.
    """
    parts = Path(path).parts
    if link or path.startswith(("./", "../")):
        return (citing.parent / path).resolve()
    if parts[0] in LOCAL_ROOTS:
        return ROOT / path
    if path in ("README.md", "CHANGELOG.md"):
        near = citing.parent / path
        return near if near.exists() else ROOT / path
    return None


def problems(text: str, citing: Path) -> list[str]:
    """What is wrong with the citations and paths in ``text`` (a file at ``citing``)."""
    found: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"{citing.relative_to(ROOT) if citing.is_relative_to(ROOT) else citing}:{lineno}"
        for m in OUTSIDE.finditer(line):
            found.append(f"{where}: cites {m.group(0)!r}, a note outside the repo; cite docs/")
        for m in ABSOLUTE.finditer(line):
            found.append(f"{where}: absolute build-machine path near {line[m.start():m.start() + 40]!r}")
        for m in MD_PATH.finditer(line):
            link = line[max(m.start() - 2, 0):m.start()] == "]("
            target = _resolve(m.group("path"), citing, link=link)
            if target is None:
                continue
            if not target.is_file():
                found.append(f"{where}: cites {m.group('path')!r}, which is not in the repo")
            elif m.group("anchor") and m.group("anchor") not in anchors_of(target):
                found.append(f"{where}: {m.group('path')} has no section #{m.group('anchor')}")
    return found


def test_every_citation_resolves() -> None:
    files = _text_files()
    assert len(files) > 50, "the scan found too few files to be meaningful"
    found = [p for f in files if f != Path(__file__).resolve()
             for p in problems(f.read_text(encoding="utf-8"), f)]
    assert not found, "\n".join(found)


def test_docs_pages_have_anchors_and_cite_sources() -> None:
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert {p.name for p in pages} >= {"README.md", "airflow-xcom.md", "storage.md",
                                       "latency.md", "prices.md", "methods.md"}
    for page in pages:
        if page.name == "README.md":
            continue
        assert len(ANCHOR_ID.findall(page.read_text(encoding="utf-8"))) >= 3, page.name


@pytest.mark.parametrize(("text", "expected"), [
    ("see reference/" + "airflow_xcom.md §4", "outside the repo"),
    ("(" + "model_parameters" + ".md §2c)", "outside the repo"),
    ("in ``/" + "work/shared/notes.md``", "absolute build-machine path"),
    ("python at /" + "root/.pyenv/versions/3.12/bin", "absolute build-machine path"),
    ("docs/no-such-page.md", "not in the repo"),
    ("docs/storage.md#no-such-section", "has no section #no-such-section"),
    ("[link](../docs/latency.md#nope)", "has no section #nope"),
])
def test_checker_flags(text: str, expected: str) -> None:
    found = problems(text, ROOT / "xcomlab" / "example.py")
    assert any(expected in p for p in found), found


@pytest.mark.parametrize("text", [
    "docs/storage.md#toast",
    "see docs/airflow-xcom.md#common-io-threshold and benchmarks/CHANGELOG.md",
    "https://github.com/x/y/blob/main/README.md#usage",
    "object_base='file:///tmp/xcom'",
    "fernet/spec Spec.md",
    "s3://bucket/home/x and db/root/y",
])
def test_checker_accepts(text: str) -> None:
    assert problems(text, ROOT / "xcomlab" / "example.py") == []


def test_links_resolve_from_the_citing_page() -> None:
    page = ROOT / "docs" / "example.md"
    assert problems("[toast](storage.md#toast), [index](README.md)", page) == []
    assert problems("[x](storage.md#nope)", page) == [
        "docs/example.md:1: storage.md has no section #nope"]
