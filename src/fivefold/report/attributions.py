"""Attribution examples saved by the interpretability pillar, drawn per input kind.

Images: the input (grey) beside its attribution map (blue = against, red = for the explained
class). Sequences: each channel's curve over a strip coloured by attribution per time step.
Tabular rows: the features with the largest |attribution| as bars. Text: tokens highlighted by
their attribution. Attributions were divided by their largest magnitude, so colours compare
within one example only. Each recipe shows its first seed's first examples.
"""

from __future__ import annotations

import math
from typing import Any

from fivefold.report.images import diverging, heatmap_uri
from fivefold.report.load import RunData
from fivefold.report.svg import esc, fmt

__all__ = ["attribution_examples", "MAX_EXAMPLES"]

MAX_EXAMPLES = 4
Row = dict[str, Any]


def _rgb(value: float) -> str:
    r, g, b = diverging(value)
    return f"rgb({r},{g},{b})"


def _caption(row: Row, method: str) -> str:
    return (
        f"label {row['label']} · explained {row['explained_class']} "
        f"(p = {fmt(float(row['probability']))}) · {method}"
    )


def _grid(values: Any) -> list[list[float]]:
    """A 2-D grid of an image's values (channels averaged when there are several)."""
    if values and values[0] and isinstance(values[0][0], list):
        channels = len(values)
        return [
            [
                sum(values[c][i][j] for c in range(channels)) / channels
                for j in range(len(values[0][0]))
            ]
            for i in range(len(values[0]))
        ]
    return [[float(v) for v in row] for row in values]


def _image(row: Row, method: str) -> str:
    x, attr = _grid(row["values"]), _grid(row["attributions"][method])
    size = 120
    tip = esc(_caption(row, method))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="attribution-image" '
        f'viewBox="0 0 {2 * size + 10} {size}" width="{2 * size + 10}" height="{size}">'
        f"<title>{tip}</title>"
        f'<image href="{heatmap_uri(x, signed=False)}" width="{size}" height="{size}" '
        f'preserveAspectRatio="none" style="image-rendering:pixelated"/>'
        f'<image x="{size + 10}" href="{heatmap_uri(attr, signed=True)}" width="{size}" '
        f'height="{size}" preserveAspectRatio="none" style="image-rendering:pixelated"/></svg>'
    )


def _series(row: Row, method: str) -> str:
    values, attr = row["values"], row["attributions"][method]
    if values and not isinstance(values[0], list):
        values = [values]
    if attr and not isinstance(attr[0], list):
        attr = [attr] * len(values)
    width, band = 360, 46
    channels = list(zip(row.get("channels", []), values, attr, strict=False))[:3]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="attribution-series" '
        f'viewBox="0 0 {width} {band * len(channels)}" width="{width}" '
        f'height="{band * len(channels)}"><title>{esc(_caption(row, method))}</title>'
    ]
    for c, (name, xs, scores) in enumerate(channels):
        top, n = c * band, max(1, len(xs))
        step = (width - 60) / n
        lo, hi = min(xs, default=0.0), max(xs, default=1.0)
        for t, s in enumerate(scores[:n]):
            out.append(
                f'<rect x="{60 + t * step:.1f}" y="{top + 4}" width="{step + 0.3:.1f}" '
                f'height="{band - 8}" fill="{_rgb(float(s))}"/>'
            )
        span = (hi - lo) or 1.0
        pts = " ".join(
            f"{60 + (t + 0.5) * step:.1f},"
            f"{top + band - 6 - (float(v) - lo) / span * (band - 12):.1f}"
            for t, v in enumerate(xs)
        )
        out.append(f'<polyline points="{pts}" fill="none" stroke="#222" stroke-width="1.2"/>')
        out.append(f'<text x="2" y="{top + band / 2 + 3:.1f}">{esc(str(name)[:9])}</text>')
    return "".join([*out, "</svg>"])


def _tabular(row: Row, method: str) -> str:
    pairs = list(zip(row["features"], row["attributions"][method], strict=False))
    top = sorted(pairs, key=lambda p: -abs(float(p[1])))[:10]
    width, h, mid, half = 380, 18, 270, 100
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="attribution-tabular" '
        f'viewBox="0 0 {width} {h * len(top) + 6}" width="{width}" height="{h * len(top) + 6}">'
        f"<title>{esc(_caption(row, method))}</title>"
        f'<line x1="{mid}" y1="0" x2="{mid}" y2="{h * len(top)}" stroke="#999"/>'
    ]
    for i, (name, value) in enumerate(top):
        v = float(value)
        w = min(1.0, abs(v)) * half
        x = mid if v >= 0 else mid - w
        out.append(
            f'<text x="{mid - half - 4}" y="{i * h + 13}" text-anchor="end">'
            f"{esc(str(name)[:30])}</text>"
            f'<rect x="{x:.1f}" y="{i * h + 3}" width="{w:.1f}" height="{h - 6}" '
            f'fill="{_rgb(math.copysign(0.85, v))}">'
            f"<title>{esc(f'{name}: {v:+.3f}')}</title></rect>"
        )
    return "".join([*out, "</svg>"])


def _text(row: Row, method: str) -> str:
    spans = [
        f'<span style="background:{_rgb(float(s))}" title="{esc(f"{s:+.3f}")}">{esc(tok)}</span>'
        for tok, s in zip(row["tokens"], row["attributions"][method], strict=False)
    ]
    return f'<p class="tokens" data-chart="attribution-text">{" ".join(spans)}</p>'


_DRAW = {
    "image": _image,
    "sequence": _series,
    "series": _series,
    "tabular": _tabular,
    "text": _text,
}


def _example(row: Row) -> str:
    methods = list(row.get("attributions", {}))
    draw = _DRAW.get(str(row.get("kind")), _series)
    if not methods:
        return ""
    body = draw(row, methods[0])
    return f"<figure>{body}<figcaption>{esc(_caption(row, methods[0]))}</figcaption></figure>"


def attribution_examples(run: RunData) -> str:
    """HTML of the first examples of every recipe (first seed); "" when none were saved."""
    blocks = []
    for recipe in run.recipes:
        trials = run.full(recipe)[:1]
        rows = [
            r
            for t in trials
            for r in t.get("pillars", {})
            .get("interpretability", {})
            .get("tables", {})
            .get("examples", [])
        ]
        shown = [r for r in rows if int(r.get("example", 0)) < MAX_EXAMPLES]
        if shown:
            seed = trials[0]["trial"]["seed"]
            figures = "".join(_example(r) for r in shown)
            blocks.append(
                f"<h4>Attributions: {esc(recipe)} (seed {seed})</h4>"
                f'<div class="examples">{figures}</div>'
            )
    return "".join(blocks)
