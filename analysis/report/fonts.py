"""Korean text in figures: the NanumGothic font shipped by the ``koreanize-matplotlib`` wheel (from the
package registry), registered explicitly with matplotlib's font manager.

NanumGothic has no U+2212 MINUS SIGN, so DejaVu Sans (matplotlib's own) stays second in the family list:
matplotlib falls back glyph by glyph, and negative tick labels keep a real minus sign."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
from matplotlib import font_manager

FONT_PACKAGE = "koreanize_matplotlib"
FAMILY = "NanumGothic"


def font_files() -> list[Path]:
    """The NanumGothic TTF files of the installed wheel (found without importing it: its import would
    change matplotlib's settings by itself)."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the Korean font package {FONT_PACKAGE!r} is not installed; run `make install` "
            "(it is pinned in requirements.lock)"
        )
    files = sorted((Path(spec.submodule_search_locations[0]) / "fonts").glob("NanumGothic*.ttf"))
    if not files:
        raise RuntimeError(f"{FONT_PACKAGE} is installed but ships no NanumGothic*.ttf file")
    return files


def register_korean_font() -> str:
    """Register NanumGothic (regular and bold) with matplotlib's font manager (which fonts exist, not which
    one is used: no setting changes). Idempotent; returns the family name."""
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for f in font_files():
        if str(f) not in known:
            font_manager.fontManager.addfont(str(f))
    return FAMILY


def korean_font_rc() -> dict[str, object]:
    """The settings that draw a figure in NanumGothic, DejaVu Sans behind it for the glyphs it lacks, for
    ``matplotlib.rc_context`` (the font is registered first): the caller's own ``rcParams`` stay as they are.

    A figure keeps the font its texts were made with, so one made inside the context shows in it after
    the context ends too (in a notebook, for instance); the SVG setting applies to files saved inside it."""
    register_korean_font()
    rest = [f for f in matplotlib.rcParams["font.sans-serif"] if f not in (FAMILY, "DejaVu Sans")]
    return {
        "font.family": [FAMILY, "DejaVu Sans"],  # a list: matplotlib falls back per glyph
        "font.sans-serif": [FAMILY, "DejaVu Sans", *rest],  # for code that asks for "sans-serif"
        "axes.unicode_minus": True,
        "svg.fonttype": "path",  # SVGs carry the glyph outlines: no font needed to view them
    }


def korean_font():
    """``matplotlib.rc_context(korean_font_rc())``: ``with korean_font(): ...`` draws in the Korean font and
    leaves the global settings untouched afterwards."""
    return matplotlib.rc_context(korean_font_rc())


def font_face_css(text: str) -> str:
    """``@font-face`` rules embedding NanumGothic (regular and bold) as data, cut down to the characters of
    ``text`` (fontTools subsetting): the report reads in Korean on any machine, offline, without a
    system Korean font (headless Chromium's PDFs included)."""
    import base64
    import io

    from fontTools import subset

    chars = "".join(sorted(set(text) | set("0123456789.,%()-+−~:·/ ")))
    rules = []
    for weight, name in ((400, "NanumGothic.ttf"), (700, "NanumGothicBold.ttf")):
        path = next((f for f in font_files() if f.name == name), None)
        if path is None:
            continue
        opts = subset.Options()
        opts.flavor = None
        opts.name_IDs = ["*"]
        opts.drop_tables += ["TSI0", "TSI1", "TSI2", "TSI3", "TSI5"]  # VTT hinting sources
        font = subset.load_font(str(path), opts)
        font.recalcTimestamp = False  # keep the font's own date: the same text gives the same bytes
        sub = subset.Subsetter(opts)
        sub.populate(text=chars)
        sub.subset(font)
        buf = io.BytesIO()
        font.save(buf)
        data = base64.b64encode(buf.getvalue()).decode()
        rules.append(f"@font-face{{font-family:'NanumGothic';font-weight:{weight};"
                     f"src:url(data:font/ttf;base64,{data}) format('truetype')}}")
    return "".join(rules)
