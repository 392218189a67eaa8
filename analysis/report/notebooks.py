"""Run the study's notebooks (jupytext percent-format ``notebooks/*.py``) with papermill.

Each notebook is turned into an ``.ipynb`` and executed with the parameters ``scenario, scale, seed, plan,
run_dir, figures_dir`` injected after its cell tagged ``parameters``; the executed notebooks (outputs
included) are written to ``out``. The kernel runs from the project root, so the notebooks' relative paths
hold wherever they are started from.
"""

from __future__ import annotations

import time
from pathlib import Path

from analysis.paths import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"


def notebook_sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def execute_notebooks(out: str | Path, parameters: dict, names: list[str] | None = None,
                      progress: bool = True) -> list[Path]:
    """Execute the numbered notebooks (or those whose stem is in ``names``) in order; returns the executed
    ``.ipynb`` files. A failing cell raises papermill's ``PapermillExecutionError`` naming the notebook and
    the cell."""
    import jupytext
    import nbformat
    import papermill as pm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for src in notebook_sources():
        if names is not None and src.stem not in names:
            continue
        t0 = time.perf_counter()
        nb = jupytext.read(src)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        source = out / f"{src.stem}.source.ipynb"
        nbformat.write(nb, source)
        target = out / f"{src.stem}.ipynb"
        pm.execute_notebook(str(source), str(target), parameters=parameters, cwd=str(PROJECT_ROOT),
                            kernel_name="python3", progress_bar=False, log_output=False)
        source.unlink()
        done.append(target)
        if progress:
            print(f"  notebook {src.name}: {time.perf_counter() - t0:.1f} s -> {target}", flush=True)
    return done
