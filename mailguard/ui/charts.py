"""Server-rendered SVG charts: pure functions from figures to markup, no JavaScript and no network.

Colours come from CSS classes (``c-moved``, ``c-back``, ``c-kept``, ``c-contact``) in the page's
style sheet, so the content security policy needs no inline styles. Each chart carries a title and
a description for screen readers; the page puts the same figures in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from .data import BACK, CONTACT, KEPT, MOVED, WOULD, Bin, Event, Week


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css: str
    values: tuple[int, ...]


def nice_max(value: int) -> int:
    """Pure: the smallest 1, 2 or 5 times a power of ten at or above value (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def divisions(top: int) -> int:
    """Pure: how many grid steps divide a nice_max value into whole, round numbers."""
    if top <= 5:
        return top
    return 4 if str(top)[0] == "2" else 5


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def stacked_bars(*, chart_id: str, title: str, desc: str, labels: Sequence[str],
                 series: Sequence[Series], width: int = 560, height: int = 220,
                 label_every: int = 1) -> str:
    """A stacked bar chart as an accessible SVG element (role img, title and desc)."""
    left, right, top, bottom = 40, 8, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top_value = nice_max(max(totals, default=0))
    slot = plot_w / n
    bar = max(slot * 0.78, 1.0)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">',
           f'<title id="{chart_id}-t">{escape(title)}</title>',
           f'<desc id="{chart_id}-d">{escape(desc)}</desc>']
    steps = divisions(top_value)
    for k in range(steps + 1):  # grid lines and the y axis
        v = top_value * k // steps
        y = top + plot_h - plot_h * k / steps
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_f(y)}" y2="{_f(y)}"/>')
        label = str(v)
        out.append(f'<text class="tick" x="{left - 6}" y="{_f(y + 4)}" text-anchor="end">{label}</text>')
    for i, name in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for s in series:
            v = s.values[i]
            if not v:
                continue
            h = plot_h * v / top_value
            y -= h
            out.append(f'<rect class="{s.css}" x="{_f(x)}" y="{_f(y)}" width="{_f(bar)}" '
                       f'height="{_f(h)}"><title>{escape(name)}: {v} {escape(s.name)}</title></rect>')
        if i % label_every == 0:
            out.append(f'<text class="tick" x="{_f(left + slot * i + slot / 2)}" '
                       f'y="{height - bottom + 16}" text-anchor="middle">{escape(name)}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
               f'y2="{top + plot_h}"/>')
    out.append("</svg>")
    return "".join(out)


def weeks_chart(weeks: Sequence[Week]) -> str:
    labels = [f"{w.start.day} {w.start:%b}" for w in weeks]
    moved = sum(w.moved for w in weeks)
    back = sum(w.back for w in weeks)
    desc = (f"{len(weeks)} weeks from {labels[0]} to {labels[-1]}: {moved} messages moved, "
            f"{back} of them later put back." if weeks else "Nothing was moved.")
    return stacked_bars(
        chart_id="weeks", title="Messages moved per week", desc=desc, labels=labels,
        series=[Series("moved", "c-moved", tuple(w.moved for w in weeks)),
                Series("put back", "c-back", tuple(w.back for w in weeks))],
        label_every=max(len(weeks) // 6, 1))


def scores_chart(bins: Sequence[Bin]) -> str:
    labels = [f"{b.low:.2f}" for b in bins]
    moved = sum(b.moved for b in bins)
    kept = sum(b.kept for b in bins)
    desc = (f"Promo scores of {moved + kept} messages in {len(bins)} bins from 0 to 1: "
            f"{moved} moved, {kept} kept.")
    return stacked_bars(
        chart_id="scores", title="Promo score distribution", desc=desc, labels=labels,
        series=[Series("kept", "c-kept", tuple(b.kept for b in bins)),
                Series("moved", "c-moved", tuple(b.moved for b in bins))],
        label_every=max(len(bins) // 5, 1))


_KIND_CSS = {CONTACT: "c-contact", MOVED: "c-moved", WOULD: "c-moved", BACK: "c-back", KEPT: "c-kept"}


def strip(since: datetime | None, events: Sequence[Event], *, width: int = 220, height: int = 22) -> str:
    """A small decorative time strip of one timeline (the sentence beside it says the same): the
    contact as a blue diamond, then each message as a tick, red when moved."""
    dated = [e for e in events if e.date is not None]
    times = [e.date.timestamp() for e in dated if e.date is not None]
    if since is not None:
        times.append(since.timestamp())
    if not times:
        return ""
    lo, hi = min(times), max(times)
    span = max(hi - lo, 1.0)
    pad = 6

    def x(t: float) -> str:
        return _f(pad + (width - 2 * pad) * (t - lo) / span)

    mid = height / 2
    out = [f'<svg class="strip" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'aria-hidden="true" focusable="false">',
           f'<line class="axis" x1="{pad}" x2="{width - pad}" y1="{_f(mid)}" y2="{_f(mid)}"/>']
    for e in dated:
        if e.kind == CONTACT or e.date is None:
            continue
        css = _KIND_CSS.get(e.kind, "c-kept")
        tall = 7 if e.kind in (MOVED, WOULD, BACK) else 4
        out.append(f'<rect class="{css}" x="{x(e.date.timestamp())}" y="{_f(mid - tall)}" '
                   f'width="3" height="{2 * tall}"/>')
    if since is not None:
        cx = float(x(since.timestamp()))
        out.append(f'<path class="c-contact" d="M{_f(cx)} {_f(mid - 7)} L{_f(cx + 7)} {_f(mid)} '
                   f'L{_f(cx)} {_f(mid + 7)} L{_f(cx - 7)} {_f(mid)} Z"/>')
    out.append("</svg>")
    return "".join(out)
