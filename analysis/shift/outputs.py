"""What the shift notebook writes besides its record: the per-image groups file (one image
per line, diffable) and its two figures (the instrument mix per split, the splits' burst sizes).
The measurements it draws on live beside it: analysis.shift.image_names (instruments, bursts),
analysis.shift.near_duplicates and analysis.shift.instrument_gap."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from analysis.shift.image_names import INSTRUMENTS


def groups_json(header: dict, splits: dict[str, dict[str, dict]]) -> str:
    """The per-image keys as JSON, one image per line (a small, diffable file):
    {<header keys>..., "splits": {split: {file: {...}}}}."""
    lines = ["{"]
    lines += [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
    lines.append('  "splits": {')
    for i, (split, rows) in enumerate(splits.items()):
        lines.append(f"    {json.dumps(split)}: {{")
        lines += [
            f"      {json.dumps(f)}: {json.dumps(r)}" + ("," if j < len(rows) - 1 else "")
            for j, (f, r) in enumerate(rows.items())
        ]
        lines.append("    }" + ("," if i < len(splits) - 1 else ""))
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def write_groups(path, header: dict, splits: dict[str, dict[str, dict]]) -> Path:
    """groups_json to `path`, through a temporary name and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(groups_json(header, splits))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- figures ---------------------------------------------------------------------------------


def instrument_figure(mix: dict[str, dict], path):
    """Stacked bars of the instrument shares per split, each share written on its bar."""
    from analysis.figures.notebook import _save, plt

    splits = list(mix)
    names = sorted(INSTRUMENTS.values())
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    left = np.zeros(len(splits))
    for name in names:
        vals = np.array([mix[s]["instrument_shares"][name] for s in splits]) * 100
        bars = ax.barh(splits, vals, left=left, label=name)
        ax.bar_label(
            bars,
            labels=[f"{v:.1f} %" if v >= 6 else "" for v in vals],
            label_type="center",
            fontsize=8,
        )
        left += vals
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("share of the split's images (%)")
    ax.set_title("Instrument mix per split")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    return _save(fig, path)


def group_size_figure(groups: dict[str, dict[str, dict]], path):
    """Per grouping (a panel each), the share of each split's images that lies in groups of
    each size: how bursty the splits are."""
    from analysis.figures.notebook import _save, plt

    groupings = list(next(iter(groups.values())))
    fig, axes = plt.subplots(1, len(groupings), figsize=(4.2 * len(groupings), 3.2), sharey=True)
    for ax, g in zip(np.atleast_1d(axes), groupings, strict=True):
        for split, by_grouping in groups.items():
            s = by_grouping[g]
            if not s["images"]:
                continue
            sizes = np.array([int(k) for k in s["size_counts"]])
            counts = np.array(list(s["size_counts"].values()))
            order = np.argsort(sizes)
            share = np.cumsum(sizes[order] * counts[order]) / s["images"]
            ax.step(sizes[order], share, where="post", label=f"{split} ({s['groups']} groups)")
        ax.set_xscale("log")
        ax.set_xlabel("group size (images)")
        ax.set_title(g.replace("_", " + "))
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("share of the split's images\nin groups of ≤ this size")
    fig.tight_layout()
    return _save(fig, path)
