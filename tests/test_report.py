"""The report stage end to end on the default run, as `make report` does it: pipeline, notebooks, reports.

One session-scoped run of the plan's default world (scale 0.025) feeds every test here: the committed
``figures/estimates.csv`` must come out again (to 1e-8), every notebook must execute, the reports must be
self-contained and say what the issue asks, and nothing personal may leave.
"""

from __future__ import annotations

import html
import json
import re
import warnings
from datetime import date

import pandas as pd
import pytest

from analysis.paths import FIGURES
from analysis.report.figures import FIGURES as FIGURE_NAMES
from analysis.report.figures import LANGUAGES
from analysis.report.text import fmt_krw, fmt_won
from tests.conftest import cli


def test_committed_estimates_are_what_the_code_produces(default_run):
    """figures/estimates.csv is committed; a fresh run of the default plan reproduces it: every row, label and
    suppression exactly, every number to 1e-8 relative. (Byte for byte on one machine; between CPUs the
    linear algebra's last bits differ, and the Rambachan-Roth bounds, an optimum found by SLSQP, moved in the
    10th of the file's 10 significant digits from one machine to another.)"""
    import numpy as np

    fresh = pd.read_csv(default_run["figures"] / "estimates.csv")
    committed = pd.read_csv(FIGURES / "estimates.csv")
    hint = "the committed figures/estimates.csv differs from a fresh default run: rerun `make report` and commit"
    assert list(fresh.columns) == list(committed.columns) and len(fresh) == len(committed), hint
    numbers = fresh.select_dtypes("number").columns
    pd.testing.assert_frame_equal(fresh.drop(columns=numbers), committed.drop(columns=numbers), obj=hint)
    for col in numbers:
        a, b = fresh[col].to_numpy(float), committed[col].to_numpy(float)
        assert (np.isnan(a) == np.isnan(b)).all(), (hint, col)
        assert np.allclose(a, b, rtol=1e-8, atol=0, equal_nan=True), (hint, col)


FIGURE_FILES = [f"{n}_{lang}.{ext}" for n in FIGURE_NAMES for lang in LANGUAGES for ext in ("png", "svg")]


def test_every_figure_in_png_and_svg_and_committed(default_run):
    for file in FIGURE_FILES:
        assert (default_run["figures"] / file).stat().st_size > 1000, file
        assert (FIGURES / file).exists(), f"figures/{file} is not committed"


