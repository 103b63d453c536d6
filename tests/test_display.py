"""One name per run, one order, one number format (analysis.figures.display), as the pages use
them."""

from __future__ import annotations

import jinja2
import pytest

from analysis.figures import display
from analysis.stats import verdicts

NEW_RUNS = [
    "locally-connected",
    "dense-small",
    "cnn-flatten",
    "baseline-cnn-recipe",
    "cnn-data-10",
    "cnn-data-25",
    "cnn-data-50",
    "baseline-data-10",
    "baseline-data-25",
    "baseline-data-50",
]


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0502, "p = 0.050"),  # two significant figures, the trailing zero kept
        (0.011404, "p = 0.011"),
        (0.0076, "p = 0.0076"),
        (0.34, "p = 0.34"),
        (0.999, "p = 1.0"),
        (0.001, "p = 0.0010"),
        (0.00099, "p < 0.001"),
        (1e-13, "p < 0.001"),
        (None, "p n/a"),
    ],
)
def test_p_values_have_two_significant_figures(p, text):
    assert display.pvalue(p) == text


def test_evidence_says_why_a_small_p_is_not_a_difference():
    nbsp = "\u00a0"
    no = "no difference shown"
    ci = f"95{nbsp}% interval"
    assert display.evidence({"p_value": 0.11, "ci95": [-0.011, 0.074], "verdict": no}) == (
        f"Welch p = 0.11; {ci} -1.1 to +7.4 points: **{no}**"
    )
    small_p = {"p_value": 0.037, "ci95": [-0.0033, 0.2053], "verdict": no}
    assert display.evidence(small_p) == (
        f"Welch p = 0.037; {ci} -0.3 to +20.5 points, which includes zero: **{no}**"
    )
    both = {"p_value": 0.017, "ci95": [-0.197, -0.033], "verdict": "difference"}
    assert display.evidence(both) == f"Welch p = 0.017; {ci} -19.7 to -3.3 points: **difference**"
    unconfirmed = {
        "p_value": 0.01,
        "ci95": [0.01, 0.03],
        "verdict": "not confirmed by the replication",
    }
    assert display.evidence(unconfirmed).startswith(
        f"Welch p = 0.010; {ci} +1.0 to +3.0 points; the replication does not confirm it: "
        "**not confirmed"
    )
    # Within a family, the Holm-adjusted p decides and is said with the family; alone, not.
    family = {"p_value": 0.03, "ci95": [0.01, 0.05], "verdict": no, "p_holm": 0.06}
    assert display.evidence({**family, "family": "kernels", "family_size": 3}) == (
        f"Welch p = 0.030; Holm-adjusted within the kernels family (3 tests), p = 0.060; "
        f"{ci} +1.0 to +5.0 points: **{no}**"
    )
    alone = {**family, "family": "kernels", "family_size": 1, "p_holm": 0.03}
    assert display.evidence(alone) == f"Welch p = 0.030; {ci} +1.0 to +5.0 points: **{no}**"
    assert display.evidence({"p_value": None, "verdict": "one seed: no test"}) == (
        "p n/a: **one seed: no test**"
    )


def test_evidence_states_what_a_null_result_could_have_detected():
    nbsp = "\u00a0"
    null = {
        "p_value": 0.4,
        "ci95": [-0.02, 0.03],
        "verdict": "no difference shown",
        "detectable": {"difference": 0.0549, "power": 0.8},
    }
    assert display.evidence(null).endswith(
        f"**no difference shown** — this experiment could only have detected a difference of "
        f"about 5.5 points (80{nbsp}% power), so it does not show the two are equal"
    )
    # a difference found needs no such caveat; a recipe check speaks in macro-F1, over seeds
    assert "could only" not in display.evidence({**null, "verdict": "difference"})
    f1 = {**null, "metric": "val macro-F1", "interval": verdicts.SEEDS_ONLY}
    assert display.evidence(f1) == (
        f"Welch p = 0.40; 95{nbsp}% interval over seeds only -0.020 to +0.030: "
        "**no difference shown** — this experiment could only have detected a difference of "
        f"about 0.055 (80{nbsp}% power), so it does not show the two are equal"
    )


def test_shares_points_and_intervals():
    nbsp = "\u00a0"
    assert display.pct(0.56041) == f"56.0{nbsp}%"
    assert display.pct(0.2103, 0) == f"21{nbsp}%"
    assert display.interval(0.5604, [0.5341, 0.5860]) == f"56.0{nbsp}% (53.4–58.6)"
    assert display.points(0.16756) == "+16.8"
    assert display.points(-0.0197) == "-2.0"
    assert display.points(-0.0197, signed=False) == "2.0"
    assert display.millions(396024) == f"0.4{nbsp}M"
    assert display.duration(461) == "7.7 min" and display.duration(90) == "90 s"
    assert display.si(68388096) == "68.39 M" and display.num(3676952) == "3,676,952"


def test_every_run_has_one_readable_name_and_a_place_in_the_order():
    for run in ["baseline", "cnn", "kernel-5x5", "baseline-permuted", "cnn-permuted", *NEW_RUNS]:
        assert display.name(run) != run and run in display.ORDER
    # cnn and kernel-3x3 are one computation: one name.
    assert display.name("kernel-3x3") == display.name("cnn")
    # No two other runs share a name.
    names = [display.name(r) for r in display.ORDER if r != "kernel-3x3"]
    assert len(names) == len(set(names))
    # A run the module does not know keeps its plan title, or its id.
    assert display.name("kernel-9x9", "Kernel 9×9") == "Kernel 9×9"
    assert display.name("kernel-9x9") == "kernel-9x9"


def test_the_order_is_dense_cnn_kernels_controls_mechanisms():
    shuffled = [
        "cnn-data-10",
        "locally-connected",
        "cnn-permuted",
        "kernel-7x7",
        "zz-unknown",
        "cnn",
        "baseline-permuted",
        "kernel-5x5",
        "baseline",
    ]
    assert display.ordered(shuffled) == [
        "baseline",
        "cnn",
        "kernel-5x5",
        "kernel-7x7",
        "baseline-permuted",
        "cnn-permuted",
        "locally-connected",
        "cnn-data-10",
        "zz-unknown",
    ]
    rows = [{"run": "cnn"}, {"run": "baseline"}]
    assert [r["run"] for r in display.ordered(rows)] == ["baseline", "cnn"]
    assert list(display.ordered({"cnn": 1, "baseline": 2})) == ["baseline", "cnn"]


def test_the_filters_reach_the_templates():
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    display.register(env)
    text = env.from_string(
        "{{ 'cnn' | display_name }}: {{ m | interval(ci) }}, {{ p | pvalue }}, "
        "{% for r in runs | ordered %}{{ r }} {% endfor %}{{ literature.mslnet.accuracy | pct }}"
    ).render(m=0.5604, ci=[0.5341, 0.586], p=0.0502, runs=["cnn", "baseline"])
    assert text == (
        "CNN 3×3 (reference): 56.0\u00a0% (53.4–58.6), p = 0.050, baseline cnn 66.7\u00a0%"
    )
