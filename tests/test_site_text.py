"""The committed site reads as a story: a short home page that answers the study's three
questions, each fact stated on one page, and a glossary behind every term it defines."""

from __future__ import annotations

import html as html_text
import inspect
import json
import re
from collections import defaultdict

import numpy as np
import pytest
import yaml

from analysis import paths
from analysis.figures import display
from analysis.stats import bootstrap, verdicts
from runner.report import render
from tests import site_text

QUESTIONS = (
    "Why did the CNN beat the dense network?",
    "What inductive bias does convolution introduce?",
    "When is convolution not the right tool?",
)
GLOSSARY = paths.REPORT_DIR / "includes" / "glossary.md"


@pytest.fixture(scope="module")
def built(committed_site):
    site_dir = committed_site
    return site_dir, {p: (site_dir / p).read_text() for p in site_text.pages(site_dir)}


def sections(page_html: str) -> dict[str, str]:
    """The article's h2 sections by heading text."""
    body = site_text.article(page_html)
    parts = re.split(r"(<h2\b[^>]*>.*?</h2>)", body, flags=re.S)
    out = {}
    for head, content in zip(parts[1::2], parts[2::2], strict=True):
        title = " ".join(site_text.blocks(head)).strip()
        out[title] = content
    return out


def test_the_home_page_is_short_and_answers_the_three_questions(built):
    _, html = built
    home = html["index.html"]
    count = site_text.prose_words(home)
    assert count <= 600, f"home page prose: {count} words (at most 600)"
    found = sections(home)
    for q in QUESTIONS:
        assert q in found, (q, list(found))
        body = found[q]
        first = site_text.blocks(body)[0]
        assert 2 <= len(site_text.sentences(first)) <= 3, first
        assert len(re.findall(r"<img\b", body)) == 1, q  # the one figure that shows it
        assert re.search(r'href="(?!https?:|#)[^"]+\.html', body), q  # the evidence page
    # The key numbers: readable names, test accuracy with its interval, parameters.
    table = " ".join(site_text.blocks(found["Key numbers"])).replace("\xa0", " ")
    assert "CNN 3×3 (reference)" in table and "Dense network" in table
    assert re.search(r"\d+\.\d % \(\d+\.\d–\d+\.\d\)", table)
    assert "Provenance" in found and 'href="provenance.html"' in found["Provenance"]
    assert "<details" not in home  # nothing to expand


def test_no_long_sentence_appears_on_two_pages(built):
    """Run pages come from one template: their shared text lives once, on the runs index."""
    _, html = built
    where = defaultdict(set)
    for page, text in html.items():
        for s in site_text.long_sentences(text):
            where[s].add(page)
    repeated = {s: sorted(p) for s, p in where.items() if len(p) > 1}
    assert not repeated, "\n".join(f"{p}: {s}" for s, p in list(repeated.items())[:20])


def test_the_repetition_check_finds_a_repeated_sentence():
    sentence = "This one sentence of more than twelve words appears on two different pages here."
    page = f'<article class="md-content__inner md-typeset"><p>{sentence} Short.</p></article>'
    assert site_text.long_sentences(page) == {" ".join(site_text.words(sentence)).lower()}
    assert site_text.prose_words(page) == 15
    table = page.replace("</p>", "</p><table><tr><td>a b c</td></tr></table>")
    assert site_text.prose_words(table) == 15


def test_the_glossary_defines_every_term_once_and_every_page_carries_it(built):
    _, html = built
    terms = re.findall(r"^\*\[([^\]]+)\]: (.+)$", GLOSSARY.read_text(), flags=re.M)
    assert len(terms) >= 15
    names = [t for t, _ in terms]
    assert len(names) == len(set(names))
    for required in ("macro-F1", "paired t-test", "Holm", "McNemar", "receptive field", "plateau"):
        assert required in names, required
    config = yaml.safe_load(paths.MKDOCS_FILE.read_text().replace("!!", ""))
    snippets = next(
        e["pymdownx.snippets"]
        for e in config["markdown_extensions"]
        if isinstance(e, dict) and "pymdownx.snippets" in e
    )
    assert "abbr" in config["markdown_extensions"] and snippets["auto_append"] == ["glossary.md"]
    # Each term is explained where it is used: a hover on the page, on every page.
    used = set()
    for page, text in html.items():
        body = site_text.article(text)
        titles = re.findall(r'<abbr title="[^"]+">([^<]+)</abbr>', body)
        assert titles, f"{page}: no glossary term"
        used.update(titles)
        assert not re.search(r"^\*\[", body, flags=re.M), page  # definitions never shown as text
    assert {"macro-F1", "CNN", "seeds"} <= used