def test_every_figure_speaks_one_language(default_run, tmp_path):
    """Issue 16, item 6: a Korean and an English file of each figure, each in its own language: no label
    left in the "한국어 · English" form, no Korean in the English figures (Korean ones may name methods in
    English: Callaway-Sant'Anna, DiD, BMI)."""
    import matplotlib
    import matplotlib.pyplot as plt

    from analysis.config import load_config
    from analysis.report.figures import draw
    from analysis.report.study import Study

    study = Study(load_config(), default_run["run"], figures_dir=tmp_path)
    for name in FIGURE_NAMES:
        for lang in LANGUAGES:
            fig = draw(study, name, save=False, lang=lang)
            texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
            texts += [t.get_text() for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
            plt.close(fig)
            mixed = [t for t in texts if " · " in t or (lang == "en" and re.search("[\uac00-\ud7a3]", t))]
            assert not mixed, (name, lang, mixed[:3])


def test_release_manifest_lists_every_output_and_figure_sources(default_run):
    m = json.loads((default_run["reports"] / "release_manifest.json").read_text())
    assert m["rules"] == {"min_count": 10, "dominance": 0.5, "min_residual_df": 10, "floors_overridden": []}
    names = {o["name"]: o for o in m["outputs"]}
    assert set(FIGURE_NAMES) <= set(names)
    for name in FIGURE_NAMES:
        assert all(s in names and names[s]["kind"] != "figure" for s in names[name]["sources"]), name
    assert m["summary"]["outputs"] == len(m["outputs"])
    assert m["summary"]["suppressed_cells"] == sum(len(o["suppressed"]) for o in m["outputs"])
    # at this scale some cells are small: the review must have caught them, each under a named rule
    assert m["summary"]["suppressed_cells"] > 0
    assert {s["rule"] for o in m["outputs"] for s in o["suppressed"]} <= {
        "min_count", "dominance", "residual_df", "exact_extreme", "secondary"}


def test_released_estimates_have_no_small_cells(default_run):
    est = pd.read_csv(default_run["figures"] / "estimates.csv")
    shown = est[est.estimate.notna()]
    did = shown[shown.section != "adherence"]
    assert (did.n_treated >= 10).all() and (did.n_control >= 10).all()
    assert {"did", "heterogeneity", "adherence"} == set(est.section)
    assert not any(re.search(r"study_id|person_id", c, re.I) for c in est.columns)


def test_reports_are_self_contained_and_answer_first(default_run):
    point = json.loads((default_run["run"] / "headline.json").read_text())["outcomes"][0]["estimate"] is not None
    # a point estimate comes with its confidence interval; a range (no point claim) says it has none
    for lang, must in (("ko", ["손목닥터9988", "−45,345", "1원당", "95% 신뢰구간" if point else "점추정 없음"]),
                       ("en", ["Wrist Doctor 9988", "−45,345", "per KRW spent", "95% CI" if point else
                               "no point estimate"])):
        page = (default_run["reports"] / f"report_{lang}.html").read_text(encoding="utf-8")
        assert "<script" not in page.lower()
        assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page), "external resource in the report"
        assert page.count('src="data:image/png;base64,') == len(FIGURE_NAMES)
        assert "@font-face{font-family:'NanumGothic'" in page  # Korean reads without a system font
        first = page[:page.index("<h2>")]  # the first screen: title, subtitle, summary and the three-row table
        assert "−45,345" in first and "95%" in first
        for phrase in must:
            assert phrase in page, (lang, phrase)
        assert "import " not in page and "def " not in page  # no code shown
        assert page.count('<p class="caption">') == len(FIGURE_NAMES)  # every figure says how to read it
    # the Korean report speaks Korean: no check's English meaning, name or raw key reaches it
    ko = (default_run["reports"] / "report_ko.html").read_text(encoding="utf-8")
    checks = json.loads((default_run["run"] / "refutation.json").read_text())
    for c in checks:
        assert c["meaning"][:60] not in ko, c["name"]
        assert c["name"] not in ko and c["name"].replace("_", " ") not in ko, c["name"]
    assert "passed" not in ko and "failed" not in ko


def test_a_calibrated_headline_says_how_much_wider_calibration_made_it(default_run):
    """Coverage bought by width is said, with the width: the ratio of the calibrated interval to the plan's
    uncalibrated one, from the released estimates; where the headline is the span of the two (the controls
    err), the report says there is no point estimate, gives the span and why, in both languages."""
    head = json.loads((default_run["run"] / "headline.json").read_text())
    assert head["design"] in ("callaway_santanna_calibrated", "calibration_span")  # the cost rule (headline.py)
    est = pd.read_csv(default_run["figures"] / "estimates.csv")
    rows = est[(est.outcome == "medical_cost") & (est.aggregation.isin(["simple", "overall"])) & (est.term == "overall")
               & (est.section == "did")].set_index("design")
    if head["design"] == "calibration_span":
        lo, hi = rows.loc["calibration_span", ["conf_low", "conf_high"]]
        for lang, phrase, why in (
                ("en", f"it lies between KRW {fmt_krw(lo)} and KRW {fmt_krw(hi)} (no point estimate)",
                 "negative-control costs err by"),
                ("ko", f"효과는 {fmt_krw(lo)} ~ {fmt_krw(hi)}원 사이에 있습니다(점추정 없음)", "음성 대조 진료비가 평균")):
            page = (default_run["reports"] / f"report_{lang}.html").read_text(encoding="utf-8")
            detail = page[page.index('<div class="detail">'):]
            detail = detail[:detail.index("<h2>")]
            assert phrase in detail and why in detail, (lang, phrase)
        return
    ratio = ((rows.conf_high - rows.conf_low)["callaway_santanna_calibrated"]
             / (rows.conf_high - rows.conf_low)["callaway_santanna"])
    for lang, phrase in (("en", f"Its interval is {ratio:.1f} times as wide"), ("ko", f"구간보다 {ratio:.1f}배 넓습니다")):
        page = (default_run["reports"] / f"report_{lang}.html").read_text(encoding="utf-8")
        detail = page[page.index('<div class="detail">'):]  # right under the first screen, before the methods
        assert phrase in detail[:detail.index("<h2>")], (lang, phrase)


