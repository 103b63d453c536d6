"""The one owner of a run folder's lifecycle, whichever backend computed the run:

    begin()     .<run>.partial/ is created empty; the backend fills it (notebook, metrics, log)
    complete()  the results are checked, notebook.html and run.json written (run.json last),
                and the folder is renamed into place as <run>/; an old <run>.failed/ goes
    fail()      what the run left is kept as <run>.failed/ (replacing an older one); <run>/,
                if any, stays as it was
    share()     a run with the same inputs as another gets a relabelled copy of its folder
    redraw()    a run whose figure code alone changed gets its figures drawn again from its
                record (each replaced through a temporary name, run.json last); nothing trains

Every step is a rename or a write to a temporary name, so <run>/ is always complete, old or new.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from analysis.training.provenance import now, write_json
from runner import codeprint, layout, state
from runner.plan import Run


class RunFailed(Exception):
    """A run failed: its notebook raised, its job failed, or it wrote no metrics.json. The
    message names the run and says why; the runner reports it and goes on or stops."""


def swap_into_place(src: Path, dst: Path) -> None:
    """Replace dst by src with renames only, so dst is always complete (old or new)."""
    old = dst.with_name(f".{dst.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        dst.rename(old)
    src.rename(dst)
    shutil.rmtree(old, ignore_errors=True)


def clean_partials(profile: str) -> None:
    """Folders left by an interrupted run are discarded; the run restarts cleanly."""
    for stale in layout.partials(profile):
        shutil.rmtree(stale, ignore_errors=True)


def to_html(notebook: Path, out: Path) -> None:
    """The executed notebook as a page beside its figures: no scripts or fonts from other
    hosts, figure links relative to the run folder, and nbconvert's stylesheets (three
    quarters of an inline export, the same for every run) in one shared file, linked."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    # The notebook showed its figures under its output_dir, the temporary .partial folder
    # that has since been renamed: point them at figures/ beside this page instead.
    out_dir = nb.metadata.get("papermill", {}).get("parameters", {}).get("output_dir")
    if out_dir:
        prefix = str(out_dir).rstrip("/") + "/"
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                text = output.get("data", {}).get("text/markdown")
                if text:
                    output["data"]["text/markdown"] = text.replace(f"]({prefix}", "](")
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    body, css = _link_head_styles(body)
    # The run folder sits in the profile folder, as runs/<run>/ sits in the site's runs/.
    shared = out.parent.parent / layout.NOTEBOOK_CSS
    if not shared.exists() or shared.read_text(encoding="utf-8") != css:
        tmp = shared.with_name(f".{shared.name}.{os.getpid()}.tmp")  # runs may finish at once
        tmp.write_text(css, encoding="utf-8")
        os.replace(tmp, shared)
    out.write_text(body, encoding="utf-8")


_HEAD_STYLE = re.compile(r"<style[^>]*>(.*?)</style>\s*", re.S)
_HEAD_SCRIPT = re.compile(r"<script[^>]*>.*?</script>\s*|<!--[^>]*mathjax[^>]*-->\s*", re.S | re.I)


def _link_head_styles(html: str) -> tuple[str, str]:
    """The page's head styles, in their order, as one stylesheet, and the page linking it in
    their place; the head's scripts (widgets, MathJax, Mermaid: none of which these notebooks
    use) dropped. What the outputs style themselves stays in the body."""
    end = html.index("</head>")
    head, rest = html[:end], html[end:]
    styles = _HEAD_STYLE.findall(head)
    if not styles:
        return html, ""
    first = _HEAD_STYLE.search(head).start()
    link = f'<link rel="stylesheet" href="../{layout.NOTEBOOK_CSS}">\n'
    head = head[:first] + link + _HEAD_STYLE.sub("", head[first:])
    css = "".join(text.strip("\n") + "\n" for text in styles)
    return _HEAD_SCRIPT.sub("", head) + rest, css


def _code(run: Run) -> dict:
    """The run's two code prints (runner.codeprint.run_prints): training, in its fingerprint,
    and figures, what its figures were drawn with; each with the digest of each definition it
    reached, which `status --why` compares."""
    code, figures = state.prints(run.notebook_path)
    return {
        "code": code.value,
        "code_manifest": code.manifest,
        "figures_code": figures.value,
        "figures_manifest": figures.manifest,
    }


