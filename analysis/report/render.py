"""The report stage end to end: every figure and table through the release review, ``figures/estimates.csv``,
``reports/release_manifest.json``, and the Korean and English reports (self-contained HTML: figures
embedded as data, no scripts, no external files; a PDF of each by headless Chromium where there is one).

The reports speak to policymakers: the first screen answers in plain words, then methods, diagnostics and
the full tables. No code is shown.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.config import StudyConfig
from analysis.report import figures as F
from analysis.report.fonts import font_face_css
from analysis.report.sections import (
    HEADINGS,
    RECORD_ITEMS,
    SECTIONS,
    SHARE_VARIABLES,
    TABLE1_LABELS,
    about,
    background,
    data_text,
    limitations,
    missing_text,
)
from analysis.report.study import Study
from analysis.report.text import (
    COLUMN_NAMES,
    DESIGNS,
    TEXT,
    check_label,
    check_meaning,
    fmt_eok,
    fmt_krw,
    fmt_num,
    fmt_p,
    grid_top,
    outcome_names,
    readable,
    summary,
)
from analysis.report.value import payer_costs, program_spending, value_for_money

ESTIMATE_COLUMNS = ["section", "outcome", "role", "design", "estimator", "aggregation", "term", "subgroup",
                    "level", "estimate", "std_error", "conf_low", "conf_high", "p_value", "p_adjusted",
                    "n_treated", "n_control", "truth"]


def released_estimates(study: Study) -> pd.DataFrame:
    """Every estimate of the run after the release review, in one long table (``figures/estimates.csv``):
    the DiD designs for every outcome, the subgroups, and the adherence comparison."""
    est = study.released("estimates", lambda r: r.model("estimates", study.estimates)).assign(section="did")
    het = F.heterogeneity_table(study).assign(section="heterogeneity", outcome=study.cfg.outcomes.primary,
                                              aggregation="simple", term="overall")
    adh = F.adherence_table(study).rename(columns={"mean_change": "estimate"}).assign(
        section="adherence", outcome=study.cfg.outcomes.primary, design="within_participants",
        subgroup="adherence_2023", term="mean_change")
    out = pd.concat([est, het, adh], ignore_index=True)
    return out.reindex(columns=ESTIMATE_COLUMNS)


def payer_table(study: Study) -> pd.DataFrame:
    """Participants' medical costs in their program years by payer (insurer, patient), reviewed sums."""
    return study.released("payer_costs", lambda r: r.aggregate("payer_costs", payer_costs(study.panel), ["payer"],
                                                               "cost", stat="sum"))


def insurer_share(study: Study) -> float:
    """The NHIS share of participants' medical costs (NaN where a payer's sum was suppressed)."""
    t = payer_table(study).set_index("payer").cost
    return float(t["insurer"] / (t["insurer"] + t["patient"]))


def spending_table(study: Study) -> pd.DataFrame:
    return study.released("program_spending", lambda r: r.table(
        "program_spending", program_spending(study.panel, study.cfg.report.device_cost), count="participants"))


CHECK_VALUES = ["estimate", "p_value", "conf_low", "conf_high", "breakdown"]


def checks_table(study: Study) -> pd.DataFrame:
    """The refutation and sensitivity checks as the report shows them, reviewed: one row per check with its
    value, p-value, interval, breakdown and verdict. The main estimates are left out: they are in the
    estimates table, and their 'passed' (an interval that includes 0) is not a check's."""
    rows = [{"design": c["design"], "check": c["name"], "estimate": c.get("estimate"), "p_value": c.get("p_value"),
             "conf_low": c.get("conf_low"), "conf_high": c.get("conf_high"), "breakdown": c.get("breakdown"),
             "passed": c["passed"]} for c in study.checks if c["name"] != "main_estimate"]
    frame = pd.DataFrame(rows, columns=["design", "check", *CHECK_VALUES, "passed"])
    frame[CHECK_VALUES] = frame[CHECK_VALUES].astype(float)
    return study.released("refutation_checks", lambda r: r.table("refutation_checks", frame))


