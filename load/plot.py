"""A dependency-free SVG plot of a load run: events published per second, and e2e latency percentiles."""

from __future__ import annotations

from typing import Any

_W, _H, _PAD = 720, 200, 48
_SERIES = (("p50", "#1f77b4"), ("p95", "#ff7f0e"), ("p99", "#d62728"))


def _polyline(points: list[tuple[float, float]], color: str) -> str:
    text = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{text}"/>'


def _panel(rows: list[dict[str, Any]], keys: tuple[tuple[str, str], ...], top: int, title: str) -> list[str]:
    n = max(1, len(rows) - 1)
    peak = max([r[k] for r in rows for k, _ in keys if r.get(k) is not None] or [1.0]) or 1.0
    height = _H - 2 * _PAD

    def xy(i: int, v: float) -> tuple[float, float]:
        return _PAD + (_W - 2 * _PAD) * i / n, top + _PAD + height * (1 - v / peak)

    out = [
        f'<text x="{_PAD}" y="{top + _PAD - 12}" font-size="13">{title}</text>',
        f'<rect x="{_PAD}" y="{top + _PAD}" width="{_W - 2 * _PAD}" height="{height}" '
        'fill="none" stroke="#999"/>',
        f'<text x="4" y="{top + _PAD + 10}" font-size="10">{peak:g}</text>',
        f'<text x="4" y="{top + _PAD + height}" font-size="10">0</text>',
        f'<text x="{_W - _PAD}" y="{top + _H - _PAD + 14}" font-size="10" text-anchor="end">'
        f"{len(rows)} s</text>",
    ]
    for offset, (key, color) in enumerate(keys):
        points = [xy(i, r[key]) for i, r in enumerate(rows) if r.get(key) is not None]
        if points:
            out.append(_polyline(points, color))
        out.append(
            f'<text x="{_W - _PAD - 60 * (len(keys) - offset)}" y="{top + _PAD - 12}" font-size="11" '
            f'fill="{color}">{key}</text>'
        )
    return out


def svg(rows: list[dict[str, Any]], target_rate: float) -> str:
    """The plot of ``per_second`` rows (see :func:`load.measure.per_second`)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{2 * _H}" font-family="sans-serif">'
    ]
    parts += _panel(
        rows, (("published", "#2ca02c"),), 0, f"events published per second (target {target_rate:g})"
    )
    parts += _panel(rows, _SERIES, _H, "publish → stored latency per second of sending (ms)")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def png(rows: list[dict[str, Any]], target_rate: float, path: Any, fault_at: float | None = None) -> None:
    """The same two panels as :func:`svg` as a PNG (matplotlib, no display needed): events published per
    second against the target, and the e2e latency percentiles of the events sent in each second."""
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    from matplotlib import pyplot

    seconds = [r["second"] for r in rows]
    figure, (rate, latency) = pyplot.subplots(2, 1, figsize=(9, 5.5), sharex=True, dpi=100)
    try:
        rate.plot(seconds, [r["published"] for r in rows], color="#2ca02c", label="published")
        rate.axhline(target_rate, color="#999", linestyle="--", linewidth=1, label=f"target {target_rate:g}")
        rate.set_ylabel("events / s")
        rate.set_title("events published per second")
        for key, color in _SERIES:  # a second with no event measured is a gap, not a line across it
            values = [float("nan") if r.get(key) is None else r[key] for r in rows]
            latency.plot(seconds, values, color=color, label=key, marker=".", markersize=3)
        latency.set_ylabel("ms")
        latency.set_xlabel("second of the run (by send time)")
        latency.set_title("publish → stored latency of the events sent in each second")
        for axes in (rate, latency):
            if fault_at is not None:
                axes.axvline(fault_at, color="#d62728", linestyle=":", linewidth=1, label="fault")
            axes.grid(alpha=0.3)
            axes.legend(loc="upper right", fontsize=8)
            axes.set_ylim(bottom=0)
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        pyplot.close(figure)
