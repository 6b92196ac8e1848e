"""psabot's Teams icons, drawn from signed distance fields: a ticket with a perforation."""

from __future__ import annotations

import math
from collections.abc import Callable

from bot.teams_package.png import encode_rgba

COLOR_SIZE = 192  # Teams: full-colour icon, 192×192
OUTLINE_SIZE = 32  # Teams: outline icon, 32×32, white on transparent
ACCENT = (0x1D, 0x4F, 0x91)  # the Slack app's background colour, so both apps look alike
WHITE = (0xFF, 0xFF, 0xFF)

Field = Callable[[float, float], float]  # signed distance in pixels, negative inside


def _rounded_rect(cx: float, cy: float, hx: float, hy: float, r: float) -> Field:
    def dist(x: float, y: float) -> float:
        qx = abs(x - cx) - (hx - r)
        qy = abs(y - cy) - (hy - r)
        return math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - r

    return dist


def _circle(cx: float, cy: float, radius: float) -> Field:
    return lambda x, y: math.hypot(x - cx, y - cy) - radius


def _union(*fields: Field) -> Field:
    return lambda x, y: min(f(x, y) for f in fields)


def _ticket(size: float, margin: float, radius: float, notch: float) -> Field:
    """A ticket filling the square: a rounded rectangle with a notch on each side."""
    c = size / 2
    body = _rounded_rect(c, c, c - margin, (c - margin) * 2 / 3, radius)
    left = _circle(margin, c, notch)
    right = _circle(size - margin, c, notch)
    return lambda x, y: max(body(x, y), -left(x, y), -right(x, y))


def _dashes(x: float, top: float, bottom: float, width: float, count: int) -> Field:
    """A vertical perforation from `top` to `bottom`: `count` dashes, gaps half a dash."""
    length = (bottom - top) / (count + (count - 1) / 2)
    centres = [top + length / 2 + i * length * 1.5 for i in range(count)]
    return _union(*(_rounded_rect(x, cy, width / 2, length / 2, width / 2) for cy in centres))


def _coverage(distance: float) -> float:
    """Share of a pixel inside the shape (one-pixel anti-aliased edge)."""
    return min(1.0, max(0.0, 0.5 - distance))


def _blend(
    under: tuple[float, float, float], over: tuple[int, int, int], a: float
) -> tuple[float, float, float]:
    return (
        under[0] + (over[0] - under[0]) * a,
        under[1] + (over[1] - under[1]) * a,
        under[2] + (over[2] - under[2]) * a,
    )


def color_icon() -> bytes:
    """192×192 PNG: a white ticket on psabot's accent colour, opaque to the edges."""
    n = COLOR_SIZE
    ticket = _ticket(n, margin=26, radius=12, notch=14)
    perforation = _dashes(66, top=60, bottom=132, width=5, count=4)
    text = _union(
        _rounded_rect(116, 76, 30, 4.5, 4.5),
        _rounded_rect(116, 96, 30, 4.5, 4.5),
        _rounded_rect(106, 116, 20, 4.5, 4.5),
    )
    marks = _union(perforation, text)
    out = bytearray()
    for row in range(n):
        for col in range(n):
            x, y = col + 0.5, row + 0.5
            paper = _coverage(ticket(x, y))
            pixel = _blend(ACCENT, WHITE, paper)
            pixel = _blend(pixel, ACCENT, _coverage(marks(x, y)) * paper)
            out += bytes(round(v) for v in pixel) + b"\xff"
    return encode_rgba(n, n, bytes(out))


def outline_icon() -> bytes:
    """32×32 PNG: the ticket's outline and perforation in white, transparent elsewhere."""
    n = OUTLINE_SIZE
    ticket = _ticket(n, margin=2.5, radius=3, notch=3.5)
    perforation = _dashes(11.5, top=10, bottom=22, width=1.6, count=3)
    out = bytearray()
    for row in range(n):
        for col in range(n):
            x, y = col + 0.5, row + 0.5
            stroke = abs(ticket(x, y)) - 0.9  # a line 1.8 px wide along the edge
            alpha = max(_coverage(stroke), _coverage(perforation(x, y)))
            # Teams wants only white and transparency here: the colour stays white and
            # the edge's softness lives in the alpha channel alone.
            out += bytes(WHITE) + bytes((round(alpha * 255),))
    return encode_rgba(n, n, bytes(out))
