"""Text wrapped to a width in inches, measured with the font it is drawn in.

Wrapping by a count of characters guesses the width, and a guess that is too wide runs off
the page; here every line is measured by matplotlib's own text layout, so a line that is
said to fit does.
"""

from __future__ import annotations

from functools import lru_cache

from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties

#: The renderer's resolution; widths come back in inches, so any value does.
_DPI = 72.0


@lru_cache(maxsize=1)
def _renderer() -> RendererAgg:
    return RendererAgg(1, 1, _DPI)


@lru_cache(maxsize=20000)
def width(text: str, size: float, weight: str = "normal") -> float:
    """The width of one line of text in inches."""
    if not text:
        return 0.0
    prop = FontProperties(size=size, weight=weight)
    w, _, _ = _renderer().get_text_width_height_descent(text, prop, ismath=False)
    return w / _DPI


def wrap(text: str, size: float, limit: float, weight: str = "normal") -> list[str]:
    """`text` as lines no wider than `limit` inches. Line breaks in `text` are kept, and so
    is a line's leading indentation (on the lines it wraps into too); a word wider than the
    limit alone is broken between characters."""
    out: list[str] = []
    for raw in str(text).split("\n"):
        indent = raw[: len(raw) - len(raw.lstrip(" "))]
        line = ""
        for word in raw.split():
            candidate = f"{line} {word}" if line else indent + word
            if width(candidate, size, weight) <= limit:
                line = candidate
                continue
            if line:
                out.append(line)
            line = indent + word
            while width(line, size, weight) > limit and len(line) > len(indent) + 1:
                cut = len(line) - 1
                while cut > len(indent) + 1 and width(line[:cut], size, weight) > limit:
                    cut -= 1
                out.append(line[:cut])
                line = indent + line[cut:]
        out.append(line)
    return out
