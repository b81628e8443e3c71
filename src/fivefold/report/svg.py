"""Inline SVG charts written as text: line, grouped bar, radar and scatter charts.

Every chart is an ``<svg data-chart="KIND">`` element with a ``<title>``, axes with ticks and
labels, and a ``<title>`` tooltip on every data point. All text passes through :func:`esc`.
Colours come from Paul Tol's colour-blind-safe "muted" scheme.

Reference: P. Tol, "Colour schemes", SRON technical note, 2021 (the palettes).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "PALETTE",
    "Series",
    "bar_chart",
    "colour",
    "esc",
    "fmt",
    "line_chart",
    "nice_ticks",
    "radar_chart",
    "scatter_chart",
]

PALETTE = (
    "#332288",
    "#117733",
    "#CC6677",
    "#88CCEE",
    "#DDCC77",
    "#AA4499",
    "#44AA99",
    "#999933",
    "#882255",
    "#6699CC",
)
_W, _H = 380, 250
_M = {"left": 52, "right": 12, "top": 30, "bottom": 42}


def esc(text: object) -> str:
    """HTML/SVG-escaped text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def colour(i: int) -> str:
    """The i-th colour of the palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def fmt(value: float, digits: int = 3) -> str:
    """A compact number: ``digits`` significant digits, no trailing noise."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


@dataclass
class Series:
    """One named line or bar series: (x, y) points, a colour and an optional dash."""

    name: str
    points: list[tuple[float, float]]
    colour: str
    dashed: bool = False
    labels: list[str] = field(default_factory=list)
    line: bool = True
    """False: markers only (e.g. events along an axis), no connecting line."""


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 5, 10) if s * mag >= raw)
    start = math.floor(lo / step) * step
    if start > lo:  # lo / step underflowed to 0 (e.g. a denormal lo just below 0)
        start -= step
    ticks = [start + i * step for i in range(math.ceil((hi - start) / step + 1e-9) + 1)]
    return [round(t, 12) for t in ticks]


class _Axes:
    """Maps data to pixels inside the plot area; optional log10 x axis."""

    def __init__(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        log_x: bool,
        y_range: tuple[float, float] | None,
    ) -> None:
        self.log_x = log_x
        tx = [self._tx(x) for x in xs] or [0.0, 1.0]
        self.x0, self.x1 = min(tx), max(tx)
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x0 + 0.5
        lo, hi = y_range if y_range else (min(ys, default=0.0), max(ys, default=1.0))
        self.yticks = nice_ticks(lo, hi)
        self.y0, self.y1 = self.yticks[0], self.yticks[-1]
        if y_range:
            self.y0, self.y1 = y_range
            self.yticks = [t for t in self.yticks if y_range[0] - 1e-9 <= t <= y_range[1] + 1e-9]

    def _tx(self, x: float) -> float:
        return math.log10(x) if self.log_x else x

    def px(self, x: float) -> float:
        span = _W - _M["left"] - _M["right"]
        return _M["left"] + (self._tx(x) - self.x0) / (self.x1 - self.x0) * span

    def py(self, y: float) -> float:
        span = _H - _M["top"] - _M["bottom"]
        return _H - _M["bottom"] - (y - self.y0) / ((self.y1 - self.y0) or 1.0) * span

    def xticks(self, xs: Sequence[float]) -> list[float]:
        if self.log_x or len(set(xs)) <= 8:
            return sorted(set(xs))
        return [t for t in nice_ticks(self.x0, self.x1) if self.x0 <= t <= self.x1]


def _open(kind: str, title: str, width: int = _W, height: int = _H) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{esc(kind)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">',
        f"<title>{esc(title)}</title>",
        f'<text class="ct" x="{width / 2:.1f}" y="16" text-anchor="middle">{esc(title)}</text>',
    ]


