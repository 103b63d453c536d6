"""`make mutate`'s report: mutmut's result lines read into a score per module."""

from __future__ import annotations

from collections import Counter

from tests import mutation_score

RESULTS = """\
    analysis.stats.evaluate.x_scores__mutmut_1: killed
    analysis.stats.evaluate.x_scores__mutmut_2: survived
    analysis.stats.evaluate.x_mean_std__mutmut_3: killed
    analysis.study.comparisons.x_paired__mutmut_10: no tests
    analysis.study.comparisons.x_paired__mutmut_11: timeout
    analysis.study.comparisons.x_findings__mutmut_12: killed
    analysis.models.networks.xǁLayerInfoǁ__init____mutmut_1: not checked
some line mutmut prints that is not a result
"""


def test_tally_counts_each_status_per_module_and_lists_what_was_not_killed():
    counts, alive = mutation_score.tally(RESULTS)
    assert counts["analysis.stats.evaluate"] == Counter(killed=2, survived=1)
    assert counts["analysis.study.comparisons"] == Counter(
        {"killed": 1, "no tests": 1, "timeout": 1}
    )
    assert [line.split(":")[0] for line in alive] == [
        "analysis.stats.evaluate.x_scores__mutmut_2",
        "analysis.study.comparisons.x_paired__mutmut_10",
        "analysis.study.comparisons.x_paired__mutmut_11",
        "analysis.models.networks.xǁLayerInfoǁ__init____mutmut_1",
    ]
    assert counts["analysis.models.networks"] == Counter({"not checked": 1})


def test_score_counts_only_killed_and_leaves_unchecked_mutants_out():
    assert mutation_score.score(Counter(killed=2, survived=1)) == 100 * 2 / 3
    # a timeout or a function no test calls is not a mutant caught
    assert mutation_score.score(Counter({"killed": 1, "no tests": 1, "timeout": 2})) == 25.0
    assert mutation_score.score(Counter({"killed": 3, "not checked": 5})) == 100.0
    assert mutation_score.score(Counter()) == 0.0
