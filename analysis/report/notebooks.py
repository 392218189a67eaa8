"""Run the study's notebooks (jupytext percent-format ``notebooks/*.py``) with papermill.

Each notebook is turned into an ``.ipynb`` and executed with the parameters ``scenario, scale, seed, plan,
run_dir, figures_dir`` injected after its cell tagged ``parameters``; the executed notebooks (outputs
included) are written to ``out``. The kernel runs from the project root, so the notebooks' relative paths
hold wherever they are started from.

Every notebook gets a fresh kernel of its own (papermill's semantics). The notebooks do not depend on one
another: each only reads the finished run and writes its own figures (no two draw the same one), so they may
run ``jobs`` at a time, each in a worker process of its own (papermill's working-directory switch is
process-wide, so not in threads).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from analysis.paths import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"


def notebook_sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def _import_papermill() -> None:
    """Import jupytext, nbformat and papermill. They import jsonschema, whose format checkers import
    ``rfc3987_syntax`` when it is installed (jsonschema[format-nongpl], through nbformat); that module builds
    Lark parsers for the "iri"/"iri-reference" formats at import, about 3 s here. The notebook schema never
    asks for those formats and nbformat checks none, so while these three are first imported that module
    is hidden (jsonschema then skips those two checkers), and unhidden afterwards."""
    if "papermill" in sys.modules:
        return
    hide = "rfc3987_syntax" not in sys.modules
    if hide:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import jupytext  # noqa: F401
        import nbformat  # noqa: F401
        import papermill  # noqa: F401
    finally:
        if hide and sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]


def _execute_one(src: Path, out: Path, parameters: dict) -> tuple[Path, float]:
    """Execute one notebook into ``out``; returns the executed ``.ipynb`` and the seconds it took."""
    _import_papermill()
    import jupytext
    import nbformat
    import papermill as pm

    t0 = time.perf_counter()
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = out / f"{src.stem}.source.ipynb"
    nbformat.write(nb, source)
    target = out / f"{src.stem}.ipynb"
    pm.execute_notebook(str(source), str(target), parameters=parameters, cwd=str(PROJECT_ROOT),
                        kernel_name="python3", progress_bar=False, log_output=False)
    source.unlink()
    return target, time.perf_counter() - t0


def execute_notebooks(out: str | Path, parameters: dict, names: list[str] | None = None,
                      progress: bool = True, jobs: int = 1) -> list[Path]:
    """Execute the numbered notebooks (or those whose stem is in ``names``); returns the executed ``.ipynb``
    files in notebook order. ``jobs`` > 1 runs that many at a time (each still in a kernel of its own):
    only for a finished run, since a notebook computes a missing run itself and two would compute it in
    the same folder at once. A failing cell raises papermill's ``PapermillExecutionError`` naming the
    notebook and the cell; in parallel, no notebook is started after a failure, and those already running
    finish before it is raised."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = [src for src in notebook_sources() if names is None or src.stem in names]
    _import_papermill()  # once, before the workers are forked (they inherit it)

    def report(target: Path, seconds: float, src: Path) -> None:
        if progress:
            print(f"  notebook {src.name}: {seconds:.1f} s -> {target}", flush=True)

    if jobs <= 1 or len(sources) <= 1:
        done = []
        for src in sources:
            target, seconds = _execute_one(src, out, parameters)
            done.append(target)
            report(target, seconds, src)
        return done

    # forked workers inherit the imports above (the parent has no threads yet); elsewhere the platform's default
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    workers = min(jobs, len(sources))
    queue, running = list(sources), {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        while queue or running:
            while queue and len(running) < workers:  # submitted one by one: none is queued behind a failure
                src = queue.pop(0)
                running[pool.submit(_execute_one, src, out, parameters)] = src
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in sorted(finished, key=running.get):
                src = running.pop(f)
                if f.exception() is not None:
                    wait(running)
                    raise f.exception()
                report(*f.result(), src)
    return [out / f"{src.stem}.ipynb" for src in sources]
