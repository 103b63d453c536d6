"""A page says "the same recipe", "identical but for their kernels", "every run levelled off" or
"the same order" only where the run records bear it out, and names the difference where they do
not: the claims' functions (analysis.study.claims) on small records, then the published pages
rendered from the committed records as they are and with one record changed."""

from __future__ import annotations

import copy
import json
import re

import pytest

from analysis import paths
from analysis.figures import display
from analysis.study import claims
from runner.plan import load
from runner.report import render


def record(run="x", sha="abc", converged=True, **params) -> dict:
    return {
        "run": run,
        "params": params,
        "provenance": {"data_sha256": sha},
        "training": {"converged": converged},
    }


# --- the claims' functions -------------------------------------------------------------------


def test_recipe_differences_names_the_recipe_parameters_that_differ_not_seeds_or_network():
    cnn = record(model="cnn", learning_rate=2e-3, epochs=24, seeds=[0, 1, 2], filters=[32])
    dense = record(model="baseline", learning_rate=2e-4, epochs=36, seeds=[0], filters=[64])
    assert claims.recipe_differences(cnn, dense) == {
        "epochs": (24, 36),
        "learning_rate": (2e-3, 2e-4),
    }
    assert claims.recipe_differences(cnn, record(model="x", learning_rate=2e-3, epochs=24)) == {}


def test_data_differences_read_a_missing_parameter_as_the_notebooks_default():
    older, newer = record(image_size=48), record(image_size=48, train_fraction=1.0)
    assert claims.data_differences(older, newer) == {}
    assert claims.data_differences(older, record(image_size=48, train_fraction=0.1)) == {
        "train_fraction": (1.0, 0.1)
    }
    assert set(claims.data_differences(older, record(sha="other", image_size=48))) == {
        "data_sha256"
    }


def test_varying_lists_each_parameter_that_takes_more_than_one_value():
    family = [record(k=[3], lr=1, seeds=[0]), record(k=[5], lr=1, seeds=[1]), record(k=[7], lr=1)]
    assert claims.varying(family) == {"k": [[3], [5], [7]]}
    assert claims.varying(family, ["lr"]) == {}
    spread = claims.recipe_spread([record(learning_rate=1, epochs=24), record(learning_rate=2)])
    assert spread == {"learning_rate": [1, 2], "epochs": [24, None]}


def test_recipe_of_finds_the_network_whose_recipe_a_run_shares():
    cnn, dense = record(learning_rate=2e-3, epochs=24), record(learning_rate=2e-4, epochs=36)
    kin = {"cnn": cnn, "baseline": dense}
    flatten = record(learning_rate=2e-4, epochs=36, head="flatten")
    assert claims.recipe_of(flatten, kin) == "baseline"
    assert claims.recipe_of(record(learning_rate=2e-3, epochs=36), kin) is None


def test_all_converged_needs_every_record_and_at_least_one():
    assert claims.all_converged([record(), record()])
    assert not claims.all_converged([record(), record(converged=False)])
    assert not claims.all_converged([])


def test_same_order_compares_the_ranking_of_the_names_both_score():
    theirs = {"a": 0.58, "b": 0.57, "c": 0.52}
    assert claims.same_order(theirs, {"a": 0.56, "b": 0.55, "c": 0.53, "d": 0.9})
    assert not claims.same_order(theirs, {"a": 0.55, "b": 0.56, "c": 0.53})


def test_in_words_names_parameters_in_a_fixed_order():
    assert claims.in_words({"epochs": 0, "learning_rate": 0}) == "learning rate and training length"
    assert claims.in_words(["augment", "epochs", "learning_rate"]) == (
        "learning rate, training length and augmentation"
    )
    assert claims.in_words([]) == ""


# --- the published pages against the records -------------------------------------------------


@pytest.fixture(scope="module")
def published() -> dict:
    """The context the committed pages were rendered from: the published profile's records."""
    info = json.loads((paths.REPORT_DIR / render.PUBLISHED).read_text())
    plan = load(profile=info["profile"])
    return render.context(plan, paths.ROOT / info["results"], allow_failed=True, refresh=False)


