"""One rule behind every verdict the site shows: the committed summary's every verdict carries
its family, Welch's p, the Holm-adjusted p, its interval and the difference it could have
detected, and every p-value a page prints is one the summary holds. Each check is a function
tested on the committed files and on a planted violation."""

from __future__ import annotations

import copy
import json
import re

import pytest

from analysis import paths
from analysis.figures import display
from analysis.stats import verdicts
from runner.report import render

# The p-values of the summary a page may print: Welch's and the family-adjusted ones (the
# kernel family's table repeats the adjusted ones as p_adjusted). The seed-paired p is detail
# and is not among them: a page that printed it as a verdict's p would fail.
P_KEYS = ("p_value", "p_holm", "p_adjusted")
# How display.pvalue prints one: "p = 0.012", "p < 0.001" (a rule's threshold "p < 0.05" is
# the declared level, not a p-value).
PRINTED = re.compile(r"\bp (=|<) (\d+(?:\.\d+)?(?:e-?\d+)?)")


def summary() -> dict:
    info = json.loads((paths.REPORT_DIR / render.PUBLISHED).read_text())
    return json.loads((paths.ROOT / info["results"] / "_study" / "summary.json").read_text())


def pages() -> dict[str, str]:
    folder = paths.REPORT_DIR
    files = [*folder.glob("*.md"), *(folder / "runs").glob("*.md")]
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(files)}


def p_values(tree) -> set[float]:
    """Every p-value under P_KEYS anywhere in a tree of dicts and lists."""
    out: set[float] = set()
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k in P_KEYS and isinstance(v, int | float):
                out.add(float(v))
            else:
                out |= p_values(v)
    elif isinstance(tree, list):
        for v in tree:
            out |= p_values(v)
    return out


def unbacked(text: str, allowed: set[float]) -> list[str]:
    """Each p-value printed in `text` that is not display.pvalue of an allowed value."""
    shown = {display.pvalue(p) for p in allowed}
    out = []
    for m in PRINTED.finditer(text):
        printed = m.group(0)
        if m.group(1) == "<" and float(m.group(2)) == verdicts.SIG_LEVEL:
            continue  # the rule's level, not a result
        if printed not in shown:
            out.append(printed)
    return out


def secondary_verdicts(tree, path: str = "") -> list[str]:
    """Paths of secondary-metric records that carry a verdict (they are reported, never one)."""
    out = []
    if isinstance(tree, dict):
        if tree.get("secondary") and "verdict" in tree:
            out.append(path)
        for k, v in tree.items():
            out += secondary_verdicts(v, f"{path}.{k}")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += secondary_verdicts(v, f"{path}[{i}]")
    return out


# --- every verdict in the committed summary carries the whole rule ---------------------------


def test_every_verdict_in_the_summary_carries_the_whole_rule():
    s = summary()
    found = verdicts.records(s["findings"])
    assert len(found) > 20, "the summary's verdicts were not found"
    assert verdicts.incomplete(s) == []
    assert secondary_verdicts(s) == []
    # every verdict's family is one the summary lists, with the size Holm multiplied by
    families = s["findings"]["families"]
    assert {r["family"] for r in found} == set(families)
    assert all(r["family_size"] == families[r["family"]] for r in found)
    assert all(r["p_holm"] >= r["p_value"] for r in found if r["p_value"] is not None)


def test_the_walk_finds_a_verdict_missing_any_part_of_the_rule():
    s = summary()
    path = ".findings.kernels.against_reference.kernel-5x5.accuracy"
    for field in verdicts.RECORD_FIELDS:
        planted = copy.deepcopy(s)
        del planted["findings"]["kernels"]["against_reference"]["kernel-5x5"]["accuracy"][field]
        assert verdicts.incomplete(planted) == [(path, [field])]
    planted = copy.deepcopy(s)
    planted["findings"]["mechanisms"]["locality"]["detectable"] = None  # a null result
    assert verdicts.incomplete(planted) == [(".findings.mechanisms.locality", ["detectable"])]
    planted = copy.deepcopy(s)
    planted["findings"]["cnn_vs_baseline"]["macro_f1"]["verdict"] = "difference"
    assert secondary_verdicts(planted) == [".findings.cnn_vs_baseline.macro_f1"]


# --- every p-value a page prints is in the summary --------------------------------------------


def test_every_printed_p_value_is_one_the_summary_holds():
    allowed = p_values(summary())
    found = pages()
    assert sum(len(PRINTED.findall(t)) for t in found.values()) > 20, "no p-values found"
    bad = {page: unbacked(text, allowed) for page, text in found.items()}
    assert {page: b for page, b in bad.items() if b} == {}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Welch p = 0.012: **difference**", []),
        ("Holm-adjusted within the kernels family (4 tests), p = 0.24", []),
        ("McNemar p < 0.001", []),
        ("A difference is claimed when p < 0.05.", []),  # the rule's level
        ("Welch p = 0.013: **difference**", ["p = 0.013"]),  # not in the summary
        ("paired p = 0.0031", ["p = 0.0031"]),  # the seed-paired detail is not a verdict's p
        ("p < 0.01", ["p < 0.01"]),  # not how a p-value is printed
    ],
)
def test_a_printed_p_value_is_checked_against_the_summary(text, want):
    allowed = {0.0123, 0.2411, 0.0004}
    assert unbacked(text, allowed) == want


def test_a_page_with_a_p_value_the_summary_lacks_is_found():
    s = summary()
    allowed = p_values(s)
    page = pages()["kernels.md"]
    assert unbacked(page, allowed) == []
    # the GPU check's retired paired test gave 0.015 for the CNN against the dense network
    planted = page + "\nOn the GPU check: +16.2 points (p = 0.015: **difference**).\n"
    assert "p = 0.015" not in {display.pvalue(p) for p in allowed}
    assert unbacked(planted, allowed) == ["p = 0.015"]
    # and the summary is what backs a page: without the kernels' p-values, the page fails
    stripped = copy.deepcopy(s)
    stripped["findings"]["kernels"] = {}
    assert unbacked(page, p_values(stripped)) != []
