"""The report as GitHub Markdown, for tickets and pull requests: the HTML page, re-serialized.

:func:`to_markdown` walks the HTML that :func:`xcomlab.report.render` writes (a small, known
set of tags) and prints the same sections in the same order: ``##`` per section with an
``<a id>`` anchor so in-page links keep working, tables as GitHub tables (cells escaped, ``|``
included), headline cards as a three-column table, commands as fenced code blocks, the
method's source tables in ``<details>``. Figures are either written as PNG files in a folder
next to the Markdown and linked relatively, or left out with a one-line note naming them.
Text is escaped for Markdown (``$`` too: GitHub would otherwise read ``$x$`` as math).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

__all__ = ["to_markdown"]

_VOID: Final = {"img", "wbr", "br", "meta", "link", "hr", "input"}
_ESCAPE: Final = re.compile(r"([\\`*_\[\]<>|$~#&!])")
_SKIP: Final = {"style", "script", "nav", "title", "head"}


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)

    def cls(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):  # tolerate a missing end tag
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


_URL: Final = re.compile(r"(https?://\S+?)(?=[\s)]|$)")


def _esc(text: str) -> str:
    """Backslash-escape Markdown syntax; URLs stay as written so GitHub links them."""
    parts = _URL.split(text)
    return "".join(p if i % 2 else _ESCAPE.sub(r"\\\1", p) for i, p in enumerate(parts))


def _fence(code: str) -> str:
    ticks = max((len(m) for m in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, ticks + 1)
    return f"{fence}\n{code.rstrip(chr(10))}\n{fence}"


class _Writer:
    def __init__(self, figures: Path | None, link_base: str) -> None:
        self.figures = figures
        self.link_base = link_base
        self.written: list[Path] = []

    # --- inline -------------------------------------------------------------------------
    def inline(self, node: _Node | str) -> str:
        if isinstance(node, str):
            return _esc(re.sub(r"\s+", " ", node))
        inner = "".join(self.inline(c) for c in node.children)
        if node.tag in ("b", "strong") or "badge" in node.cls():
            return f"**{inner.strip()}**" if inner.strip() else ""
        if node.tag == "code":
            text = re.sub(r"\s+", " ", _text(node))
            ticks = "``" if "`" in text else "`"
            return f"{ticks}{text}{ticks}"
        if node.tag == "a" and node.attrs.get("href", "").startswith("#"):
            return f"[{inner}]({node.attrs['href']})"
        if node.tag == "img":
            return self.figure(node)
        if node.tag in ("ul", "ol", "pre", "table", "div", "p"):
            return " " + self.block(node).strip().replace("\n", " ") + " "
        return inner

    def figure(self, node: _Node) -> str:
        alt = node.attrs.get("alt", "figure")
        src = node.attrs.get("src", "")
        if self.figures is None or not src.startswith("data:image/png;base64,"):
            return f"*(figure omitted: {_esc(alt)}; see the HTML report)*"
        self.figures.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", alt.lower()).strip("-") or "figure"
        path = self.figures / f"{len(self.written) + 1:02d}-{slug}.png"
        path.write_bytes(base64.b64decode(src.split(",", 1)[1]))
        self.written.append(path)
        return f"![{_esc(alt)}]({self.link_base}/{path.name})"

    # --- blocks -------------------------------------------------------------------------
    def block(self, node: _Node | str) -> str:
        if isinstance(node, str):
            text = self.inline(node).strip()
            return f"{text}\n\n" if text else ""
        tag, cls = node.tag, node.cls()
        if tag in _SKIP:
            return ""
        if tag in ("h1", "h2", "h3"):
            level = {"h1": 1, "h2": 2, "h3": 3}[tag]
            return f"{'#' * level} {''.join(self.inline(c) for c in node.children).strip()}\n\n"
        if tag == "section":
            return f'<a id="{node.attrs.get("id", "")}"></a>\n\n' + self.children(node)
        if tag == "p":
            text = "".join(self.inline(c) for c in node.children).strip()
            return f"{text}\n\n" if text else ""
        if tag == "pre":
            return _fence(_text(node)) + "\n\n"
        if tag in ("ul", "ol"):
            return self.listing(node) + "\n"
        if tag == "table":
            return self.table(node)
        if "cards" in cls:
            return self.cards(node)
        if tag == "details":
            summary = next((c for c in node.children if isinstance(c, _Node) and c.tag == "summary"), None)
            rest = _Node("div", {}, [c for c in node.children if c is not summary])
            title = _text(summary).strip() if summary else "details"
            return (f"<details><summary>{_esc(title)}</summary>\n\n"
                    f"{self.block(rest).rstrip()}\n\n</details>\n\n")
        if tag == "img":
            return self.figure(node) + "\n\n"
        if tag in ("b", "strong", "span", "a", "code"):
            return self.inline(node).strip() + "\n\n"
        return self.children(node)

    def children(self, node: _Node) -> str:
        return "".join(self.block(c) for c in node.children)

    def listing(self, node: _Node) -> str:
        out = []
        for i, li in enumerate(c for c in node.children if isinstance(c, _Node) and c.tag == "li"):
            mark = f"{i + 1}. " if node.tag == "ol" else "- "
            pad = " " * len(mark)
            text = "".join(self.inline(c) for c in li.children
                           if isinstance(c, str) or c.tag not in ("pre", "ul", "ol")).strip()
            nested = "".join(self.block(c) for c in li.children
                             if isinstance(c, _Node) and c.tag in ("pre", "ul", "ol")).rstrip()
            nested_text = "".join(f"\n{pad}{line}" if line else "\n" for line in nested.splitlines())
            out.append(f"{mark}{text}" + (f"\n{nested_text}" if nested else ""))
        return "\n".join(out) + "\n"

    def table(self, node: _Node) -> str:
        caption = next((c for c in _walk(node) if c.tag == "caption"), None)
        rows = [r for r in _walk(node) if r.tag == "tr"]
        grid = [[self.cell(c) for c in r.children if isinstance(c, _Node) and c.tag in ("th", "td")]
                for r in rows]
        if not grid:
            return ""
        width = max(len(r) for r in grid)
        grid = [r + [""] * (width - len(r)) for r in grid]
        head, body = grid[0], grid[1:]
        first = [c for c in rows[0].children if isinstance(c, _Node) and c.tag in ("th", "td")]
        right = ["num" in c.cls() for c in first] + [False] * (width - len(first))
        lines = ["| " + " | ".join(h or " " for h in head) + " |",
                 "|" + "|".join("---:" if r else "---" for r in right) + "|"]
        lines += ["| " + " | ".join(body_row) + " |" for body_row in body]
        cap = f"*{self.inline(caption).strip()}*\n\n" if caption else ""
        return cap + "\n".join(lines) + "\n\n"

    def cell(self, node: _Node) -> str:
        return "".join(self.inline(c) for c in node.children).strip() or " "

    def cards(self, node: _Node) -> str:
        rows = []
        for card in (c for c in node.children if isinstance(c, _Node)):
            parts = {next(iter(p.cls()), ""): self.cell(p) for p in card.children if isinstance(p, _Node)}
            rows.append(f"| {parts.get('label', '')} | **{parts.get('value', '')}** | {parts.get('detail', '')} |")
        return "| figure | value | detail |\n|---|---:|---|\n" + "\n".join(rows) + "\n\n"


def _walk(node: _Node) -> list[_Node]:
    out: list[_Node] = []
    for c in node.children:
        if isinstance(c, _Node):
            out.append(c)
            out.extend(_walk(c))
    return out


def _text(node: _Node | str | None) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    return "".join(_text(c) for c in node.children)


def to_markdown(html: str, *, figures: Path | None = None, link_base: str = "") -> tuple[str, list[Path]]:
    """GitHub Markdown of a report page from :func:`xcomlab.report.render`.

    Parameters
    ----------
    html
        The report's HTML.
    figures
        Folder to write each chart into as a PNG (created when there is one); None leaves
        the charts out, each replaced by a note naming it.
    link_base
        How the Markdown links the folder (relative to where the Markdown is written).

    Returns
    -------
    tuple of (str, list of Path)
        The Markdown, and the PNG files written.
    """
    tree = _Tree()
    tree.feed(html)
    tree.close()
    writer = _Writer(figures, link_base or (figures.name if figures else ""))
    text = writer.block(tree.root)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text, writer.written