def page(ctx: dict, name: str) -> str:
    """Page `name` rendered from `ctx`, whitespace collapsed (a sentence may break anywhere)."""
    template, extra = render.pages(ctx)[name]
    text = render.environment().get_template(template).render(**ctx, **extra)
    return " ".join(text.replace("\u00a0", " ").split())


def changed(ctx: dict, run: str, **params) -> dict:
    """`ctx` with some parameters of one run's record changed."""
    out = copy.copy(ctx)
    out["runs"] = dict(ctx["runs"])
    out["runs"][run] = copy.deepcopy(ctx["runs"][run])
    out["runs"][run]["params"].update(params)
    return out


def test_the_home_page_says_same_recipe_only_when_the_records_share_it(published):
    ctx = published
    ref, base = ctx["runs"][ctx["reference"]], ctx["runs"][ctx["baseline"]]
    differ = claims.recipe_differences(ref, base)
    text = page(ctx, "index.md")
    if differ:
        assert "same recipe" not in text
        assert f"except for each network's own {claims.in_words(differ)}" in text
    else:
        assert "trained by the same [recipe](recipe.md)" in text
    # Planted: give the dense network the CNN's recipe, and the page says it is the same.
    same = changed(ctx, ctx["baseline"], **{k: ref["params"].get(k) for k in claims.RECIPE_KEYS})
    assert "trained by the same [recipe](recipe.md)" in page(same, "index.md")
    # And a recipe that differs in one more parameter is named.
    other = changed(ctx, ctx["baseline"], label_smoothing=0.0)
    assert "label smoothing" in page(other, "index.md")


def test_the_home_page_says_same_training_images_only_when_the_records_share_them(published):
    ctx = published
    ref, base = ctx["runs"][ctx["reference"]], ctx["runs"][ctx["baseline"]]
    text = page(ctx, "index.md")
    assert ("Both learn from the same" in text) == (not claims.data_differences(ref, base))
    fewer = changed(ctx, ctx["baseline"], train_fraction=0.5)
    assert "Both learn from the same" not in page(fewer, "index.md")


def test_the_baseline_page_names_how_its_recipe_differs_from_the_cnns(published):
    ctx = published
    ref, base = ctx["runs"][ctx["reference"]], ctx["runs"][ctx["baseline"]]
    differ = claims.recipe_differences(base, ref)
    text = page(ctx, "baseline.md")
    if differ:
        assert f"recipe](recipe.md) except for its {claims.in_words(differ)}" in text
    else:
        assert "recipe](recipe.md), unchanged" in text
    same = changed(ctx, ctx["baseline"], **{k: ref["params"].get(k) for k in claims.RECIPE_KEYS})
    assert "recipe](recipe.md), unchanged" in page(same, "baseline.md")


def test_the_kernel_page_calls_the_family_identical_only_where_it_is(published):
    ctx = published
    family = ctx["summary"]["findings"]["kernels"]["runs"]
    records = [ctx["runs"][n] for n in family]
    others = set(claims.varying(records)) - {"kernel_sizes", "kernel_size", "filters"}
    text = page(ctx, "kernels.md")
    assert ("the same data, recipe, epochs and seeds" in text) == (not others)
    stops = {s for r in records for s in r["training"]["stop_reason"]}
    assert ("trained to the end of its decaying schedule" in text) == (stops == {"schedule_end"})
    longer = changed(ctx, family[-1], epochs=ctx["runs"][family[-1]]["params"]["epochs"] + 12)
    text = page(longer, "kernels.md")
    assert "the same data, recipe, epochs and seeds" not in text
    assert "except for their training length" in text