def _frame(ax: _Axes, xs: Sequence[float], x_label: str, y_label: str) -> list[str]:
    left, bottom = _M["left"], _H - _M["bottom"]
    out = [
        f'<g class="axis"><line x1="{left}" y1="{bottom}" x2="{_W - _M["right"]}" y2="{bottom}"/>'
    ]
    out.append(f'<line x1="{left}" y1="{_M["top"]}" x2="{left}" y2="{bottom}"/>')
    for t in ax.yticks:
        y = ax.py(t)
        out.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{_W - _M["right"]}" y2="{y:.1f}"/>'
        )
        out.append(f'<text x="{left - 5}" y="{y + 3:.1f}" text-anchor="end">{fmt(t)}</text>')
    for t in ax.xticks(xs):
        x = ax.px(t)
        out.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{fmt(t)}</text>')
    out.append(
        f'<text class="al" x="{(left + _W - _M["right"]) / 2:.1f}" y="{_H - 6}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
    )
    out.append(
        f'<text class="al" transform="translate(12 {(_M["top"] + bottom) / 2:.1f}) '
        f'rotate(-90)" text-anchor="middle">{esc(y_label)}</text></g>'
    )
    return out


def _legend(series: Sequence[Series], width: int = _W) -> list[str]:
    if len(series) < 2:
        return []
    out = ['<g class="legend">']
    for i, s in enumerate(series[:10]):
        x, y = _M["left"] + 8 + (i % 2) * 150, _M["top"] + 4 + (i // 2) * 13
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 14}" y2="{y}" stroke="{s.colour}" '
            f'stroke-width="2.5"{dash}/>'
        )
        out.append(f'<text x="{x + 18}" y="{y + 3.5}">{esc(s.name[:24])}</text>')
    out.append("</g>")
    return out


