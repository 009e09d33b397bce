"""The report as one self-contained HTML file: figures inline as SVG, tables as tables.

Nothing is fetched: no stylesheet, font, script or image from elsewhere, so the file reads
the same attached to a pull request, in a CI artifact or offline. The page needs no script;
a few lines sort a table by the column clicked, where scripts run. Everything from the
data is escaped (`html.escape`); the page model is the PDF's, set as a web page.
"""

from __future__ import annotations

import io
import re
from html import escape

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from harness.output.reports.pages import Page, Table, Text

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1200px; padding: 1rem 2rem 4rem; }
h1 { font-size: 2rem; margin: 0.5rem 0 0.2rem; }
h2 { font-size: 1.45rem; margin: 2.5rem 0 0.5rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.1rem; margin: 1.2rem 0 0.3rem; }
.subtitle, .note { color: #555; }
.note { font-size: 0.9rem; max-width: 70rem; }
nav ol { padding-left: 1.4rem; margin: 0.2rem 0; }
nav > ol > li { margin: 0.25rem 0; }
nav li li { font-size: 0.92rem; }
figure { margin: 1.5rem 0; }
figure svg { display: block; width: 100%; height: auto; }
p.lines { white-space: pre-wrap; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; text-align: left;
         vertical-align: top; }
th { background: #e8e8e8; position: sticky; top: 0; }
th[data-sort] { cursor: pointer; }
section.scenario { border-top: 3px solid #888; margin-top: 3rem; }
section.scenario > h2 { border: 0; }
@media print { figure, tr { break-inside: avoid; } nav { break-after: page; } }
"""

#: Progressive enhancement: sorts a table by the column whose header is clicked. The page
#: reads the same without it.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, col) => {
  th.dataset.sort = "";
  th.title = "sort by this column";
  th.addEventListener("click", () => {
    const body = th.closest("table").tBodies[0];
    const key = (tr) => tr.cells[th.cellIndex].textContent.trim();
    const num = (s) => parseFloat(s.replace(/[^0-9.eE+-].*$/, ""));
    const rows = Array.from(body.rows);
    const numeric = rows.every((tr) => !isNaN(num(key(tr))) || key(tr) === "-");
    const up = th.dataset.sort !== "up";
    rows.sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const d = numeric ? (num(x) || 0) - (num(y) || 0) : x.localeCompare(y);
      return up ? d : -d;
    });
    th.dataset.sort = up ? "up" : "down";
    rows.forEach((tr) => body.appendChild(tr));
  });
});
"""


def anchor(name: str) -> str:
    """A page name as an HTML id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"


def svg(fig: Figure) -> str:
    """The figure as inline SVG markup, without prolog, doctype or metadata (which name
    web addresses), and without the ids nothing refers to (every figure numbers its own
    from 1, so they would clash between figures)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    used = set(re.findall(r'(?:href="#|url\(#)([^")]+)', text))
    text = re.sub(r' id="([^"]+)"', lambda m: m.group(0) if m.group(1) in used else "", text)
    return text.strip()


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = []
    colors = list(table.colors) + [None] * (len(table.rows) - len(table.colors))
    for row, color in zip(table.rows, colors, strict=True):
        style = f' style="background:{escape(color)}"' if color else ""
        cells = "".join(f"<td>{escape(c)}</td>" for c in row)
        rows.append(f"<tr{style}>{cells}</tr>")
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    body = "\n".join(rows) or f'<tr><td colspan="{len(table.columns)}">(no rows)</td></tr>'
    return (
        f'{note}<div class="table-wrap"><table class="sortable"><thead><tr>{head}</tr>'
        f"</thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )


def _text(text: Text) -> str:
    out = []
    if text.subtitle:
        out.append(f'<p class="subtitle">{escape(text.subtitle)}</p>')
    for heading, paragraphs in text.sections:
        if heading:
            out.append(f"<h3>{escape(heading)}</h3>")
        for paragraph in paragraphs:
            kind = ' class="lines"' if "\n" in paragraph else ""
            out.append(f"<p{kind}>{escape(paragraph)}</p>")
    return "\n".join(out)


def _page(page: Page, ident: str, heading: str = "h2") -> str:
    content = page.content
    if isinstance(content, Figure):
        markup = svg(content)
        plt.close(content)
        label = escape(page.title)
        markup = markup.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
        return f'<figure id="{ident}">\n{markup}\n</figure>'
    title = f"<{heading}>{escape(content.title)}</{heading}>"
    body = _table(content) if isinstance(content, Table) else _text(content)
    return f'<section id="{ident}" class="page">\n{title}\n{body}\n</section>'


def _groups(pages: list[Page]) -> list[tuple[str, list[Page]]]:
    """Consecutive pages of one scenario together; pages of none each on their own."""
    groups: list[tuple[str, list[Page]]] = []
    for page in pages:
        if page.scenario and groups and groups[-1][0] == page.scenario:
            groups[-1][1].append(page)
        else:
            groups.append((page.scenario, [page]))
    return groups


def document(pages: list[Page]) -> str:
    """The whole report as an HTML document: the title page as its header, a table of
    contents with an anchor per scenario and per page, then every page."""
    seen = {"title", "contents"}

    def unique(name: str) -> str:
        ident, i = anchor(name), 2
        while ident in seen:
            ident, i = f"{anchor(name)}-{i}", i + 1
        seen.add(ident)
        return ident

    head, rest = (pages[0], pages[1:]) if pages and pages[0].name == "title" else (None, pages)
    toc, body = [], []
    for scenario, group in _groups(rest):
        idents = [unique(p.name) for p in group]
        if not scenario:
            (page,), (ident,) = group, idents
            toc.append(f'<li><a href="#{ident}">{escape(page.title)}</a></li>')
            body.append(_page(page, ident))
            continue
        section = unique(f"scenario-{scenario}")
        items = "".join(
            f'<li><a href="#{i}">{escape(p.title)}</a></li>'
            for p, i in zip(group, idents, strict=True)
        )
        toc.append(f'<li><a href="#{section}">scenario {escape(scenario)}</a><ol>{items}</ol></li>')
        pages_html = "\n".join(_page(p, i, "h3") for p, i in zip(group, idents, strict=True))
        body.append(
            f'<section id="{section}" class="scenario">\n<h2>scenario {escape(scenario)}</h2>\n'
            f"{pages_html}\n</section>"
        )
    title = "harness report"
    header = ""
    if head is not None and isinstance(head.content, Text):
        title = head.content.title
        header = f"<h1>{escape(title)}</h1>\n{_text(head.content)}"
    elif head is not None:
        body.insert(0, _page(head, unique(head.name)))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<header id="title">\n{header}\n</header>\n'
        f'<nav id="contents">\n<h2>Contents</h2>\n<ol>\n{chr(10).join(toc)}\n</ol>\n</nav>\n'
        f"<main>\n{chr(10).join(body)}\n</main>\n"
        f"<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n"
    )
