"""Chart helpers: Pareto front against brute force, tick and PNG invariants."""

from __future__ import annotations

import io
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fivefold.report.images import encode_png, heatmap_uri
from fivefold.report.svg import nice_ticks
from fivefold.report.tables import pareto_front

values = st.integers(0, 20).map(float)


def _naive_front(points: list[tuple[str, float, float]], higher: tuple[bool, bool]) -> set[str]:
    """Brute force on sign-flipped copies: keep a point unless some other point is >= on both
    coordinates and differs from it."""
    flip = [(n, x if higher[0] else -x, y if higher[1] else -y) for n, x, y in points]
    keep = set()
    for n, x, y in flip:
        beaten = [o for o in flip if o[1] >= x and o[2] >= y and (o[1], o[2]) != (x, y)]
        if not beaten:
            keep.add(n)
    return keep


@given(st.lists(st.tuples(values, values), min_size=1, max_size=12), st.booleans(), st.booleans())
@settings(max_examples=80, deadline=None)
def test_pareto_front_matches_brute_force(
    xy: list[tuple[float, float]], hx: bool, hy: bool
) -> None:
    points = [(f"r{i}", x, y) for i, (x, y) in enumerate(xy)]
    assert set(pareto_front(points, (hx, hy))) == _naive_front(points, (hx, hy))


@given(st.floats(-1e4, 1e4), st.floats(0.001, 1e4))
@settings(max_examples=80, deadline=None)
def test_ticks_cover_the_range_with_round_steps(lo: float, span: float) -> None:
    ticks = nice_ticks(lo, lo + span)
    assert ticks[0] <= lo + 1e-9 * abs(lo) and ticks[-1] >= lo + span - 1e-9 * abs(lo + span)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1 and 2 <= len(ticks) <= 12


def test_png_decodes_to_the_same_pixels() -> None:
    pixels = [[(r * 40, c * 30, (r + c) % 256) for c in range(7)] for r in range(5)]
    image = Image.open(io.BytesIO(encode_png(pixels)))
    assert image.size == (7, 5) and image.mode == "RGB"
    assert [image.getpixel((c, r)) for r in range(5) for c in range(7)] == [
        px for row in pixels for px in row
    ]


def test_heatmap_sign_colours() -> None:
    import base64

    uri = heatmap_uri([[-1.0, 0.0, 1.0]], signed=True)
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")
    blue, white, red = (image.getpixel((i, 0)) for i in range(3))
    assert blue[2] > blue[0] and red[0] > red[2] and min(white) > 240
