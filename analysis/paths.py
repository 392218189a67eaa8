"""The one place for project paths, and how a stage puts its files there (``staged``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STUDY_TOML = PROJECT_ROOT / "study.toml"
DATA_SYNTHETIC = PROJECT_ROOT / "data" / "synthetic"
DEFAULT_MANIFEST = DATA_SYNTHETIC / "default_manifest.json"
FIGURES = PROJECT_ROOT / "figures"


@contextlib.contextmanager
def staged() -> Iterator[Callable[[str | Path], Path]]:
    """Write a stage's files under temporary names and rename them into place together at the end.

    ``with staged() as stage: write(stage(final))`` writes ``final`` as ``<final>.partial``; when the block
    succeeds every file is renamed to its final name (an atomic rename each), when it fails (an error, a
    full disk) the partial files are removed. A crash or a kill therefore leaves the previous complete
    output under the final names, never a truncated file; ``*.partial`` files of a killed run are
    overwritten by the next.
    """
    pending: list[Path] = []

    def stage(final: str | Path) -> Path:
        final = Path(final)
        pending.append(final)
        return final.with_name(final.name + ".partial")

    try:
        yield stage
    except BaseException:
        for final in pending:
            final.with_name(final.name + ".partial").unlink(missing_ok=True)
        raise
    for final in pending:
        os.replace(final.with_name(final.name + ".partial"), final)
