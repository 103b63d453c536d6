"""No number is typed into a template's prose: every figure a page states comes from summary.json
or a run's record through the display filters, so a re-run cannot leave a stale number behind.
The scanner strips what is not prose (Jinja, code, HTML tags, link targets) and reports every
digit left outside a short list of names."""

from __future__ import annotations

import re

import pytest

from analysis import paths

# What is not prose, each replaced by blanks of the same shape so that line numbers still hold.
NOT_PROSE = [
    re.compile(r"\{#.*?#\}", re.S),  # Jinja comments
    re.compile(r"\{%.*?%\}", re.S),  # Jinja statements
    re.compile(r"\{\{.*?\}\}", re.S),  # Jinja expressions: computed values
    re.compile(r"^\s*```.*?^\s*```", re.S | re.M),  # fenced code
    re.compile(r"`[^`\n]*`"),  # code spans: identifiers, commands, commits
    re.compile(r"<[^<>]*>"),  # HTML tags and their attributes
    re.compile(r"(?<=\])\([^()\n]*\)"),  # link targets and image paths
    re.compile(r"\{\s*#[\w-]+\s*\}"),  # heading anchors ({ #data-shift })
]

# Digits that name something rather than state a result. Each entry: pattern, and why it is a
# name. Kept short on purpose: a number that a run could change belongs in a record.
ALLOWED = {
    r"\b[1-9]×[1-9]\b": "a kernel or pooling window (3×3, 2×2): a layer's name, as in run names",
    r"\b[1-9]→[1-9]\b": "the kernel family 3→5 (three, then five): a run's name",
    r"\bF1\b": "the metric's name (macro-F1)",
    r"\b95 % interval\b": "the statistic's name: the one interval level the study computes (ci95)",
    r"\bsha256\b": "the hash's name",
    r"\b(?:float|fp|uint)(?:8|16|32|64)\b": "a number type's name",
    r"^#{1,6} (?:Step )?\d+[.:] ": "a section's number",
    r"^\s*\d+\. ": "an ordered list's item number",
    r"\bIAAI 2018\b|\b10\.5281/zenodo\.\d+\b": "the data set's citation (venue, year and DOI)",
    r"√2": "a formula's constant: one draw against another has √2 times one draw's spread",
}
ALLOWED_RE = re.compile("|".join(f"(?:{p})" for p in ALLOWED), re.M)
DIGIT = re.compile(r"\d")


def prose(template: str) -> str:
    """The template's prose: what a reader reads that no expression computes."""

    def blank(m: re.Match) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    for pattern in NOT_PROSE:
        template = pattern.sub(blank, template)
    return template


def typed_numbers(template: str) -> list[tuple[int, str]]:
    """(line number, the line's prose) for each line of prose with a digit that no allowed name
    accounts for."""
    out = []
    for number, line in enumerate(prose(template).splitlines(), 1):
        rest = ALLOWED_RE.sub(lambda m: " " * len(m.group(0)), line)
        if DIGIT.search(rest):
            out.append((number, re.sub(r"\s+", " ", line).strip()))
    return out


# Prose can also hide in a string inside the Jinja code ({% set label = "dense 3.7 M" %}): a
# string literal with a word break and a digit that no allowed name accounts for is prose too.
# Identifiers (run ids such as "kernel-128-3x3", keys, format specs) have no spaces.
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
LITERAL = re.compile(r'"([^"\n]*)"|\'([^\'\n]*)\'')


def typed_in_code(template: str) -> list[tuple[int, str]]:
    """(line number, the string) for each prose-like string literal in the template's Jinja code
    that holds a digit."""
    out = []
    for tag in JINJA.finditer(template):
        for lit in LITERAL.finditer(tag.group(0)):
            value = lit.group(1) if lit.group(1) is not None else lit.group(2)
            rest = ALLOWED_RE.sub(" ", value)
            if " " in value.strip() and "%" not in value and DIGIT.search(rest):
                out.append((template.count("\n", 0, tag.start() + lit.start()) + 1, value))
    return out


TEMPLATES = sorted(paths.TEMPLATES_DIR.glob("*.j2"))


def test_there_are_templates_to_check():
    names = {p.name for p in TEMPLATES}
    assert {"index.md.j2", "interpretation.md.j2", "readme.md.j2", "_macros.md.j2"} <= names


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_number_is_typed_into_a_templates_prose(template):
    found = typed_numbers(template.read_text(encoding="utf-8"))
    assert not found, "\n".join(f"{template.name}:{n}: {line}" for n, line in found)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_number_is_typed_into_a_string_of_a_templates_code(template):
    found = typed_in_code(template.read_text(encoding="utf-8"))
    assert not found, "\n".join(f"{template.name}:{n}: {value!r}" for n, value in found)


def test_the_code_check_finds_a_number_in_a_prose_string_only():
    planted = (
        '{% set label = "Fewer parameters (dense 3.7 M → dense 0.4 M)" %}\n'
        '{{ runs["kernel-128-3x3"].test.accuracy | pct }} {{ "%.3f" | format(x) }}\n'
        "{{ x if y else 'the 3×3 network' }} {% set k = 'depth_128' %}"
    )
    assert typed_in_code(planted) == [(1, "Fewer parameters (dense 3.7 M → dense 0.4 M)")]


@pytest.mark.parametrize(
    "planted",
    [
        "Larger kernels took 2–4 times the training time.",
        "the dense network's 3.7 M parameters",
        "reached 66.7 % on these splits",
        "fit in about 5 hours",
        "with {{ ratio }} the time, 0.724 against 0.652",  # a digit beside an expression
        "{% if x %}five{% endif %} 48 px for 24 epochs",
        "a [link](page.md) with 12 words",
        "Seen at 128 px, the 3×3 network",  # an allowed name does not hide its neighbour
    ],
)
def test_the_scanner_finds_a_planted_number(planted):
    assert [line for line, _ in typed_numbers(f"Some prose.\n{planted}\n")] == [2]


@pytest.mark.parametrize(
    "clean",
    [
        "The CNN scores {{ ref.test.accuracy | pct }} on test.",
        "{% set n = 24 %}{# 36 epochs #}Its schedule is {{ n }} epochs.",
        "The CNN 3×3 (reference), CNN 3→5 and a 2×2 pooling; test macro-F1.",
        "![A figure](study/figures/fig2.png) and [the run](runs/kernel-7x7.md)",
        '<figure markdown="span" data-n="3"> a caption </figure>',
        "`recipe-48px-36` in commit `c39ed1c`",
        "```\nmake all PROFILE=standard JOBS=2\n```",
        "## 1. Why did the CNN win?",
        "## Step 2: the plan's runs",
        "1. Welch's t-test over seeds, and",
        "the 95 % interval of each difference; data sha256, float32 arrays",
        "## The shift { #data-2 }",
    ],
)
def test_the_scanner_passes_numbers_that_are_computed_or_names(clean):
    assert typed_numbers(clean) == []