def test_the_interpretation_says_the_kernel_order_is_the_same_only_when_it_is(published):
    ctx = published
    lit = display.LITERATURE["reference_kernels"]["accuracy"]
    rows = ctx["summary"]["findings"]["kernels"]["rows"]
    ours = {n: rows[n if n != "kernel-3x3" else ctx["reference"]]["test_accuracy"] for n in lit}
    text = page(ctx, "interpretation.md")
    assert ("The order is the same" in text) == claims.same_order(lit, ours)
    # Planted: the 7×7 network first.
    summary = copy.deepcopy(ctx["summary"])
    summary["findings"]["kernels"]["rows"]["kernel-7x7"]["test_accuracy"] = 0.99
    text = page({**ctx, "summary": summary}, "interpretation.md")
    assert "The order is the same" not in text and "The order differs" in text


def test_the_interpretation_says_both_permutation_runs_levelled_off_only_when_they_did(published):
    ctx = published
    p = ctx["summary"]["findings"]["permutation"]["runs"][ctx["reference"]]
    pair = [ctx["runs"][ctx["reference"]], ctx["runs"][p["permuted"]]]
    said = "Both runs here are trained until val has levelled off"
    assert (said in page(ctx, "interpretation.md")) == claims.all_converged(pair)
    stalled = copy.copy(ctx)
    stalled["runs"] = dict(ctx["runs"])
    stalled["runs"][p["permuted"]] = copy.deepcopy(ctx["runs"][p["permuted"]])
    stalled["runs"][p["permuted"]]["training"]["converged"] = False
    assert said not in page(stalled, "interpretation.md")


def test_the_mechanisms_page_names_each_run_that_has_its_own_recipe(published):
    ctx = published
    kin = {n: ctx["runs"][n] for n in (ctx["reference"], ctx["baseline"])}
    roles = ctx["summary"]["findings"]["mechanisms"]["runs"].values()
    own = [n for n in roles if n in ctx["runs"] and not claims.recipe_of(ctx["runs"][n], kin)]
    text = page(ctx, "mechanisms.md")
    assert "Each uses the recipe of the CNN or of the dense network" in text
    sentence = text[text.index("Each uses the recipe") :].split(". ")[0]
    for name in roles:
        assert (display.name(name) in sentence) == (name in own), name


def test_the_recipe_page_names_the_parameters_the_study_varies(published):
    ctx = published
    study = [
        r
        for n, r in ctx["runs"].items()
        if "model" in r and ctx["plan"][n]["group"] not in ("recipe", "data-size")
    ]
    spread = claims.recipe_spread(study)
    text = page(ctx, "recipe.md")
    if spread:
        assert f"share one recipe except for their {claims.in_words(spread)}" in text
        assert "trained the same way" not in text
    else:
        assert "Every model of the study is trained the same way" in text


def test_the_dataset_page_says_every_model_is_class_weighted_only_when_each_is(published):
    ctx = published
    said = "every model of the study uses a class-weighted loss"
    weights = {
        n: r["params"].get("class_weighting")
        for n, r in ctx["runs"].items()
        if "class_weighting" in r.get("params", {}) and ctx["plan"][n]["group"] != "recipe"
    }
    assert (said in page(ctx, "dataset.md")) == ("none" not in weights.values())
    unweighted = changed(ctx, ctx["reference"], class_weighting="none")
    assert said not in page(unweighted, "dataset.md")


def test_the_home_page_says_ahead_on_every_run_only_when_each_seed_is(published):
    ctx = published
    c = ctx["summary"]["findings"]["cnn_vs_baseline"]["accuracy"]
    ahead = all(a > b for a, b in zip(c["a"], c["b"], strict=True))
    assert ("ahead on every one of the" in page(ctx, "index.md")) == ahead


def test_the_statistics_page_calls_the_grouping_largest_only_when_it_is(published):
    g = published["summary"]["findings"]["grouping"]
    largest = max(g["groupings"], key=lambda n: g["groupings"][n]["design_effect"])
    said = "The grouping with the largest design effect"
    assert (said in page(published, "statistics.md")) == (largest == g["chosen"])