def line_chart(
    series: Sequence[Series],
    *,
    kind: str,
    title: str,
    x_label: str,
    y_label: str,
    log_x: bool = False,
    y_range: tuple[float, float] | None = None,
) -> str:
    """Lines with point markers; each point's tooltip names the series, x and y."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    ax = _Axes(xs, ys, log_x, y_range)
    out = _open(kind, title) + _frame(ax, xs, x_label, y_label)
    for s in series:
        pts = sorted(s.points)
        path = " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        line = (
            f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}/>'
            if s.line
            else ""
        )
        out.append(f'<g class="series">{line}')
        for x, y in pts:
            tip = f"{s.name}: {x_label} {fmt(x)} → {y_label} {fmt(y, 4)}"
            out.append(
                f'<circle cx="{ax.px(x):.1f}" cy="{ax.py(y):.1f}" r="3" '
                f'fill="{s.colour}"><title>{esc(tip)}</title></circle>'
            )
        out.append("</g>")
    return "\n".join([*out, *_legend(series), "</svg>"])


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    kind: str,
    title: str,
    y_label: str,
    y_range: tuple[float, float] | None = None,
) -> str:
    """Grouped vertical bars: one group per category, one bar per series (y = points[i][1])."""
    ys = [y for s in series for _, y in s.points if math.isfinite(y)] + [0.0]
    ax = _Axes([0.0, float(len(categories))], ys, False, y_range)
    out = _open(kind, title) + _frame(ax, [], "", y_label)
    group = (_W - _M["left"] - _M["right"]) / max(1, len(categories))
    width = group * 0.8 / max(1, len(series))
    zero = ax.py(max(ax.y0, 0.0))
    for c, name in enumerate(categories):
        gx = _M["left"] + c * group + group * 0.1
        out.append(
            f'<text x="{gx + group * 0.4:.1f}" y="{_H - _M["bottom"] + 15}" '
            f'text-anchor="middle">{esc(name[:18])}</text>'
        )
        for k, s in enumerate(series):
            if c >= len(s.points) or not math.isfinite(s.points[c][1]):
                continue
            y = ax.py(s.points[c][1])
            top, h = min(y, zero), abs(zero - y)
            tip = f"{s.name} · {name}: {fmt(s.points[c][1], 4)}"
            out.append(
                f'<rect x="{gx + k * width:.1f}" y="{top:.1f}" width="{width * 0.92:.1f}" '
                f'height="{h:.1f}" fill="{s.colour}"><title>{esc(tip)}</title></rect>'
            )
    return "\n".join([*out, *_legend(series), "</svg>"])


def radar_chart(
    axes: Sequence[str], values: Sequence[float | None], *, title: str, fill: str
) -> str:
    """A 0–100 radar (spider) chart; a ``None`` value is drawn as a dashed, labelled
    "not evaluated" axis and left out of the polygon (never as 0)."""
    size, cx, cy, r = 300, 190.0, 160.0, 92.0
    out = _open("radar", title, 380, size)
    n = len(axes)

    def point(i: int, v: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * v / 100 * math.cos(angle), cy + r * v / 100 * math.sin(angle)

    for level in (25, 50, 75, 100):
        ring = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, level) for i in range(n)))
        out.append(f'<polygon class="ring" points="{ring}"/>')
        out.append(
            f'<text class="tick" x="{cx + 3:.1f}" y="{cy - r * level / 100 + 3:.1f}">{level}</text>'
        )
    for i, (name, v) in enumerate(zip(axes, values, strict=True)):
        x, y = point(i, 100)
        dash = "" if v is not None else ' stroke-dasharray="3 3"'
        out.append(f'<line class="spoke" x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}"{dash}/>')
        lx, ly = point(i, 122)
        anchor = "middle" if abs(lx - cx) < 10 else ("start" if lx > cx else "end")
        second = f"{v:.1f}" if v is not None else "not evaluated"
        out.append(
            f'<text class="rl{" missing" if v is None else ""}" x="{lx:.1f}" y="{ly - 2:.1f}" '
            f'text-anchor="{anchor}">{esc(name)}<tspan x="{lx:.1f}" dy="11">{second}</tspan></text>'
        )
    have = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(have) >= 2:
        poly = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v) for i, v in have))
        out.append(
            f'<polygon points="{poly}" fill="{fill}" fill-opacity="0.25" stroke="{fill}" '
            f'stroke-width="2"/>'
        )
    for i, v in have:
        x, y = point(i, v)
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
            f'fill="{fill}"><title>{esc(f"{axes[i]}: {v:.1f} / 100")}</title></circle>'
        )
    return "\n".join([*out, "</svg>"])


def scatter_chart(
    points: Sequence[tuple[str, float, float]],
    front: Sequence[str],
    *,
    title: str,
    x_label: str,
    y_label: str,
) -> str:
    """Labelled points (name, x, y); the names in ``front`` are joined by the Pareto line
    and drawn filled, the others hollow."""
    ax = _Axes([p[1] for p in points], [p[2] for p in points], False, None)
    out = _open("pareto", title) + _frame(ax, [p[1] for p in points], x_label, y_label)
    on = sorted((p for p in points if p[0] in front), key=lambda p: p[1])
    if len(on) >= 2:
        path = " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for _, x, y in on)
        out.append(f'<polyline class="front" points="{path}" fill="none"/>')
    for i, (name, x, y) in enumerate(points):
        filled = name in front
        c = colour(i)
        style = f'fill="{c}"' if filled else f'fill="white" stroke="{c}" stroke-width="2"'
        on_front = " (Pareto front)" if filled else ""
        tip = f"{name}: {x_label} {fmt(x, 4)}, {y_label} {fmt(y, 4)}{on_front}"
        out.append(
            f'<circle cx="{ax.px(x):.1f}" cy="{ax.py(y):.1f}" r="5" '
            f"{style}><title>{esc(tip)}</title></circle>"
        )
        out.append(f'<text x="{ax.px(x) + 7:.1f}" y="{ax.py(y) - 6:.1f}">{esc(name[:20])}</text>')
    return "\n".join([*out, "</svg>"])