def _visible(fragment: str) -> str:
    """The text a reader sees in an HTML fragment (no tags, no embedded images, no style sheet)."""
    fragment = re.sub(r"<style>.*?</style>|data:[^\"']+", " ", fragment, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_first_screen_is_short_plain_and_matches_the_tables(default_run):
    """Issue 16, item 1: one element with id "summary" (at most 100 English words or 400 Korean characters,
    no method names, no exponents) that gives the headline's interval and the city's figure, then a
    three-row table whose numbers are the released estimates'."""
    from tests.test_report_text import EXPONENT, METHOD_WORDS

    head = json.loads((default_run["run"] / "headline.json").read_text())
    est = pd.read_csv(default_run["figures"] / "estimates.csv")
    from analysis.report.figures import HEADLINE_AGG

    est = est[(est.outcome == "medical_cost") & (est.section == "did") & est.term.isin(["ATT", "overall"])]
    rows = est[est.aggregation == est.design.map(HEADLINE_AGG)].set_index("design")  # each design's headline row
    lead, pub = rows.loc[head["design"]], rows.loc["published"]
    krw = {"en": lambda v: f"KRW {abs(round(v)):,}", "ko": fmt_won}
    for lang in ("en", "ko"):
        page = (default_run["reports"] / f"report_{lang}.html").read_text(encoding="utf-8")
        assert page.count('id="summary"') == 1
        box = re.search(r'<div id="summary"[^>]*>(.*?)</div>', page, re.S).group(1)
        text = _visible(box)
        if lang == "en":
            assert len(text.split()) <= 100, len(text.split())
        else:
            assert len(re.sub(r"\s", "", text)) <= 400
        assert not [w for w in METHOD_WORDS if w in text] and not EXPONENT.search(text)
        for v in (lead.conf_low, lead.conf_high, 45345, pub.estimate):  # the same numbers as the table below
            assert krw[lang](abs(v)).lstrip("−") in text, (lang, v, text)
        table = page[page.index("</div>", page.index('id="summary"')):page.index("<h2>")]
        cells = [_visible(r) for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)][1:]
        assert len(cells) == 3  # the city's figure, its design on these data, this study's headline
        assert "−45,345" in cells[0]
        assert fmt_krw(pub.estimate) in cells[1] and f"{fmt_krw(pub.conf_low)} ~ {fmt_krw(pub.conf_high)}" in cells[1]
        assert f"{fmt_krw(lead.conf_low)} ~ {fmt_krw(lead.conf_high)}" in cells[2]
        assert cells[1].endswith(fmt_krw(pub.truth)) and cells[2].endswith(fmt_krw(lead.truth))  # synthetic: truth


def test_reports_read_on_a_phone(default_run):
    """Issue 16, item 7: the viewport is set, every table scrolls inside its own box, figures scale to the
    screen, and no number is written with an exponent."""
    from tests.test_report_text import EXPONENT

    for lang in ("en", "ko"):
        page = (default_run["reports"] / f"report_{lang}.html").read_text(encoding="utf-8")
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert page.count("<table") == page.count('<div class="scroll"><table') > 0
        assert ".scroll{overflow-x:auto" in page and "img{max-width:100%}" in page
        # identifiers in <code> (the plan's hex fingerprint, "…3e5…") are not numbers
        body = re.sub(r"<code>.*?</code>", " ", page[page.index("<body>"):], flags=re.S)
        found = EXPONENT.findall(_visible(body))
        assert not found, (lang, found[:5])


def test_no_identifier_or_secret_leaves(default_run):
    from analysis.linkage import load_secret

    secret = load_secret("WRIST_TEST_NO_SUCH_VARIABLE", synthetic_seed=9988).value  # the run's (public) secret
    for path in [*default_run["figures"].iterdir(), *default_run["reports"].iterdir()]:
        if path.is_file():
            text = path.read_bytes()
            assert secret not in text, path
            assert b"study_id" not in text.lower(), path