def finish(
    run: Run, folder: Path, fingerprint: str, seconds: float, cpu: dict | None = None
) -> None:
    """Check the notebook delivered its metrics, then record the run as complete (with the
    CPU's load while it ran, where the backend watched it: runner.loadwatch)."""
    executed = folder / f"{run.notebook}.ipynb"
    if not (folder / "metrics.json").exists():
        raise RunFailed(f"run {run.name!r} finished without writing metrics.json")
    to_html(executed, folder / "notebook.html")
    write_json(
        folder / layout.RUN_RECORD,
        {
            "run": run.name,
            "fingerprint": fingerprint,
            "notebook": run.notebook,
            "params": run.params,
            **_code(run),
            "seconds": round(seconds, 1),
            **({"cpu": cpu} if cpu else {}),
            "finished": now(),
        },
    )


class RunFolder:
    """results/<profile>/<run> and its temporary and failed siblings (see the module doc)."""

    def __init__(self, run: Run):
        self.run = run
        self.final = layout.run_dir(run.profile, run.name)
        self.partial = layout.partial_dir(run.profile, run.name)
        self.failed = layout.failed_dir(run.profile, run.name)

    @property
    def log(self) -> Path:
        return self.partial / layout.RUN_LOG

    def begin(self) -> Path:
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        return self.partial

    def complete(self, fingerprint: str, seconds: float, cpu: dict | None = None) -> Path:
        finish(self.run, self.partial, fingerprint, seconds, cpu)
        swap_into_place(self.partial, self.final)
        shutil.rmtree(self.failed, ignore_errors=True)
        return self.final

    def fail(self) -> Path | None:
        """Keep what the run left as <run>.failed/; None when it left nothing."""
        if not self.partial.exists() or not any(self.partial.iterdir()):
            shutil.rmtree(self.partial, ignore_errors=True)
            return None
        swap_into_place(self.partial, self.failed)
        return self.failed

    def discard(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)

    def share(self, source: Run, fingerprint: str) -> Path:
        """A copy of `source`'s complete folder, relabelled as this run's."""
        self.discard()
        shutil.copytree(layout.run_dir(source.profile, source.name), self.partial)
        metrics = json.loads((self.partial / "metrics.json").read_text())
        metrics["run"] = self.run.name
        metrics["same_computation_as"] = source.name
        write_json(self.partial / "metrics.json", metrics)
        record = json.loads((self.partial / layout.RUN_RECORD).read_text())
        record.update(run=self.run.name, same_computation_as=source.name, fingerprint=fingerprint)
        write_json(self.partial / layout.RUN_RECORD, record)
        swap_into_place(self.partial, self.final)
        return self.final

    def redraw(self, figures: codeprint.Print) -> list[str]:
        """Draw the run's figures again from its metrics.json with the function its notebook
        draws them with (state.REDRAW), and record the figures print they were drawn with.
        The figures' names must be those metrics.json lists (else RunFailed: the run must be
        computed again); notebook.html and the executed notebook keep the figures they were
        run with. Returns the figures' paths in the folder."""
        from analysis.figures import runs as run_figures

        folder = self.final
        metrics = json.loads((folder / "metrics.json").read_text())
        # the name the notebook drew them under (a shared run's copy keeps its source's)
        label = metrics.get("same_computation_as") or metrics.get("run") or self.run.name
        with tempfile.TemporaryDirectory(prefix=f".{folder.name}.", dir=folder.parent) as tmp:
            drawn = run_figures.run_figures(metrics, None, Path(tmp) / "figures", label)
            listed = {k: f"figures/{p.name}" for k, p in drawn.items()}
            if listed != metrics.get("figures"):
                raise RunFailed(
                    f"run {self.run.name!r}: its figures cannot be redrawn from its record "
                    f"(drawn {sorted(listed.values())}, metrics.json lists "
                    f"{sorted((metrics.get('figures') or {}).values())}); run it with --force"
                )
            (folder / "figures").mkdir(exist_ok=True)
            for p in drawn.values():
                os.replace(p, folder / "figures" / p.name)
        record = json.loads((folder / layout.RUN_RECORD).read_text())
        record.update(
            figures_code=figures.value, figures_manifest=figures.manifest, figures_drawn=now()
        )
        write_json(folder / layout.RUN_RECORD, record)
        return sorted(listed.values())