def value_table(study: Study, hl: dict) -> pd.DataFrame:
    """Value for money (item, value), reviewed like every table that leaves."""
    v = pd.Series(hl["value"], dtype=float).rename_axis("item").reset_index(name="value")
    return study.released("value_for_money", lambda r: r.table("value_for_money", v))


def headline(study: Study) -> dict:
    """The numbers of the first screen, from released tables only."""
    cfg = study.cfg
    y = cfg.outcomes.primary
    design, reason = study.headline["design"], study.headline["reason"]
    h = F.headline_estimates(study)
    h = h[h.outcome == y].set_index("design")
    main = h.loc[design]
    spend = spending_table(study).iloc[0]
    checks = study.checks
    by = {(c["design"], c["name"]): c for c in checks}
    return {
        "design": design, "reason": reason, "estimate": main.estimate, "conf_low": main.conf_low,
        "conf_high": main.conf_high, "truth": main.truth, "city": cfg.report.published_did,
        "published": h.loc["published"] if "published" in h.index else None,
        "plan": h.loc["callaway_santanna"] if "callaway_santanna" in h.index else None,
        "value": value_for_money(main, spend, cfg.report, insurer_share(study)), "all_checks": checks,
        "horizon": (int(study.panel.loc[study.panel.first_treat > 0, "first_treat"].min()), int(study.panel.year.max())),
        "pretest": by.get(("callaway_santanna", "pre_trend_test")),
        "pretest_city": by.get(("published", "pre_trend_test")),
        "negative_control": by.get(("callaway_santanna", "negative_control_outcome")),
        "scale": cfg.world.scale, "scenario": cfg.world.scenario, "participants": cfg.report.participants,
        "knobs": cfg.world.changed_knobs, "health": _health(study), "years": tuple(study.panel_report["years"]), "placebo_shift": cfg.refutation.placebo_shift,
        "multiplicity": cfg.outcomes.multiplicity,
    }


def _health(study: Study) -> list[dict]:
    """The headline interval of each health measure (the plan's secondary outcomes), named as the first
    screen says them (the tables' names without their units)."""
    names = {lang: outcome_names(study.phenotypes, lang) for lang in ("ko", "en")}
    rows = F.headline_by_outcome(study).set_index("outcome")
    return [{"outcome": o, "conf_low": float(rows.at[o, "conf_low"]), "conf_high": float(rows.at[o, "conf_high"]),
             **{f"name_{lang}": re.split(r"\s*\(", names[lang][o])[0] for lang in names}}
            for o in study.cfg.outcomes.secondary if o in rows.index]