def test_the_home_page_states_accuracy_changes_in_points_not_relative_drops(published):
    """One unit per comparison: the inductive-bias answer's only percentage is the shift's size."""
    ctx = published
    text = page(ctx, "index.md")
    section = text[text.index("## What inductive bias") : text.index("## When is convolution")]
    shift = ctx["summary"]["findings"]["translation"][ctx["reference"]]["max_shift_fraction"]
    percents = set(re.findall(r"(\d+(?:\.\d+)?) %", section))
    assert percents <= {f"{100 * shift:.0f}"}, percents
    assert "points" in section


def test_the_three_answers_use_test_accuracy_and_label_any_secondary_metric(published):
    for name in ("index.md", "interpretation.md"):
        text = page(published, name)
        for sentence in re.split(r"(?<=[.!?]) ", text):
            if "test macro-F1" in sentence or "macro-F1 of test" in sentence:
                assert "secondary" in sentence, (name, sentence)
        when = text[text.index("When is convolution") :]
        when = when[: when.index("## ", 1)] if "## " in when[1:] else when
        assert "macro-F1" not in when.split("Against the reference study")[0], name


def planted_family(ctx: dict, key: str, rename: dict, verdicts_by_run: dict | None = None) -> dict:
    """`ctx` whose finding `key` is the 48 px kernel family's with its runs renamed; each run in
    `verdicts_by_run` gets that (difference, verdict) on test accuracy."""
    source = ctx["summary"]["findings"]["kernels"]
    name = lambda n: rename.get(n, n)  # noqa: E731
    fam = {
        "runs": [name(n) for n in source["runs"]],
        "rows": {name(n): r for n, r in source["rows"].items()},
        "against_reference": {
            name(n): copy.deepcopy(c) for n, c in source["against_reference"].items()
        },
    }
    for run, (difference, verdict) in (verdicts_by_run or {}).items():
        fam["against_reference"][run]["accuracy"].update(difference=difference, verdict=verdict)
    summary = copy.deepcopy(ctx["summary"])
    summary["findings"][key] = fam
    return {**ctx, "summary": summary}


def test_the_interpretation_sets_the_128_px_family_beside_the_reference_study(published):
    lit = display.LITERATURE["reference_kernels"]["accuracy"]
    rename = {published["reference"]: "kernel-128-3x3"}
    rename.update({n: n.replace("kernel-", "kernel-128-") for n in lit if n != "kernel-3x3"})
    ctx = planted_family(published, "kernels_128", rename)
    rows = ctx["summary"]["findings"]["kernels_128"]["rows"]
    ours = {n: rows[n.replace("kernel-", "kernel-128-")]["test_accuracy"] for n in lit}
    text = page(ctx, "interpretation.md")
    assert "At 128 px, the reference study's own size, these networks score" in text
    order_said = "The order is the reference study's;" in text
    assert order_said == claims.same_order(lit, ours)
    below = all(ours[n] < lit[n] for n in lit)
    assert ("every one of them scores below that study's single run" in text) == below
    assert "(the rest still training)" not in text
    # Planted: the 7×7 network first, and one network still training.
    ctx["summary"]["findings"]["kernels_128"]["rows"]["kernel-128-7x7"]["test_accuracy"] = 0.99
    del ctx["summary"]["findings"]["kernels_128"]["rows"]["kernel-128-3to5"]
    text = page(ctx, "interpretation.md")
    assert "The order is not the reference study's" in text
    assert "(the rest still training)" in text
    assert "every one of them scores below" not in text