def test_no_markdown_shows_as_text_on_any_page(built):
    """What a reader sees: no table row of `|`, no `**`, no `](` left in a page's text."""
    _, html = built
    leaks = [
        f"{page}: {what}: …{text}…"
        for page, text in html.items()
        for what, text in site_text.markdown_leaks(text)
    ]
    assert not leaks, "\n".join(leaks[:20])


@pytest.mark.parametrize(
    "leaked",
    [
        "<p>Modes: RGB 6,519.\n| Size | Images |\n|---|---:|\n| 256x192 | 1,384 |</p>",
        "<p>| a | b |</p>",
        "<p>|:---:|---|</p>",
        "<li>the <strong>CNN</strong> wins by **16 points**</li>",
        "<p>a *shared* filter</p>",
        "<td>see [Statistics](statistics.md)</td>",
        "<p>![a figure](figures/x.png)</p>",
        "<p>*[CNN]: Convolutional neural network</p>",
        "<p>## Splits</p>",
        "<p>the file `model.keras`</p>",
        "<h2>The shift { #data-shift }</h2>",
        "<p>accuracy {{ m.test.accuracy }}</p>",
        '<p><abbr title="a **bold** hover">CNN</abbr></p>',
        "<p>Size | Images ---|---: 256x192 | 1,384</p>",  # a table without its outer pipes
        '<p>!!! note "Why groups" Images come in bursts.</p>',
        "<p>as MSLNet reports[^1], the split is by sol</p>",
        '<p>&lt;div class="grid"&gt; two figures &lt;/div&gt;</p>',
    ],
)
def test_the_markdown_check_finds_each_kind_of_leak(leaked):
    page = f'<article class="md-content__inner md-typeset">{leaked}</article>'
    assert site_text.markdown_leaks(page), leaked


def test_the_markdown_check_passes_what_markdown_rendered():
    page = (
        '<article class="md-content__inner md-typeset"><h2 id="splits">Splits</h2>'
        "<p>The <strong>CNN</strong> (a <em>shared</em> filter, 3 × 3) wins; |x| is small; "
        'a | b; <a href="statistics.html">Statistics</a> · <code>**/*.json</code> '
        '<abbr title="A 95 % interval (seeds, groups).">interval</abbr></p>'
        "<table><tr><th>Size</th><th>Images</th></tr><tr><td>256x192</td><td>1,384</td></tr>"
        "</table><pre><code>| a | b |\n|---|---|\n[x](y) `z`</code></pre></article>"
    )
    assert site_text.markdown_leaks(page) == []


def _glossary() -> dict[str, str]:
    return dict(re.findall(r"^\*\[([^\]]+)\]: (.+)$", GLOSSARY.read_text(), flags=re.M))


def _summary() -> dict:
    """The published study summary: the one the committed pages were rendered from."""
    info = json.loads((paths.REPORT_DIR / render.PUBLISHED).read_text())
    return json.loads((paths.ROOT / info["results"] / "_study" / "summary.json").read_text())


# How the glossary may name each level of bootstrap.GROUPINGS (a reader knows an instrument as a
# camera).
LEVEL_WORDS = {"instrument": ("instrument", "camera")}


def _levels_named(text: str) -> set[str]:
    levels = {level for g in bootstrap.GROUPINGS for level in g.split(" + ")}
    return {
        level
        for level in levels
        if any(re.search(rf"\b{w}\b", text) for w in LEVEL_WORDS.get(level, (level,)))
    }