def test_rerun_of_the_report_is_identical(default_run, tmp_path):
    fig, rep = tmp_path / "figures", tmp_path / "reports"
    cli("report", "--run", str(default_run["run"]), "--figures", str(fig), "--reports", str(rep), "--no-pdf")
    for name in ("estimates.csv", *FIGURE_FILES):
        assert (fig / name).read_bytes() == (default_run["figures"] / name).read_bytes(), name
    for name in ("report_ko.html", "report_en.html", "release_manifest.json"):
        assert (rep / name).read_bytes() == (default_run["reports"] / name).read_bytes(), name


def test_notebooks_execute_on_the_run(default_run):
    from analysis.report.notebooks import execute_notebooks, notebook_sources

    assert len(notebook_sources()) == 7
    figs = default_run["base"] / "nb_figures"
    params = {"scenario": "default", "scale": 0.025, "seed": 9988, "plan": "", "run_dir": str(default_run["run"]),
              "figures_dir": str(figs)}
    done = execute_notebooks(default_run["base"] / "notebooks", params, progress=False)
    assert len(done) == 7
    drawn = {p.stem.rsplit("_", 1)[0] for p in figs.glob("*.png")}
    assert drawn == set(FIGURE_NAMES)  # together the notebooks draw every figure
    # one number everywhere (issue 16, item 2): notebook 05 ends with the report's own first screen
    nb = json.loads((default_run["base"] / "notebooks" / "05_did.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                      for o in c.get("outputs", []) if o.get("name") == "stdout")
    page = (default_run["reports"] / "report_en.html").read_text(encoding="utf-8")
    screen = re.search(r'<div id="summary"[^>]*>(.*?)</div>', page, re.S).group(1)
    for sentence in re.findall(r"<p>(.*?)</p>", screen):
        assert html.unescape(sentence) in printed, sentence


def test_tables_tell_suppressed_from_not_applicable():
    """A value the release review blanked reads 'suppressed'; a value that was never there (the primary
    outcome's multiplicity-adjusted p-value) reads '–'; counts get thousands separators."""
    from types import SimpleNamespace

    from analysis.report.release import ReleaseReview
    from analysis.report.render import _table

    est = pd.DataFrame({"outcome": ["medical_cost", "waist"], "estimate": [-18433.2, -0.43], "p_value": [0.31, 2e-5],
                        "p_adjusted": [float("nan"), 1e-4], "n_treated": [59559, 60000], "n_control": [109893, 9]})
    from analysis import phenotypes

    study = SimpleNamespace(review=ReleaseReview(), phenotypes=phenotypes.load())
    shown = study.review.model("estimates", est)
    cells = re.findall(r"<td>(.*?)</td>", _table(study, "estimates", shown, "en"))
    assert cells[:6] == ["medical cost (KRW/yr)", "−18,433", "0.310", "–", "59,559", "109,893"]
    assert cells[6:] == ["waist (cm)"] + ["suppressed"] * 5
    ko = re.findall(r"<td>(.*?)</td>", _table(study, "estimates", shown, "ko"))
    assert ko[0] == "의료비(원/년)" and ko[3] == "–" and ko[7:] == ["비공개"] * 5


def test_korean_font_registered_and_minus_renders(tmp_path):
    import matplotlib.pyplot as plt

    from analysis.report.fonts import FAMILY, font_files, korean_font

    assert any(f.name == "NanumGothic.ttf" for f in font_files())
    with warnings.catch_warnings(record=True) as caught, korean_font():
        warnings.simplefilter("always")
        assert plt.rcParams["font.family"][0] == FAMILY
        fig, ax = plt.subplots()
        ax.plot([-2, 0, 2], [-45345, 0, 1000])
        ax.set_title("의료비 차이 −45,345원")
        fig.savefig(tmp_path / "k.png")
        plt.close(fig)
    assert not [w for w in caught if "missing from font" in str(w.message)]


def test_figures_leave_the_callers_matplotlib_settings_alone(tmp_path):
    """Issue 17, item 5: the Korean font holds inside ``draw``'s ``rc_context`` only; the figure keeps it
    when shown after (a notebook displays it once the cell has run), and the files are what they were."""
    from types import SimpleNamespace

    import matplotlib
    import matplotlib.pyplot as plt

    from analysis.report.figures import draw
    from analysis.report.fonts import FAMILY, korean_font_rc
    from analysis.report.release import ReleaseReview

    before = {k: matplotlib.rcParams[k] for k in korean_font_rc()}
    study = SimpleNamespace(review=ReleaseReview(), figures_reviewed=set(), figures_dir=tmp_path)
    fig = draw(study, "12_causal_graph", lang="ko")  # a figure that reads no run
    assert {k: matplotlib.rcParams[k] for k in before} == before
    assert FAMILY not in matplotlib.rcParams["font.family"]
    assert {t.get_fontfamily()[0] for t in fig.findobj(matplotlib.text.Text) if t.get_text()} == {FAMILY}
    with warnings.catch_warnings(record=True) as caught:  # drawn outside the context: still Korean glyphs
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "shown.png")
        plt.close(fig)
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert (tmp_path / "12_causal_graph_ko.png").read_bytes() == (FIGURES / "12_causal_graph_ko.png").read_bytes()
    assert (tmp_path / "12_causal_graph_ko.svg").read_bytes() == (FIGURES / "12_causal_graph_ko.svg").read_bytes()


def test_pdf_by_headless_chromium_where_there_is_one(default_run, tmp_path):
    from analysis.report.render import chromium, print_pdf

    if chromium() is None:
        pytest.skip("no Chromium here: `make report` skips the PDFs with a note in the manifest")
    pdf = tmp_path / "report_ko.pdf"
    assert print_pdf(default_run["reports"] / "report_ko.html", pdf) == "written"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 100_000


def test_a_run_is_not_reported_under_another_plan(default_run):
    from analysis.config import load_config
    from analysis.report.study import Study

    with pytest.raises(ValueError, match="another plan or world"):
        Study(load_config().with_world(seed=1), default_run["run"])
    assert Study(load_config(), default_run["run"]).headline["design"]


def test_the_differencing_attacks_recover_nothing_from_the_default_release(default_run, tmp_path):
    """Two attacks on the release (issue 18), replayed on the numbers the figures encode.

    Figure 04 draws each group's bins as shares of the group: with exact counts the shares' ratios give the
    released bins' sum S, and n_treated (estimates.csv) minus S is the suppressed bins' count. Figure 02's
    match rates are linked / records: where 1-9 records of a group did not link, the rate is that fraction.
    """
    import numpy as np

    from analysis.config import load_config
    from analysis.report.figures import match_rate_table, overlap_table
    from analysis.report.study import Study

    cfg = load_config()
    study = Study(cfg, default_run["run"], figures_dir=tmp_path)
    t = overlap_table(study)
    treated = t[t.group == "treated"]
    assert treated.n.isna().any(), "the default release has no suppressed treated bin: nothing to attack"
    released = treated.n.dropna().to_numpy()
    assert (released % 5 == 0).all()  # as drawn: shares of these, whose sum is all the ratios give
    d = study.parquet("matching", "distance_published.parquet")
    n_treated = int(d.treated.sum())
    k = len(released)
    # each released count r stands for a true count in r-2..r+2: the suppressed bins hold n_treated minus
    # a sum anywhere in sum(r) -/+ 2k; how many of the values a suppressed bin can take (1-9) remain
    low, high = n_treated - released.sum() - 2 * k, n_treated - released.sum() + 2 * k
    consistent = [s for s in range(1, cfg.disclosure.min_cell) if low <= s <= high]
    assert len(consistent) >= 5, consistent

    rates = match_rate_table(study)
    cells = {(dim, str(c[dim])): c for dim, cs in study.linkage_report["match_rate_by"].items() for c in cs}
    for row in rates.itertuples():
        if np.isnan(row.match_rate):
            continue
        c = cells[(row.dimension, row.level)]
        unlinked = c["records"] - c["linked"]
        assert unlinked == 0 or unlinked >= cfg.disclosure.min_cell, (row.dimension, row.level, unlinked)


def test_value_for_money_speaks_for_the_payers(default_run):
    """Issue 16, item 3: the break-even saving is the spending per participant-year, and a saving is
    apportioned to the insurer and patients by their shares of participants' costs in program years."""
    from analysis.config import load_config
    from analysis.report.value import program_spending

    panel = pd.read_parquet(default_run["run"] / "panel" / "panel.parquet")
    years = panel[(panel.first_treat > 0) & (panel.program_months > 0)]
    share = years.insurer_cost.sum() / (years.insurer_cost.sum() + years.patient_cost.sum())
    per_py = program_spending(panel, load_config().report.device_cost).spending_per_participant_year.iloc[0]
    en = (default_run["reports"] / "report_en.html").read_text(encoding="utf-8")
    ko = (default_run["reports"] / "report_ko.html").read_text(encoding="utf-8")
    assert f"National Health Insurance Service ({share:.0%}) and to patients ({1 - share:.0%})" in en
    assert f"국민건강보험공단({share:.0%})과 환자 본인({1 - share:.0%})" in ko
    assert f"by at least KRW {fmt_krw(per_py)} a year" in en and f"{fmt_won(per_py)} 이상 줄여야" in ko


def test_robustness_is_said_per_design_not_as_a_tally(default_run):
    """Issue 16, item 4: what each check that can see self-selection found, design by design, with the
    pre-tests' p-values as the diagnostics table has them; no 'passed k of n'; the checks any estimator
    passes are named as such; the selection rule's own bias and the multiplicity method are said."""
    from analysis.report.text import fmt_p

    checks = json.loads((default_run["run"] / "refutation.json").read_text())
    for lang, tally, pre in (("en", r"passed \d+ of its \d+", "before enrolment"), ("ko", r"\d+개 중 \d+개 통과", "참여 전")):
        page = (default_run["reports"] / f"report_{lang}.html").read_text(encoding="utf-8")
        detail = _visible(page[page.index('<div class="detail">'):page.index("<h2>", page.index('<div class="detail">'))])
        assert not re.search(tally, detail)
        assert "Roth 2022" in detail and "Holm" in detail and "DoWhy" in detail
        for c in checks:
            if c["name"] == "pre_trend_test" and c["design"] in ("callaway_santanna", "published"):
                p = fmt_p(c["p_value"])
                assert (f"p < {p[1:]}" if p.startswith("<") else f"p = {p}") in detail, (lang, c["design"])
        assert pre in detail


def test_reports_have_the_sections_of_a_published_evaluation(default_run):
    """Issue 16, item 5: background, methods, data and participants (a drawn flow diagram, Table 1, missing
    data and deaths), limitations, release, about (date, version, plan fingerprint, data access) and a RECORD
    checklist whose every item points to a section the page has; Table 1's counts are the city's design's."""
    from analysis import __version__
    from analysis.report.sections import RECORD_ITEMS, SECTIONS

    run = json.loads((default_run["run"] / "run.json").read_text())
    sizes = pd.read_csv(default_run["run"] / "matching" / "sample_sizes_published.csv", index_col=0)
    assert run["finished"] == date.today().isoformat() or run["finished"] < date.today().isoformat()
    for lang in ("en", "ko"):
        page = (default_run["reports"] / f"report_{lang}.html").read_text(encoding="utf-8")
        for anchor in ("background", "methods", "data", "figures", "diagnostics", "tables", "limitations",
                       "release", "about", "record"):
            assert page.count(f'<a id="{anchor}"></a><h2>') == 1, (lang, anchor)
        data = page[page.index('<a id="data">'):page.index('<a id="figures">')]
        assert data.count('src="data:image/png;base64,') == 1  # the flow diagram, drawn
        table1 = _visible(data[data.index("<table"):data.index("</table>")])
        assert f"{int(sizes.at['All', 'Treated']):,} {int(sizes.at['All', 'Control']):,}" in table1
        about = _visible(page[page.index('<a id="about">'):page.index('<a id="record">')])
        assert run["fingerprint"] in about and __version__ in about and run["finished"] in about
        record = page[page.index('<a id="record">'):]
        rows = re.findall(r"<tr><td>([\d.]+)</td><td>[^<]*</td><td>([^<]*)</td></tr>", record)
        assert [r[0] for r in rows] == [item for item, *_ in RECORD_ITEMS]
        names = SECTIONS[lang]
        for item, where, *_ in RECORD_ITEMS:  # every answer is in a section the page has
            assert html.unescape(dict(rows)[item]) == names[where]
            assert f'<a id="{where}"></a>' in page or (where == "summary" and 'id="summary"' in page)


def test_reports_fit_a_phone_in_chromium(default_run, tmp_path):
    """Issue 16, item 7, in a real browser where Debian's chromium is installed: each report laid out in a
    390 px and a 1280 px wide frame has no horizontal overflow of the page (wide tables scroll in their own
    box). Measured from a wrapper page that reads the framed report's widths (the report itself has no
    script)."""
    import shutil
    import subprocess
    import tempfile

    from analysis.report.render import chromium

    exe = chromium()
    if exe is None:
        pytest.skip("no Chromium here (Debian's chromium): the phone layout is checked where it is installed")
    for lang in ("ko", "en"):
        shutil.copy(default_run["reports"] / f"report_{lang}.html", tmp_path / "report.html")
        for width in (390, 1280):
            wrap = tmp_path / f"wrap_{width}.html"
            wrap.write_text(
                '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">'
                f'<iframe id="f" src="report.html" style="width:{width}px;height:2000px;border:0"></iframe><script>'
                'document.getElementById("f").addEventListener("load",()=>{const d=document.getElementById("f")'
                '.contentDocument.documentElement;document.title="W"+d.scrollWidth+"V"+d.clientWidth;});'
                "</script></body></html>", encoding="utf-8")
            with tempfile.TemporaryDirectory() as profile:
                out = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                      "--allow-file-access-from-files", f"--user-data-dir={profile}",
                                      "--window-size=1400,2200", "--virtual-time-budget=5000", "--dump-dom",
                                      wrap.resolve().as_uri()], capture_output=True, text=True, timeout=180).stdout
            m = re.search(r"<title>W(\d+)V(\d+)</title>", out)
            assert m, (lang, width, out[-300:])
            scroll, client = int(m.group(1)), int(m.group(2))
            assert scroll <= client, f"report_{lang}.html overflows a {width} px frame: {scroll} > {client} px"


