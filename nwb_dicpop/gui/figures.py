"""Figures of the GUI as PNG and SVG bytes, drawn by the functions of :mod:`nwb_dicpop.plotting`.

:func:`render` calls one drawing function on a fresh figure (matplotlib's non-interactive
Agg backend, never a window), encodes it both ways and closes it.  A :class:`Figure` is what
a page shows (the PNG) and offers for download (PNG and SVG).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Figure", "render"]


@dataclass(frozen=True)
class Figure:
    """One rendered figure.

    Attributes
    ----------
    name : str
        File stem for downloads (``<name>.png``, ``<name>.svg``).
    title : str
        Caption on the page.
    png, svg : bytes
    """

    name: str
    title: str
    png: bytes
    svg: bytes


def render(name: str, title: str, draw: Callable[..., Any], *args: Any, **kwargs: Any) -> Figure:
    """Call ``draw(*args, **kwargs)`` (a :mod:`nwb_dicpop.plotting` function) and encode its figure.

    The drawing function creates its own figure; the figure drawn last is the one encoded.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        drawn = draw(*args, **kwargs)
        first = drawn[0] if isinstance(drawn, (list, tuple)) or getattr(drawn, "ndim", 0) else drawn
        figure = first.figure
        png, svg = io.BytesIO(), io.BytesIO()
        figure.savefig(png, format="png", dpi=110)
        figure.savefig(svg, format="svg")
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
    return Figure(name=name, title=title, png=png.getvalue(), svg=svg.getvalue())
