"""The quiet console: one live line per run from the notebook's own output, the full log in the
run folder, and the layout and lifecycle every backend shares."""

from __future__ import annotations

import importlib.util
import io
import re
from pathlib import Path

import nbformat
import pytest

from analysis import paths
from runner import layout, lifecycle
from runner.console import Console, RunProgress
from runner.plan import Run
from runner.report import compare, render

# What Keras' fit(verbose=2) and Papermill print, as the runner's log handler receives it.
KERAS = [
    "Executing Cell 10---------------------------------------",
    "--- seed 0 ---\n",
    "Epoch 1/3\n",
    "117/117 - 25s - 214ms/step - accuracy: 0.41 - loss: 1.9 - val_accuracy: 0.3125 - "
    "val_loss: 2.2\n",
    "Epoch 2/3\n117/117 - 20s - 170ms/step - accuracy: 0.52 - loss: 1.5 - ",
    "val_accuracy: 0.5200 - val_loss: 1.8\n",
]


def test_progress_reads_epochs_metric_and_eta_from_the_stream():
    progress = RunProgress("quick/cnn", epochs=3, seeds=2, cells=15)
    progress.feed(KERAS[0] + "\n")
    assert progress.render().startswith("quick/cnn  cell 10/15  ")
    for chunk in KERAS[1:]:
        progress.feed(chunk)
    line = progress.render()
    assert re.fullmatch(r"quick/cnn  epoch 2/6  val_accuracy 0\.520  \dm\d\ds  ETA \dm\d\ds", line)
    assert progress.summary() == "2 epochs"
    # Early stopping in seed 0 after 2 epochs: seed 1 has 3 to go, not 4.
    progress.feed("--- seed 1 ---\nEpoch 1/3\n")
    assert progress.total == 5


def test_console_rewrites_one_line_on_a_terminal_and_prints_little_elsewhere():
    progress = RunProgress("smoke/cnn", epochs=3)
    tty = io.StringIO()
    console = Console(tty, tty=True)
    console.live(progress)
    for chunk in KERAS[2:]:
        progress.feed(chunk)
        console.refresh()
    console.say("done: smoke/cnn")
    console.close()
    text = tty.getvalue()
    assert "\r\x1b[K" in text and "epoch 2/3" in text and text.count("\n") == 1

    pipe = io.StringIO()
    console = Console(pipe, tty=False, interval=3600)
    console.live(progress)
    for _ in range(50):
        console.refresh()
    console.say("done: smoke/cnn")
    console.close()
    assert pipe.getvalue() == "done: smoke/cnn\n"


def test_results_layout_is_shared():
    """The runner, the renderer, the summary and the MkDocs hook agree on the layout."""
    assert [layout.is_run_folder(Path(n)) for n in ("cnn", ".cnn.partial", "cnn.failed")] == [
        True,
        False,
        False,
    ]
    assert not layout.is_run_folder(Path(layout.STUDY_DIR))
    assert compare.SUMMARY_DIR == layout.STUDY_DIR
    assert render.PUBLISHED is layout.PUBLISHED
    spec = importlib.util.spec_from_file_location("hook", paths.ROOT / "hooks" / "results.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert hook.PUBLISHED is layout.PUBLISHED and hook.published_files is layout.published_files


def _run(tmp_path) -> Run:
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), notebook)
    return Run("r", notebook, "R", "", "lifecycle", {})


def test_lifecycle_partial_then_complete_or_failed(tmp_path):
    run = _run(tmp_path)
    folder = lifecycle.RunFolder(run)
    (folder.begin() / "nb.ipynb").write_bytes(run.notebook_path.read_bytes())
    with pytest.raises(lifecycle.RunFailed, match="without writing metrics.json"):
        folder.complete("fp", 1.0)
    assert folder.fail() == folder.failed and (folder.failed / "nb.ipynb").exists()
    assert not folder.partial.exists() and not folder.final.exists()

    partial = folder.begin()
    (partial / "nb.ipynb").write_bytes(run.notebook_path.read_bytes())
    (partial / "metrics.json").write_text("{}")
    assert folder.complete("fp", 1.0) == folder.final
    assert (folder.final / "run.json").exists() and (folder.final / "notebook.html").exists()
    assert not folder.failed.exists() and not folder.partial.exists()

    folder.begin()  # a failure that left nothing: no .failed folder, the result stays
    assert folder.fail() is None and (folder.final / "run.json").exists()


def test_notebook_pages_share_one_stylesheet(tmp_path):
    """nbconvert inlines ~250 KB of CSS into every page: the runs link one shared copy."""
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# A run"), nbformat.v4.new_code_cell("1 + 1")]
    )
    source = tmp_path / "nb.ipynb"
    nbformat.write(nb, source)
    pages = [tmp_path / "profile" / run / "notebook.html" for run in ("a", "b")]
    for page in pages:
        page.parent.mkdir(parents=True)
        lifecycle.to_html(source, page)
    css = tmp_path / "profile" / layout.NOTEBOOK_CSS
    inline, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    for page in pages:
        html = page.read_text()
        assert html.count(f'href="../{layout.NOTEBOOK_CSS}"') == 1
        assert len(html) < len(inline) / 2 and "A run" in html
    # What left the pages is in the stylesheet: the lab theme's variables and its classes.
    assert "--jp-layout-color0" in css.read_text() and ".jp-OutputArea" in css.read_text()
    assert len(css.read_text()) > len(inline) / 2