def _comparison_table(hl: dict, lang: str) -> str:
    """The first screen's three rows: the city's published figure, the city's design on these data and this
    study's headline, each per participant-year, with the planted truth beside them on synthetic data."""
    T, pub = TEXT[lang], hl["published"]
    synthetic = hl["truth"] is not None and not np.isnan(hl["truth"])

    def interval(lo, hi) -> str:
        return f"{fmt_krw(lo)} ~ {fmt_krw(hi)}"

    rows = [[T["row_city"], fmt_krw(hl["city"]), "–", "–"]]
    if pub is not None:
        rows.append([T["row_city_here"], fmt_krw(pub.estimate), interval(pub.conf_low, pub.conf_high),
                     fmt_krw(pub.truth)])
    point = "–" if hl["estimate"] is None or np.isnan(hl["estimate"]) else fmt_krw(hl["estimate"])
    rows.append([T["row_headline"], point, interval(hl["conf_low"], hl["conf_high"]), fmt_krw(hl["truth"])])
    columns = ["figure", "per_participant_year", "interval", "truth"]
    if not synthetic:
        columns, rows = columns[:-1], [r[:-1] for r in rows]
    return _html_table(columns, rows, lang, "compare")


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _html_table(columns, rows, lang: str, css_class: str = "") -> str:
    """``<table>`` with the readers' column names and already formatted (unescaped) cells."""
    head = "".join(f"<th>{html.escape(COLUMN_NAMES[lang].get(str(c), str(c).replace('_', ' ')))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    cls = f' class="{css_class}"' if css_class else ""
    # a table wider than a phone scrolls inside its own box instead of widening the page
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _table(study: Study, name: str, df: pd.DataFrame, lang: str) -> str:
    """An HTML table of the released output ``name`` (``df``: its rows and columns to show, possibly with
    readable labels put in): a value the release review blanked reads 'suppressed', a missing value that was
    never there (an unadjusted p-value, an interval a check does not have) reads '–'."""
    blanked = study.review.suppressed(name).reindex(index=df.index, columns=df.columns, fill_value=False)
    shown = readable(df, study.phenotypes, lang).mask(blanked.to_numpy(), TEXT[lang]["suppressed"])
    return _html_table(df.columns, shown.itertuples(index=False), lang)


_LARGE = ("points_paid", "spending", "savings_total", "savings_total_conf_low", "savings_total_conf_high",
          "spending_total", "city_savings_claim")


def _amounts(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A value table as readers read it: city-wide sums in 억 원 / KRW billion, shares in per cent (a
    value the release review blanked stays missing and reads 'suppressed')."""
    out = df.copy().astype(object)

    def show(key: str, v):
        if isinstance(v, float) and np.isnan(v):
            return v
        return fmt_eok(v, lang) if key in _LARGE else f"{v:.0%}" if key.endswith("_share") else v

    if "item" in out:  # one row per item
        out["value"] = [show(k, v) for k, v in zip(out["item"], out["value"], strict=True)]
    else:  # one column per item
        for c in out.columns:
            out[c] = [show(c, v) for v in out[c]]
    return out


def _definitions_html(study: Study, lang: str) -> str:
    """The outcome definitions the panel was built with (its copy of the phenotype file): code lists only,
    no person's data, so there is nothing for the release review to check."""
    defs = study.phenotypes
    table = defs.describe()  # once: one row per outcome
    oc = study.cfg.outcomes
    studied = {oc.primary, *oc.secondary, oc.negative_control, *oc.negative_controls}
    names = outcome_names(defs, lang)
    rows = ([names[r.outcome], r.definition, r.rule] for r in table.itertuples() if r.outcome in studied)
    intro = TEXT[lang]["definitions_intro"].format(version=defs.version)
    return f"<p>{html.escape(intro)}</p>" + _html_table(["outcome", "definition", "rule"], rows, lang)


def _checks_html(study: Study, lang: str) -> str:
    """The checks table with each check's name, value, interval and meaning in the reader's language."""
    T = TEXT[lang]
    checks = checks_table(study)
    hidden = study.review.suppressed("refutation_checks")
    by_key = {(c["design"], c["name"]): c for c in study.checks}  # the full check: meaning, grid

    def value(r, h) -> str:
        if h.estimate:
            return T["suppressed"]
        v = fmt_num(r.estimate)
        if r.check == "e_value" and np.isfinite(r.conf_low):
            return f"{v} ({T['ci_limit']} {fmt_num(r.conf_low)})"
        # a sensitivity check's value is its breakdown: its estimate is the event-study average, another
        # number for the same design than the tables' (one number per design and outcome)
        if r.check == "honest_did_relative_magnitudes" and by_key[(r.design, r.check)].get("grid"):
            top = fmt_num(grid_top(by_key[(r.design, r.check)]))
            return f"{T['breakdown']} {fmt_num(r.breakdown) if np.isfinite(r.breakdown) else '> ' + top}"
        if r.check == "honest_did_smoothness":
            return f"{T['breakdown']} {fmt_num(r.breakdown)}" if np.isfinite(r.breakdown) else "–"
        return v

    def interval(r, h) -> str:
        if h.conf_low or h.conf_high:
            return T["suppressed"]
        if r.check == "e_value" or not (np.isfinite(r.conf_low) and np.isfinite(r.conf_high)):
            return "–"
        return f"{fmt_num(r.conf_low)} ~ {fmt_num(r.conf_high)}"

    shown = pd.DataFrame({
        "design": [DESIGNS[lang][d] for d in checks.design],
        "check": [check_label(c, lang, d) for d, c in zip(checks.design, checks.check, strict=True)],
        "value": [value(r, h) for r, h in zip(checks.itertuples(), hidden.itertuples(), strict=True)],
        "p_value": [fmt_p(p) for p in checks.p_value],
        "interval": [interval(r, h) for r, h in zip(checks.itertuples(), hidden.itertuples(), strict=True)],
        "result": [T["passed"] if p else T["failed"] for p in checks.passed],
        "meaning": [check_meaning(by_key[(d, c)], lang, study.cfg.refutation.placebo_shift)
                    for d, c in zip(checks.design, checks.check, strict=True)],
    })
    return _html_table(shown.columns, shown.itertuples(index=False), lang, "checks")


CSS = """body{font-family:NanumGothic,'Noto Sans KR','Malgun Gothic','Apple SD Gothic Neo',sans-serif;max-width:60em;
margin:2em auto;padding:0 1em;line-height:1.55;color:#222;overflow-wrap:anywhere;word-break:keep-all}
.scroll{overflow-x:auto;max-width:100%}td,th{overflow-wrap:normal}#summary{font-size:1.1em}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;
padding-bottom:.2em;margin-top:2em}.answer{background:#f3f7fb;border-left:5px solid #2c7fb8;padding:.8em 1.2em}
.answer p{margin:.5em 0}.note{color:#666;font-size:.9em}figure{margin:1em 0 .3em}img{max-width:100%}
.caption{color:#444;font-size:.9em;margin:0 0 1.5em}table.checks td:nth-child(7){text-align:left;min-width:22em}
table.checks td:nth-child(6),table.checks td:nth-child(5){white-space:nowrap}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}td,th{border:1px solid #ddd;padding:.2em .5em;
text-align:right}th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
@media print{h2{page-break-before:always}.answer{page-break-inside:avoid}}"""


FLOW = "13_flow_diagram"  # drawn in the data section, not among the results' figures


def _facts(study: Study, hl: dict) -> dict:
    """The numbers the standard sections state, from the run's records and reviewed tables."""
    from analysis import __version__

    lk, pr, rec = study.linkage_report, study.panel_report, study.run_record
    lv = lk["linked_vs_unlinked"]
    dead = study.panel.loc[study.panel.died.astype(bool), "study_id"].nunique()
    deaths = study.released("deaths", lambda r: r.table("deaths", pd.DataFrame([{"persons": dead}]), count="persons"))
    dropped = study.exclusions.get(study.cfg.outcomes.primary, {}).get("att_gt", {})
    return {
        "participants": study.cfg.report.participants, "city": study.cfg.report.published_did,
        "city_claim": study.cfg.report.published_savings, "keys": lk["key_definitions"],
        "records": lv["linked"]["records"] + lv["unlinked"]["records"], "match_rate": lk["match_rate"],
        "without_qualification": pr["exclusions"]["persons_without_qualification"], "persons": pr["persons_in"],
        "deaths": deaths.persons.iloc[0],  # NaN where the review withheld it
        "no_baseline_checkup": pr["persons_without_baseline_checkup"],
        "dropped_unbalanced": sum(v for k, v in dropped.items() if k.startswith("units not observed")),
        "synthetic": hl["truth"] is not None and not np.isnan(hl["truth"]),
        "finished": rec.get("finished", "–"), "version": __version__, "fingerprint": rec["fingerprint"],
        "phenotypes": pr["phenotypes"]["version"],
    }


def _baseline_html(study: Study, lang: str) -> str:
    """Table 1: one row per characteristic, one column per group, shares in per cent, means to 3 significant
    digits, the persons with a value on the first row."""
    t = F.baseline_table(study)
    hidden = study.review.suppressed("baseline_table")
    t = t.assign(hidden=hidden.value.to_numpy())
    groups = ["joiners_2022", "candidates", "matched"]

    cell = {(r.variable, r.group): r for r in t.itertuples()}

    def show(v: str, g: str) -> str:
        r = cell[(v, g)]
        if r.hidden or np.isnan(r.value):
            return TEXT[lang]["suppressed"]
        return f"{r.value:.1%}" if v in SHARE_VARIABLES else fmt_krw(r.value) if v == "cost_pre1" else fmt_num(r.value)

    # every person has a sex: its cells' counts are the groups' sizes
    n = [TEXT[lang]["suppressed"] if cell[("female", g)].hidden else f"{cell[('female', g)].n:,.0f}" for g in groups]
    rows = [[TABLE1_LABELS[lang]["n"], *n]]
    rows += [[TABLE1_LABELS[lang][v], *(show(v, g) for g in groups)] for v in F.TABLE1_VARIABLES]
    return _html_table(["characteristic", *groups], rows, lang)


def _record_html(lang: str) -> str:
    rows = [[item, ko if lang == "ko" else en, SECTIONS[lang][where]] for item, where, en, ko in RECORD_ITEMS]
    return _html_table(["record_item", "record_asks", "record_where"], rows, lang)


def render_html(study: Study, lang: str, hl: dict) -> str:
    T = TEXT[lang]
    notes = {n: T["figure_notes"][n].format(min_cell=study.review.min_count) for n in F.FIGURES}  # the plan's rule

    def figure(n: str) -> str:
        return (f"<h3>{html.escape(T['figure_titles'][n])}</h3>" + _img(study.figures_dir / f"{n}_{lang}.png", n)
                + f"<p class=\"caption\">{html.escape(notes[n])}</p>")

    figs = "".join(figure(n) for n in F.FIGURES if n != FLOW)
    facts, H = _facts(study, hl), HEADINGS[lang]
    est_cols = ["outcome", "design", "estimate", "conf_low", "conf_high", "p_value", "p_adjusted", "n_treated",
                "n_control", "truth"]
    est = _table(study, "headline_estimates", F.headline_estimates(study)[est_cols], lang)
    by_outcome = _table(study, "headline_by_outcome", F.headline_by_outcome(study)[
        ["outcome", "design", "estimate", "conf_low", "conf_high", "n_treated", "n_control", "truth"]], lang)
    het = _table(study, "heterogeneity", F.heterogeneity_table(study)[
        ["subgroup", "level", "estimate", "conf_low", "conf_high", "n_treated", "n_control", "truth"]], lang)
    adh = _table(study, "adherence", F.adherence_table(study)[
        ["level", "n", "mean_change", "conf_low", "conf_high", "truth"]], lang)
    val = _table(study, "value_for_money", _amounts(value_table(study, hl), lang), lang)
    spend = _table(study, "program_spending", _amounts(spending_table(study), lang), lang)
    checks = _checks_html(study, lang)
    dowhy = next((c for c in study.checks if c["name"] == "dowhy_identification"), None)
    pub = F.headline_estimates(study).query("design == 'published' and outcome == @study.cfg.outcomes.primary")
    dowhy_note = ("" if dowhy is None or dowhy.get("estimate") is None or pub.empty else
                  " " + T["dowhy_note"].format(dowhy=fmt_krw(dowhy["estimate"]), did=fmt_krw(pub.estimate.iloc[0])))
    baseline = _baseline_html(study, lang)
    manifest = study.review.manifest()  # after every table of the page was reviewed
    body = f"""<h1>{T['title']}</h1>
<p class="note">{T['subtitle'](hl['scenario'], hl['scale'], hl['years'])}{T['knobs'](hl['knobs'])}</p>
<div id="summary" class="answer">{summary(hl, lang)}</div>{_comparison_table(hl, lang)}
<h2>{T['h_detail']}</h2><div class="detail">{T['answer'](hl)}</div>
<h3>{T['t_headlines']}</h3><p>{T['headlines_intro']}</p>{by_outcome}
<a id="background"></a><h2>{H['background']}</h2>{background(facts, lang)}
<a id="methods"></a><h2>{T['h_methods']}</h2>{T['methods'](hl, manifest['rules'])}
<h3>{T['t_definitions']}</h3>{_definitions_html(study, lang)}
<a id="data"></a><h2>{H['data']}</h2>{data_text(facts, lang)}{figure(FLOW)}
<h3>{H['table1']}</h3>{baseline}<h3>{H['missing']}</h3>{missing_text(facts, lang)}
<a id="figures"></a><h2>{T['h_figures']}</h2>{figs}
<a id="diagnostics"></a><h2>{T['h_diagnostics']}</h2><p>{T['diagnostics_intro']}{dowhy_note}</p>{checks}
<a id="tables"></a><h2>{T['h_tables']}</h2><h3>{T['t_estimates']}</h3>{est}
<h3>{T['t_heterogeneity']}</h3>{het}<h3>{T['t_adherence']}</h3>{adh}
<h3>{T['t_value']}</h3>{val}{spend}
<a id="limitations"></a><h2>{H['limitations']}</h2>{limitations(facts, lang)}
<a id="release"></a><h2>{T['h_release']}</h2><p>{T['release'](manifest['summary'])}</p>
<a id="about"></a><h2>{H['about']}</h2>{about(facts, lang)}
<a id="record"></a><h2>{H['record']}</h2>{_record_html(lang)}"""
    fonts = font_face_css(html.unescape(re.sub(r"<[^>]+>|data:[^\"']+", " ", body)) + T["title"])
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{T["title"]}</title>'
            f"<style>{fonts}{CSS}</style></head><body>{body}</body></html>\n")


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


def print_pdf(html_path: Path, pdf_path: Path) -> str:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; returns what happened (for the manifest)."""
    exe = chromium()
    if exe is None:
        return "skipped: no Chromium on this machine (install Debian's chromium to get PDFs)"
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
               "--no-pdf-header-footer", f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not pdf_path.exists():
        return f"failed: Chromium exited {r.returncode}: {r.stderr.strip()[-300:]}"
    return "written"


def build_report(run: str | Path, cfg: StudyConfig, figures_dir: str | Path = "figures",
                 reports_dir: str | Path = "reports", pdf: bool = True) -> dict:
    """Figures, ``estimates.csv``, the release manifest and the two reports for the finished run ``run``."""
    import matplotlib.pyplot as plt

    study = Study(cfg, Path(run), Path(figures_dir))
    reports = Path(reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    print(f"report: {len(F.FIGURES)} figures in {len(F.LANGUAGES)} languages -> {study.figures_dir}", flush=True)
    for name in F.FIGURES:
        for lang in F.LANGUAGES:
            plt.close(study.figure(name, lang=lang))
    released_estimates(study).to_csv(study.figures_dir / "estimates.csv", index=False, float_format="%.10g")
    hl = headline(study)
    outputs = {}
    for lang in ("ko", "en"):
        page = reports / f"report_{lang}.html"
        page.write_text(render_html(study, lang, hl), encoding="utf-8")
        outputs[page.name] = "written"
        if pdf:
            outputs[f"report_{lang}.pdf"] = print_pdf(page, page.with_suffix(".pdf"))
    manifest = study.review.manifest() | {"reports": outputs}
    (reports / "release_manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
    s = manifest["summary"]
    print(f"report: {s['outputs']} outputs reviewed, {s['suppressed_cells']} cells suppressed "
          f"({', '.join(f'{k} {v}' for k, v in s['by_rule'].items() if v) or 'none'}) -> "
          f"{reports / 'release_manifest.json'}")
    for k, v in outputs.items():
        print(f"  {k}: {v}")
    print(f"  headline ({hl['design']}): {fmt_krw(hl['estimate'])} KRW per participant-year "
          f"({fmt_krw(hl['conf_low'])} to {fmt_krw(hl['conf_high'])}); savings per KRW spent "
          f"{hl['value']['savings_per_krw']:.2f} ({hl['value']['savings_per_krw_conf_low']:.2f} to "
          f"{hl['value']['savings_per_krw_conf_high']:.2f})")
    return manifest
