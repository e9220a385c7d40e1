"""The night's pictures, drawn with matplotlib as SVG in the run directory: timeline.svg (each build
that ran, across the job slots, coloured by its result) and build-times.svg (each package's build time
over the last nights, from their reports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

COLOURS = {"built": "#2e7d32", "up to date": "#9e9e9e", "failed": "#c62828"}


def slots(spans: Sequence[tuple[str, float, float, str]]) -> list[tuple[int, str, float, float, str]]:
    """Give each (name, start, end, state) the lowest job slot free at its start (the executor's slots
    are not recorded; this is the fewest slots that explain the run)."""
    ends: list[float] = []
    out = []
    for name, start, end, state in sorted(spans, key=lambda s: (s[1], s[0])):
        slot = next((i for i, e in enumerate(ends) if e <= start + 1e-6), len(ends))
        if slot == len(ends):
            ends.append(end)
        else:
            ends[slot] = end
        out.append((slot, name, start, end, state))
    return out


def timeline(path: Path, spans: Sequence[tuple[str, float, float, str]], title: str) -> bool:
    """spans: (package, start, end, state) in wall-clock seconds. False when nothing ran."""
    if not spans:
        return False
    placed = slots(spans)
    t0 = min(s for _, _, s, _, _ in placed)
    n = max(slot for slot, *_ in placed) + 1
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.55 * n))
    for slot, name, start, end, state in placed:
        ax.barh(slot, max(end - start, 0.5), left=start - t0, height=0.6, color=COLOURS.get(state, "#1565c0"),
                edgecolor="white")
        ax.text(start - t0 + 0.5, slot, name, va="center", fontsize=7, color="white", clip_on=True)
    ax.set_yticks(range(n), [f"slot {i + 1}" for i in range(n)])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first build started")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)
    return True


def history(path: Path, nights: Sequence[Mapping[str, Any]], keep: int = 12) -> bool:
    """Each package's build time in the nights it was built (oldest left). False when none was built."""
    chosen = list(reversed(nights[:keep]))  # nights come newest first
    series: dict[str, list[tuple[int, float]]] = {}
    for i, night in enumerate(chosen):
        for p in night.get("packages", []):
            if p.get("state") == "built" and p.get("seconds", 0) > 0:
                series.setdefault(f"{p['target']}/{p['recipe']}", []).append((i, float(p["seconds"])))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, points in sorted(series.items()):
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=name)
    ax.set_xticks(range(len(chosen)), [str(n.get("run", ""))[4:13] for n in chosen], rotation=45, fontsize=7)
    ax.set_ylabel("build seconds")
    ax.set_yscale("log")
    ax.set_title("build time per package over the last nights", fontsize=10)
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)
    return True