def _tests_named(findings) -> set[str]:
    """The tests the summary's verdicts say they used, e.g. "Welch's t-test over seeds;
    hierarchical bootstrap (seeds × image groups)" names Welch's t-test and the bootstrap."""
    if isinstance(findings, dict):
        named = {findings["test"]} if isinstance(findings.get("test"), str) else set()
        return named.union(*(_tests_named(v) for v in findings.values()))
    if isinstance(findings, list):
        return set().union(*(_tests_named(v) for v in findings))
    return set()


def test_the_glossary_defines_the_interval_the_site_computes(built):
    """The interval on every page is analysis.stats.bootstrap's hierarchical bootstrap (seeds,
    then groups of test images): the glossary says so, and the run pages show it."""
    method = bootstrap.hierarchical_bootstrap.__name__.replace("_", " ")  # "hierarchical bootstrap"
    level = inspect.signature(bootstrap.hierarchical_bootstrap).parameters["level"].default
    terms = _glossary()
    for term in ("interval", "confidence interval"):
        text = terms[term]
        assert method in text and "seeds" in text and "groups of related test images" in text, term
        assert f"{100 * level:.0f} %" in text, term
        assert not re.search(r"bootstrap over (the )?test images", text), term
    assert method in terms["bootstrap"] and "seeds" in terms["bootstrap"]
    assert not re.search(r"Resampling the test images", terms["bootstrap"])
    # Its groups are the grouping the study chose (sol, instrument, sequence: the summary).
    info = json.loads((paths.REPORT_DIR / render.PUBLISHED).read_text())
    results = paths.ROOT / info["results"]
    summary = json.loads((results / "_study" / "summary.json").read_text())
    chosen = summary["findings"]["grouping"]["chosen"]
    assert _levels_named(terms["bootstrap"]) == set(chosen.split(" + ")), (chosen, "bootstrap")
    # The intervals the site prints are that function's output, as bootstrap.py computes it.
    intervals = summary["findings"]["intervals"]
    probe = bootstrap.hierarchical_bootstrap([(1.0, np.ones((2, 4), bool))], np.arange(4), 10)
    assert intervals and all(set(iv) == set(probe) for iv in intervals.values())
    assert {iv["replicates"] for iv in intervals.values()} == {bootstrap.N_BOOT}
    _, html = built
    shown = 0
    for name, iv in intervals.items():
        page = html.get(f"runs/{name}.html")
        if page is None:
            continue
        m = json.loads((results / name / "metrics.json").read_text())
        if m.get("same_computation_as"):
            continue  # its page points to the run it shares
        text = " ".join(site_text.blocks(site_text.article(page)))
        shows = display.interval(m["test"]["accuracy"], iv["ci95"]).replace(display.NBSP, " ")
        assert f"Test accuracy with its 95 % interval: {shows}" in text.replace("\xa0", " "), name
        shown += 1
    assert shown >= 2


def test_the_glossary_names_the_tests_the_verdicts_use(built):
    terms = _glossary()
    welch = verdicts.welch([0.5, 0.6], [0.4, 0.5])["test"]  # "Welch's t-test over seeds"
    assert welch.startswith("Welch's t-test") and "seeds" in welch
    assert "verdicts" in terms["Welch's t-test"] and "seeds" in terms["Welch's t-test"]
    assert "family" in terms["Holm"] and "Welch" in terms["Holm"]
    assert "family" in terms["Holm-adjusted"]
    assert "no verdict" in terms["paired t-test"]
    # What the glossary says is what the published summary's verdicts carry.
    summary = _summary()
    assert summary["findings"]["cnn_vs_baseline"]["accuracy"]["test"] == welch
    holm = summary["findings"]["kernels"]["against_reference"]
    assert holm and all("p_holm" in c["accuracy"] for c in holm.values())
    # Every test a verdict names is one the glossary explains.
    glossary = " ".join(f"{term}: {text}" for term, text in terms.items())
    named = {
        re.sub(r" over seeds$| \(.*\)$", "", part.strip())
        for test in _tests_named(summary["findings"])
        for part in test.split(";")
    }
    assert len(named) >= 2
    assert not {n for n in named if n not in glossary}, named


