"""The committed site reads as a story: a short home page that answers the study's three
questions, each fact stated on one page, and a glossary behind every term it defines."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
import yaml

from analysis import paths
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