def test_the_readme_quotes_the_committed_estimates():
    """Issue 16, item 2: the README's numbers for the default world are figures/estimates.csv's (the cost
    headline's span and its calibrated arm, the city's design, the checkup brackets), so no place says another number for a design."""
    from analysis.paths import PROJECT_ROOT

    readme = " ".join((PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split())  # line breaks aside
    est = pd.read_csv(FIGURES / "estimates.csv")
    est = est[(est.section == "did") & est.term.isin(["ATT", "overall"])]

    def row(outcome: str, design: str) -> pd.Series:
        r = est[(est.outcome == outcome) & (est.design == design)]
        return r[r.aggregation.isin(["simple", "overall", "2x2", "dynamic"])].iloc[0]

    def krw(v: float) -> str:
        return f"{round(v):,}"

    cal, pub = row("medical_cost", "callaway_santanna_calibrated"), row("medical_cost", "published")
    span = row("medical_cost", "calibration_span")
    phrases = [f"calibration span, {krw(span.conf_low)} to {krw(span.conf_high)} KRW per participant-year",
               f"calibrated design: {krw(cal.estimate)} KRW per participant-year (95% CI {krw(cal.conf_low)} to "
               f"{krw(cal.conf_high)}) against a planted truth of {krw(cal.truth)}",
               f"the city's design gives {krw(pub.estimate)} on the same data",
               f"it gives {krw(cal.estimate)} ({krw(cal.conf_low)} to {krw(cal.conf_high)}) against a truth of "
               f"{krw(cal.truth)}, the plan's design {krw(row('medical_cost', 'callaway_santanna').estimate)}"]
    for outcome, name in (("waist", "waist"), ("sbp", "SBP"), ("bmi", "BMI")):
        b = row(outcome, "bracket")
        phrases.append(f"{name} {b.conf_low:.2f} to {b.conf_high:.2f}")
    b = row("new_hypertension", "bracket")
    phrases.append(f"new hypertension {100 * b.conf_low:.2f} to {100 * b.conf_high:.2f} per 100 person-years")
    for p in phrases:
        assert p in readme, p