def test_the_glossary_states_the_verdict_rule_the_code_applies(built):
    """The verdict's definition is the rule of analysis.stats.verdicts (its docstring, `decide`)
    as the published summary records it, shown on hover where the Statistics page says it."""
    text = _glossary()["verdict"]
    rule = _summary()["findings"]["rule"]
    assert rule["primary"] == verdicts.PRIMARY and rule["significance"] == verdicts.SIG_LEVEL
    level = inspect.signature(bootstrap.hierarchical_bootstrap).parameters["level"].default
    welch = verdicts.welch([0.5, 0.6], [0.4, 0.5])["test"]
    primary = f"{rule['primary']['split']} {rule['primary']['metric']}"
    p_rule = f"p < {rule['significance']:g}"
    interval = f"{100 * level:.0f} % interval"
    for said in (primary, welch, p_rule, "Holm", "family", interval, verdicts.NO_DIFFERENCE):
        assert said in text, said
    # Both must hold: the p-value and the interval.
    assert re.search(rf"{re.escape(p_rule)}\b.*\band\b.*{re.escape(interval)}.*excludes zero", text)
    # ...which is what `decide` does.
    below, above = verdicts.SIG_LEVEL / 2, verdicts.SIG_LEVEL * 2
    excludes = {"estimate": 0.1, "excludes_zero": True}
    includes = {"estimate": 0.1, "excludes_zero": False}
    assert verdicts.decide(below, excludes) == verdicts.DIFFERENCE
    assert verdicts.decide(below, includes) == verdicts.NO_DIFFERENCE
    assert verdicts.decide(above, excludes) == verdicts.NO_DIFFERENCE
    # "where another machine replicated both runs, the gap must hold there too"
    assert "replicated" in text
    unconfirmed = {"p_value": above, "difference": 0.1}
    assert verdicts.decide(below, excludes, unconfirmed) == verdicts.NOT_CONFIRMED
    _, html = built
    hovers = {
        page
        for page, body in html.items()
        for title in re.findall(r'<abbr title="([^"]*)">verdict</abbr>', body)
        if html_text.unescape(title) == text
    }
    assert "statistics.html" in hovers, hovers


def test_the_dataset_pages_instrument_sentence_agrees_with_its_table(built):
    """The sentence above the per-instrument table counts the models whose drop from val to
    test comes more from accuracy within a camera than from the mix, as the table shows."""
    _, html = built
    found = sections(html["dataset.html"])
    body = next(v for k, v in found.items() if k.startswith("The shift between the splits"))
    table = next(t for t in re.findall(r"<table>.*?</table>", body, flags=re.S) if "of which" in t)
    rows = [site_text.blocks(r) for r in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]]
    mix = [abs(float(r[-2].replace("−", "-"))) for r in rows]
    within = [abs(float(r[-1].replace("−", "-"))) for r in rows]
    more = sum(w > m for m, w in zip(mix, within, strict=True))
    ties = sum(w == m for m, w in zip(mix, within, strict=True))  # equal at the shown precision
    text = " ".join(site_text.blocks(body))
    said = re.search(r"for (every model|(\d+) of the (\d+) models), lower accuracy within", text)
    other = re.search(r"For (every model|(\d+) of the (\d+) models), the mix accounts", text)
    assert said or other, text[:400]
    if said:
        assert 2 * more >= len(rows) - ties
        claimed = len(rows) if said[1] == "every model" else int(said[2])
        assert said[1] == "every model" or int(said[3]) == len(rows)
        assert more <= claimed <= more + ties, (claimed, more, ties)
    else:
        claimed = len(rows) if other[1] == "every model" else int(other[2])
        assert other[1] == "every model" or int(other[3]) == len(rows)
        assert len(rows) - more - ties <= claimed <= len(rows) - more, (claimed, more, ties)
