"""The report on paper: every page as matplotlib figures of one size (PDF, PNG, SVG).

Figures are set to the paper's size (their layout engine lays them out again). Tables and
text are set here, line by line with measured widths, and continue on the next sheet when
one is full, the table's header repeated: nothing runs off a page or is cut at its edge,
and every sheet of a PDF has the same size.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from harness.output.reports import textfit
from harness.output.reports.pages import Page, Table, Text
from harness.output.reports.style import PAPER_SIZES

MARGIN = 0.45  # inches, each side
PAD = 0.04  # inches inside a table cell
LEADING = 1.3  # line height as a multiple of the font size
PT = 1 / 72  # inches
HEADER_FILL = "#e8e8e8"
EDGE = "#cccccc"
NOTE_COLOR = "#444444"


def sheets(pages: list[Page], paper: str = "a4") -> list[tuple[str, Figure]]:
    """Every page as (name, figure) on paper of the size named; a page that needs several
    sheets gives names `name-1`, `name-2`, ..."""
    size = PAPER_SIZES[paper]
    out: list[tuple[str, Figure]] = []
    for page in pages:
        if isinstance(page.content, Table):
            figs = table_sheets(page.content, size)
        elif isinstance(page.content, Text):
            figs = text_sheets(page.content, size)
        else:
            page.content.set_size_inches(size)
            figs = [page.content]
        many = len(figs) > 1
        out += [(f"{page.name}-{i}" if many else page.name, f) for i, f in enumerate(figs, 1)]
    return out


class _Sheet:
    """A figure filled from the top; positions in inches from its top left corner."""

    def __init__(
        self, size: tuple[float, float], title: str, continued: bool, points: float = 15
    ) -> None:
        self.size = size
        self.fig = Figure(figsize=size)  # not pyplot's: freed once written
        FigureCanvasAgg(self.fig)
        self.fig.set_label(title)
        self.y = MARGIN
        self.text(MARGIN, title + (" (continued)" if continued else ""), points, weight="bold")
        self.y += 0.1

    @property
    def room(self) -> float:
        return self.size[1] - MARGIN - self.y

    @property
    def width(self) -> float:
        return self.size[0] - 2 * MARGIN

    def text(self, x: float, line: str, size: float, advance: bool = True, **kw) -> None:
        w, h = self.size
        self.fig.text(x / w, 1 - self.y / h, line, fontsize=size, va="top", **kw)
        if advance:
            self.y += size * LEADING * PT

    def box(self, x: float, width: float, height: float, color: str) -> None:
        w, h = self.size
        self.fig.add_artist(
            Rectangle(
                (x / w, 1 - (self.y + height) / h),
                width / w,
                height / h,
                transform=self.fig.transFigure,
                facecolor=color,
                edgecolor=EDGE,
                lw=0.6,
            )
        )


def text_sheets(text: Text, size: tuple[float, float]) -> list[Figure]:
    """A title, a subtitle and sections of paragraphs, on as many sheets as they need."""
    sheet = _Sheet(size, text.title, False, 20)
    out = [sheet]
    limit = sheet.width

    def line(content: str, points: float, **kw) -> None:
        nonlocal sheet
        if sheet.room < points * LEADING * PT:
            sheet = _Sheet(size, text.title, True, 20)
            out.append(sheet)
        sheet.text(MARGIN, content, points, **kw)

    for content in textfit.wrap(text.subtitle, 11, limit) if text.subtitle else []:
        line(content, 11)
    sheet.y += 0.15
    for heading, paragraphs in text.sections:
        if heading:
            line(heading, 12, weight="bold")
        for paragraph in paragraphs:
            for content in textfit.wrap(paragraph, 10.5, limit):
                line(content, 10.5)
            sheet.y += 0.08
        sheet.y += 0.12
    return [s.fig for s in out]


def _widths(table: Table, total: float, font: float) -> list[float]:
    """Column widths in inches: the table's shares (or shares by content length), widened
    where a column is narrower than its longest word, so no word breaks mid-letter
    ("scenari/o"); what a widened column takes comes from the columns with room to spare."""
    if table.widths:
        shares = list(table.widths)
    else:
        shares = [
            min(40, max([len(c)] + [len(r[i]) for r in table.rows])) + 3
            for i, c in enumerate(table.columns)
        ]
    widths = [total * s / sum(shares) for s in shares]
    least = [
        2 * PAD
        + 0.03
        + max(  # 0.03: rounding in the wrap measure
            [textfit.width(w, font, "bold") for w in column.split()]
            + [textfit.width(w, font) for row in table.rows for w in str(row[i]).split()]
            + [0.0]
        )
        for i, column in enumerate(table.columns)
    ]
    if sum(least) >= total:  # cannot honour every word: keep the shares
        return widths
    for _ in range(len(widths)):
        short = [i for i, w in enumerate(widths) if w < least[i] - 1e-9]
        if not short:
            break
        need = sum(least[i] - widths[i] for i in short)
        for i in short:
            widths[i] = least[i]
        spare = {i: widths[i] - least[i] for i in range(len(widths)) if i not in short}
        room = sum(spare.values())
        for i, r in spare.items():
            widths[i] -= need * r / room
    return widths


def table_sheets(table: Table, size: tuple[float, float], font: float = 8.5) -> list[Figure]:
    """The table with its note; rows that do not fit continue on the next sheet under the
    header again. Cells wrap to their column."""
    widths = _widths(table, size[0] - 2 * MARGIN, font)
    inner = [w - 2 * PAD for w in widths]
    header = [textfit.wrap(c, font, w, "bold") for c, w in zip(table.columns, inner, strict=True)]
    rows = [[textfit.wrap(c, font, w) for c, w in zip(r, inner, strict=True)] for r in table.rows]
    line_h = font * LEADING * PT

    def height(cells: list[list[str]]) -> float:
        return max(len(c) for c in cells) * line_h + 2 * PAD

    def start(continued: bool) -> _Sheet:
        sheet = _Sheet(size, table.title, continued)
        if table.note and not continued:
            for line in textfit.wrap(table.note, 9, sheet.width):
                sheet.text(MARGIN, line, 9, color=NOTE_COLOR)
            sheet.y += 0.1
        draw(sheet, header, HEADER_FILL, "bold")
        return sheet

    def draw(sheet: _Sheet, cells: list[list[str]], fill: str, weight: str = "normal") -> None:
        h = height(cells)
        x = MARGIN
        for lines, w in zip(cells, widths, strict=True):
            sheet.box(x, w, h, fill)
            top = sheet.y
            sheet.y += PAD
            for line in lines:
                sheet.text(x + PAD, line, font, weight=weight)
            sheet.y = top
            x += w
        sheet.y += h

    sheet = start(False)
    out = [sheet]
    if not rows:
        sheet.text(MARGIN, "(no rows)", 11)
    colors = list(table.colors) + [None] * (len(rows) - len(table.colors))
    for cells, color in zip(rows, colors, strict=True):
        if sheet.room < height(cells) and sheet.y > MARGIN + 1.0:
            sheet = start(True)
            out.append(sheet)
        draw(sheet, cells, color or "white")
    return [s.fig for s in out]