def test_the_interpretation_says_which_way_a_decision_s_difference_goes(published):
    rename = {published["reference"]: "kernel-128-3x3", "kernel-5x5": "depth-128-2"}
    rename.update({"kernel-7x7": "depth-128-5", "kernel-3to5": "depth-128-3"})
    difference, none = "difference", "no difference shown"
    plain = planted_family(published, "depth_128", rename)
    for c in plain["summary"]["findings"]["depth_128"]["against_reference"].values():
        c["accuracy"]["verdict"] = none
    text = page(plain, "interpretation.md")
    assert "Depth**: " + display.name("depth-128-2") in text
    assert "No member differs from the reference by the rule" in text.split("**Depth**")[1]
    mixed = planted_family(
        published,
        "depth_128",
        rename,
        {"depth-128-2": (-0.08, difference), "depth-128-5": (0.05, difference)},
    )
    for n in ("depth-128-3", "kernel-3x3-wide"):
        mixed["summary"]["findings"]["depth_128"]["against_reference"][n]["accuracy"]["verdict"] = (
            none
        )
    depth = page(mixed, "interpretation.md").split("**Depth**")[1].split("**Pooling")[0]
    assert f"By the rule, {display.name('depth-128-2')} scores below the reference" in depth
    assert f"By the rule, {display.name('depth-128-5')} scores above the reference" in depth
    assert "No member differs" not in depth


def test_the_kernel_page_speaks_of_several_comparisons_only_where_there_are(published):
    """Holm's bullet appears under a family only when more than one comparison was adjusted."""
    text = page(published, "kernels.md")
    sections = text.split("## At ")[1:]
    assert len(sections) >= 2
    for key, section in zip(("kernels_128", "kernels"), sections[:2], strict=True):
        holm = published["summary"]["findings"].get(key, {}).get("holm") or {}
        tested = sum(h.get("p_adjusted") is not None for h in holm.values())
        assert ("Several comparisons at once" in section) == (tested > 1), key
        assert "at once. -" not in section and not section.rstrip().endswith("at once.")


def test_global_context_names_a_larger_kernel_as_better_at_128_px_only_by_the_rule(published):
    rename = {published["reference"]: "kernel-128-3x3", "kernel-5x5": "kernel-128-5x5"}
    rename.update({"kernel-7x7": "kernel-128-7x7", "kernel-3to5": "kernel-128-3to5"})
    rename["kernel-3x3-wide"] = "kernel-128-3x3-wide"
    ctx = planted_family(
        published,
        "kernels_128",
        rename,
        {"kernel-128-5x5": (0.05, "difference"), "kernel-128-7x7": (-0.02, "difference")},
    )
    ctx["runs"] = dict(ctx["runs"])
    for old, new in rename.items():
        ctx["runs"].setdefault(new, ctx["runs"][old])
    for n in ("kernel-128-3to5",):
        ctx["summary"]["findings"]["kernels_128"]["against_reference"][n]["accuracy"]["verdict"] = (
            "no difference shown"
        )
    text = page(ctx, "interpretation.md")
    five = display.name("kernel-128-5x5")
    assert f"{five} beats {display.name('kernel-128-3x3')} by the rule" in text
    assert "the rest still training" not in text.split("Very little data")[0]
    for c in ctx["summary"]["findings"]["kernels_128"]["against_reference"].values():
        c["accuracy"]["verdict"] = "no difference shown"
    text = page(ctx, "interpretation.md")
    assert "no larger kernel beats" in text and f"{five} beats" not in text


def test_a_family_names_a_network_whose_seeds_had_not_levelled_off_only_when_one_had_not(
    published,
):
    family = [n for n, r in published["plan"].items() if r["group"] == "stride-128"]
    name = next((n for n in family if n in published["runs"]), None)
    if name is None:
        pytest.skip("no computed stride network yet")
    said = f"Not every seed of {display.name(name)} levelled off"
    for flat in (True, False):
        ctx = {**published, "runs": dict(published["runs"])}
        run = copy.deepcopy(ctx["runs"][name])
        for i, s in enumerate(run["per_seed"]):
            s["plateaued"] = flat or i > 0
        ctx["runs"][name] = run
        assert (said in page(ctx, "design.md")) == (not flat)


def test_each_decision_s_line_keeps_its_sentences_apart(published):
    text = page(published, "interpretation.md")
    assert ".No member" not in text and ".By the rule" not in text
