"""Every figure of the study, drawn only from released (reviewed) tables, with Korean and English labels,
written to ``figures/`` as ``<name>.png`` (for the reports) and ``<name>.svg`` (for print).

Each figure function takes the :class:`~analysis.report.study.Study` and returns (figure, the reviewed
tables it drew on); ``draw`` records that in the release manifest and saves the files. ``FIGURES`` lists
the figures in the order of the study.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib import font_manager

from analysis.definitions import OUTCOME_SPECS
from analysis.did.designs import DESIGNS
from analysis.did.headline import headline_row
from analysis.report.fonts import korean_font_rc
from analysis.report.release import TOTAL
from analysis.report.text import outcome_names

# from the design registry (analysis/did/designs.py), in its order
DESIGN_LABELS = {name: d.figure_label for name, d in DESIGNS.items()}
DESIGN_COLOURS = {name: d.colour for name, d in DESIGNS.items()}
# from the outcome registry (analysis/definitions.py): each outcome's label and the factor its effect is drawn by
OUTCOME_LABELS = {name: o.figure for name, o in OUTCOME_SPECS.items()}
FOREST_SCALE = {name: o.figure_scale for name, o in OUTCOME_SPECS.items()}
SUBGROUP_LABELS = {"sex": "성별 · sex", "age": "나이 · age", "baseline_bmi": "기초 BMI · baseline BMI",
                   "baseline_activity": "기초 신체활동 · baseline activity", "device": "기기 · device"}
MATCH_DIMENSIONS = {"sex": ("성별", "sex"), "age_band": ("연령", "age"), "district": ("자치구", "district"),
                    "wave": ("모집", "wave")}
SEOUL_DISTRICTS = {  # the administrative (SGG) codes of Seoul's 25 districts
    "11110": "종로구 Jongno", "11140": "중구 Jung", "11170": "용산구 Yongsan", "11200": "성동구 Seongdong",
    "11215": "광진구 Gwangjin", "11230": "동대문구 Dongdaemun", "11260": "중랑구 Jungnang", "11290": "성북구 Seongbuk",
    "11305": "강북구 Gangbuk", "11320": "도봉구 Dobong", "11350": "노원구 Nowon", "11380": "은평구 Eunpyeong",
    "11410": "서대문구 Seodaemun", "11440": "마포구 Mapo", "11470": "양천구 Yangcheon", "11500": "강서구 Gangseo",
    "11530": "구로구 Guro", "11545": "금천구 Geumcheon", "11560": "영등포구 Yeongdeungpo", "11590": "동작구 Dongjak",
    "11620": "관악구 Gwanak", "11650": "서초구 Seocho", "11680": "강남구 Gangnam", "11710": "송파구 Songpa",
    "11740": "강동구 Gangdong",
}
HEADLINE_AGG = {name: d.aggregation for name, d in DESIGNS.items()}


LANGUAGES = ("ko", "en")  # every figure is drawn once per language: one language per file
_LANG = "ko"  # the language ``draw`` is drawing in


def tr(text: str) -> str:
    """One language of a label written "한국어 · English", line by line (a line without the separator is
    kept as it is)."""
    out = []
    for line in text.split("\n"):
        if " · " in line:
            ko, en = line.split(" · ", 1)
            line = ko if _LANG == "ko" else en
        out.append(line)
    return "\n".join(out)


def L(ko: str, en: str) -> str:
    """A label whose two languages are not one "한국어 · English" string (numbers on both sides)."""
    return ko if _LANG == "ko" else en


def _layout(fig, **kw) -> None:
    """``tight_layout`` remembered, so ``draw`` can lay the figure out again once its labels are in one
    language (shorter labels, another layout)."""
    fig.tight_layout(**kw)
    fig._wd_layout = kw


def _plt():
    """pyplot (the Korean font comes from ``draw``'s ``rc_context``, never from the global settings)."""
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, directory: Path, name: str) -> list[Path]:
    """``<name>.png`` (150 dpi) and ``<name>.svg``, byte-stable for the same figure (no dates, fixed ids)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = [directory / f"{name}.png", directory / f"{name}.svg"]
    with matplotlib.rc_context({"svg.hashsalt": f"wristdoctor-{name}"}):
        fig.savefig(out[0], dpi=150, metadata={"Software": None})
        fig.savefig(out[1], metadata={"Date": None, "Creator": None})
    return out


def _interval(ax, y, est, lo, hi, colour, label=None, marker="o"):
    est, lo, hi = (np.asarray(v, dtype=float) for v in (est, lo, hi))
    if np.isnan(est).all():  # a range without a point estimate (no point claim): the bar alone
        ax.hlines(y, lo, hi, color=colour, lw=3, alpha=0.7, label=label)
        return
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt=marker, color=colour, capsize=2, ms=4, lw=1.2, label=label)


# ---------------------------------------------------------------- released tables the figures draw on
def enrolment_table(study):
    def build(review):
        part = study.parquet("linkage", "linked", "participation.parquet")
        # cumulated, the curve's end is the released months' sum: beside the linked participants' total, the
        # suppressed months' count would be its difference, so counts are released rounded to 5
        return review.aggregate("enrolment_by_month", part, by=["enrol_month"], stat="count", round_to=5)

    return study.released("enrolment_by_month", build)


def match_rate_table(study):
    def build(review):
        rows = []
        for dim, cells in study.linkage_report["match_rate_by"].items():
            for c in cells:
                rows.append({"dimension": dim, "level": str(c[dim]), "records": c["records"], "linked": c["linked"],
                             "match_rate": c["match_rate"]})
        return review.table("linkage_match_rates", pd.DataFrame(rows), count="records", parts=("linked",))

    return study.released("linkage_match_rates", build)


def cost_trend_table(study):
    def build(review):
        p = study.panel[["study_id", "year", "first_treat", "medical_cost"]]
        p = p.assign(cohort=np.where(p.first_treat > 0, p.first_treat.astype(str), "never"))
        return review.aggregate("cost_by_cohort_year", p, by=["cohort", "year"], value="medical_cost", stat="mean")

    return study.released("cost_by_cohort_year", build)


def overlap_table(study):
    def build(review):
        d = study.parquet("matching", "distance_published.parquet")
        # fixed bin edges (never the data's own min/max): 0 to the 99th percentile rounded up to 0.01
        top = np.ceil(np.quantile(d.distance, 0.99) * 100) / 100
        edges = np.linspace(0, top, 21)
        d = d.assign(bin=np.clip(np.digitize(d.distance, edges) - 1, 0, len(edges) - 2))
        d["bin_mid"] = ((edges[:-1] + edges[1:]) / 2)[d["bin"]].round(4)
        groups = pd.concat([d[d.treated == 1].assign(group="treated"), d[d.treated == 0].assign(group="control_all"),
                            d[(d.treated == 0) & (d.weights > 0)].assign(group="control_matched")])
        # drawn as shares of each group: the heights' ratios give the released bins' sum, which beside
        # n_treated would give a suppressed bin's count away, so counts are released rounded to 5
        return review.aggregate("propensity_overlap", groups, by=["group", "bin_mid"], stat="count", round_to=5)

    return study.released("propensity_overlap", build)


def balance_table(study):
    def build(review):
        b = study.csv("matching", "balance_published.csv")
        b = b[b.covariate != "distance"].pivot(index="covariate", columns="sample", values="Std. Mean Diff.")
        nn = study.csv("matching", "sample_sizes_published.csv").set_index("Unnamed: 0")
        b = b.reset_index().assign(n_treated=int(nn.loc["Matched", "Treated"]),
                                   n_control=int(nn.loc["Matched", "Control"]))
        return review.model("balance_published", b.rename(columns={"all": "smd_all", "matched": "smd_matched"}))

    return study.released("balance_published", build)


def flow_table(study):
    """The participant and linkage flow (one row per box of the flow diagram): ``n`` and, where a box splits,
    the part that goes on (``part``); the review withholds a row whose part or remainder is under the
    minimum count, so no box can be had by subtraction."""
    def build(review):
        lk, pr = study.linkage_report, study.panel_report
        lv = lk["linked_vs_unlinked"]
        mr = study.matching_report["published_design"]
        n_cand = int(study.csv("matching", "sample_sizes_published.csv").set_index("Unnamed: 0").at["All", "Control"])
        # a box that does not split goes on whole (part = n)
        rows = [
            {"box": "program_records", "n": lv["linked"]["records"] + lv["unlinked"]["records"],
             "part": lv["linked"]["records"]},
            {"box": "unlinked", "n": lv["unlinked"]["records"], "part": lv["unlinked"]["records"],
             "mean_age": lv["unlinked"]["mean_age_at_enrolment"]},
            {"box": "linked", "n": lv["linked"]["records"], "part": lv["linked"]["records"],
             "mean_age": lv["linked"]["mean_age_at_enrolment"]},
            {"box": "nhis_persons", "n": pr["persons"], "part": pr["persons_in"]},
            {"box": "person_years", "n": pr["rows"], "part": pr["rows"]},
            {"box": "published_pool", "n": n_cand + mr["matched_treated"], "part": mr["matched_treated"]},
            {"box": "published_matched", "n": n_cand, "part": mr["matched_controls"]},
        ]
        return review.table("flow", pd.DataFrame(rows), count="n", parts=("part",))

    return study.released("flow", build)


def flow_cohort_table(study):
    """The panel's persons by year of enrolment (``never`` for those who did not join) with their total: the
    review protects a suppressed year from subtraction from the total (secondary suppression)."""
    def build(review):
        persons = study.panel.drop_duplicates("study_id")
        cohort = persons.first_treat.astype(int).astype(str).where(persons.first_treat > 0, "never")
        return review.aggregate("flow_cohorts", pd.DataFrame({"cohort": cohort}), by=["cohort"], stat="count",
                                margins=True)

    return study.released("flow_cohorts", build)


# Table 1: the city's design's people before enrolment (2022 joiners, every candidate, the matched)
TABLE1_VARIABLES = ["female", "age_pre", "premium_decile_pre", "disability_pre", "chronic_disease", "bmi_pre",
                    "sbp_pre", "fasting_glucose_pre", "cost_pre1"]
TABLE1_MEASURED = ("bmi_pre", "sbp_pre", "fasting_glucose_pre")  # only where a checkup was had before


def baseline_table(study):
    """Table 1: means (shares for 0/1 variables) of the pre-enrolment characteristics of the city's
    design's 2022 joiners, all its comparison candidates and the matched comparison group, reviewed
    cell by cell (``n`` persons with a value; dominance for the means of non-negative values)."""
    def build(review):
        from analysis.matching.riskset import cohort_frame

        frame = cohort_frame(study.panel, 2022, control_first_treat_after=2023)
        matched = study.parquet("matching", "published.parquet")
        matched = set(matched.loc[matched.treated == 0, "study_id"])
        groups = {"joiners_2022": frame.treated == 1, "candidates": frame.treated == 0,
                  "matched": (frame.treated == 0) & frame.index.isin(matched)}
        parts = []
        for v in TABLE1_VARIABLES:
            x = frame[v].astype(float)
            if v in TABLE1_MEASURED:
                x = x.where(frame.no_checkup_pre == 0)
            for g, keep in groups.items():
                parts.append(pd.DataFrame({"variable": v, "group": g, "value": x[keep].dropna().to_numpy()}))
        long = pd.concat(parts, ignore_index=True)
        return review.aggregate("baseline_table", long, by=["variable", "group"], value="value", stat="mean")

    return study.released("baseline_table", build)


def att_gt_table(study):
    return study.released("att_gt_primary", lambda r: r.model("att_gt_primary", study.csv("refutation", "att_gt.csv")))


def event_study_table(study):
    return study.released("event_study_primary",
                          lambda r: r.model("event_study_primary", study.csv("refutation", "event_study.csv")))


def headline_estimates(study):
    """One row per outcome and design: the design's headline aggregation."""
    def build(review):
        e = study.estimates
        keep = pd.Series(False, index=e.index)
        for d, agg in HEADLINE_AGG.items():
            keep |= (e.design == d) & (e.aggregation == agg) & e.term.isin(["ATT", "overall"])
        return review.model("headline_estimates", e[keep].reset_index(drop=True))

    return study.released("headline_estimates", build)


def headline_by_outcome(study):
    """One row per outcome of the plan: the design its headline rests on (``rambachan_roth`` where no
    design passes its pre-test and no point estimate is made), the estimate and interval, and the counts
    behind them (from ``headline.json`` and the estimates)."""
    def build(review):
        e = study.estimates
        rows = []
        for h in study.headline.get("outcomes", []):
            d = h["design"] or "rambachan_roth"
            r = headline_row(e, h["outcome"], d)
            if r is None:
                continue
            rows.append({"outcome": h["outcome"], "design": d,
                         "estimate": np.nan if h["estimate"] is None else float(h["estimate"]),
                         "conf_low": float(h["conf_low"]), "conf_high": float(h["conf_high"]),
                         "n_treated": r.n_treated, "n_control": r.n_control, "truth": r.truth})
        return review.model("headline_by_outcome", pd.DataFrame(rows))

    return study.released("headline_by_outcome", build)


def heterogeneity_table(study):
    return study.released("heterogeneity", lambda r: r.model("heterogeneity", study.csv("heterogeneity.csv")))


def adherence_table(study):
    return study.released("adherence", lambda r: r.table("adherence", study.csv("adherence.csv"), count="n"))


def sensitivity_table(study):
    def build(review):
        rows = []
        for c in study.checks:
            if c["name"] == "honest_did_relative_magnitudes" and c.get("grid"):
                rows += [{"design": c["design"], "Mbar": g["Mbar"], "conf_low": g["conf_low"],
                          "conf_high": g["conf_high"], "breakdown": c.get("breakdown")} for g in c["grid"]]
        return review.table("sensitivity_relative_magnitudes", pd.DataFrame(rows))

    return study.released("sensitivity_relative_magnitudes", build)


# ---------------------------------------------------------------- figures
def fig_enrolment(study):
    plt = _plt()
    t = enrolment_table(study).sort_values("enrol_month")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = pd.PeriodIndex(t.enrol_month, freq="M").to_timestamp()
    ax.plot(x, t.n.fillna(0).cumsum(), color="#2c7fb8", lw=2)
    ax.set_ylabel("누적 참여자 · participants (linked)")
    ax.set_title("참여자 누적 추이 · Enrolment curve")
    note = int(t.n.isna().sum())
    if note:
        ax.text(0.01, 0.95, f"{note}개월 비공개 · {note} months suppressed", transform=ax.transAxes, fontsize=8)
    _layout(fig)
    return fig, ["enrolment_by_month"]


def fig_match_rates(study):
    plt = _plt()
    t = match_rate_table(study)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(t) + 1.2))
    def district(code: str) -> str:
        name = SEOUL_DISTRICTS.get(code)
        return L(*name.split(" ", 1)) if name else code

    labels = [f"{L(*MATCH_DIMENSIONS[d]) if d in MATCH_DIMENSIONS else d}: {district(lv) if d == 'district' else lv}"
              for d, lv in zip(t.dimension, t.level, strict=True)]
    y = np.arange(len(t))[::-1]
    ax.barh(y, t.match_rate * 100, color="#2c7fb8")
    for yi, r in zip(y, t.match_rate, strict=True):  # the rate written out: the axis starts at 0, not where it flatters
        ax.text(101, yi, "비공개 · suppressed" if np.isnan(r) else f"{r:.1%}", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 120)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("연결률 (%) · match rate (%)")
    ax.set_title("가명결합 연결률 · Linkage match rate by group")
    _layout(fig)
    return fig, ["linkage_match_rates"]


def fig_cost_trends(study):
    plt = _plt()
    t = cost_trend_table(study)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (c, g) in enumerate(t.groupby("cohort", sort=True)):
        g = g.sort_values("year")
        colour = "0.3" if c == "never" else plt.cm.viridis(i / 6)
        label = "미참여 · never enrolled" if c == "never" else f"{c}년 참여 · joined {c}"
        ax.plot(g.year, g.medical_cost / 1e3, marker="o", ms=3, color=colour, lw=2 if c == "never" else 1.2,
                label=label)
    ax.set_xlabel("연도 · year")
    ax.set_ylabel("1인당 의료비 (천원) · mean cost (KRW 1,000)")
    ax.set_title("참여 시기별 의료비 추이 · Medical cost by enrolment cohort")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    _layout(fig)
    return fig, ["cost_by_cohort_year"]


def fig_overlap(study):
    plt = _plt()
    t = overlap_table(study)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = {"control_all": ("비교군 전체 · all controls", "0.6", "-"),
             "control_matched": ("매칭된 비교군 · matched controls", "#2c3e50", "-"),
             "treated": ("2022 참여자 · 2022 joiners", "#c0392b", "--")}
    for g, (label, colour, ls) in names.items():
        s = t[t.group == g].sort_values("bin_mid")
        dens = s.n / s.n.sum()
        ax.step(s.bin_mid, dens, where="mid", color=colour, label=label, lw=1.5, ls=ls)
    ax.set_xlabel("성향점수 · propensity score")
    ax.set_ylabel("비율 · share of group")
    ax.set_title("서울시 설계의 성향점수 겹침 · Overlap in the city's design")
    ax.legend(fontsize=8, frameon=False)
    _layout(fig)
    return fig, ["propensity_overlap"]


def fig_love(study):
    plt = _plt()
    t = balance_table(study).sort_values("smd_all", key=np.abs)
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * len(t) + 1.4))
    y = np.arange(len(t))
    ax.scatter(t.smd_all.abs(), y, facecolors="none", edgecolors="#c0392b", label="매칭 전 · all")
    ax.scatter(t.smd_matched.abs(), y, color="#2c3e50", label="매칭 후 · matched")
    ax.axvline(0.1, color="grey", ls="--", lw=1)
    ax.set_yticks(y, [_covariate_label(c) for c in t.covariate], fontsize=8)
    ax.set_xlabel("표준화 평균차 절댓값 · |standardized mean difference|")
    ax.set_title("공변량 균형 (서울시 설계) · Balance, city's design", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    _layout(fig)
    return fig, ["balance_published"]


def _covariate_label(column: str) -> str:
    """A covariate as readers call it (Table 1's words in both languages); a term of the plan's formula the
    report has no words for keeps its own name."""
    from analysis.report.sections import TABLE1_LABELS

    ko, en = TABLE1_LABELS["ko"].get(column), TABLE1_LABELS["en"].get(column)
    return f"{ko} · {en}" if ko and en else column


def fig_att_gt(study):
    from analysis.did.plots import band  # here: importing analysis.did loads every estimator

    plt = _plt()
    t = att_gt_table(study)
    groups = sorted(t.group.unique())
    fig, axes = plt.subplots(len(groups), 1, figsize=(7, 1.7 * len(groups) + 0.8), sharex=True, squeeze=False)
    for ax, g in zip(axes[:, 0], groups, strict=True):
        s = t[t.group == g]
        band(ax, s.time.to_numpy(), s.estimate.to_numpy() / 1e3, s.band_low.to_numpy() / 1e3,
             s.band_high.to_numpy() / 1e3, ~s.post.astype(bool).to_numpy())
        ax.set_title(f"{g}년 참여 · cohort {g}", fontsize=9)
    axes[-1, 0].set_xlabel("연도 · year")
    fig.supylabel("ATT(g,t), 천원 · KRW 1,000", fontsize=9)
    fig.suptitle("집단-시점별 효과와 균일 신뢰대 · Group-time ATTs, uniform 95% band", fontsize=10)
    _layout(fig)
    return fig, ["att_gt_primary"]


def fig_event_study(study):
    from analysis.did.plots import band  # here: importing analysis.did loads every estimator

    plt = _plt()
    t = event_study_table(study)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    band(ax, t.event_time.to_numpy(), t.estimate.to_numpy() / 1e3, t.band_low.to_numpy() / 1e3,
         t.band_high.to_numpy() / 1e3, (t.event_time < 0).to_numpy())
    ax.axvline(-0.5, color="0.7", ls=":", lw=1)
    ax.set_xlabel("참여 후 경과 연수 · years since enrolment")
    ax.set_ylabel("의료비 효과 (천원) · effect on cost (KRW 1,000)")
    ax.set_title("사건연구 (Callaway-Sant'Anna, 균일 95% 신뢰대) · Event study, uniform 95% band")
    _layout(fig)
    return fig, ["event_study_primary"]


def _added_outcome_label(study, outcome: str) -> str:
    """A panel title for an outcome the study's phenotype file adds: its Korean and English names."""
    ko, en = (outcome_names(study.phenotypes, lang)[outcome] for lang in ("ko", "en"))
    return en if ko == en else f"{ko} · {en}"


def fig_forest(study):
    plt = _plt()
    t = headline_estimates(study)
    present = list(dict.fromkeys(t.outcome))
    outcomes = [o for o in OUTCOME_LABELS if o in present] + [o for o in present if o not in OUTCOME_LABELS]
    designs = list(DESIGN_LABELS)
    ncol = 3
    nrow = int(np.ceil(len(outcomes) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.7 * nrow + 0.8), squeeze=False)
    labelled: set[str] = set()  # each design in the legend once, where it first appears
    for ax, o in zip(axes.flat, outcomes, strict=False):
        s = t[t.outcome == o]
        scale = FOREST_SCALE.get(o, 1.0)
        for i, d in enumerate(designs):
            r = s[s.design == d]
            if r.empty:
                continue
            y = len(designs) - 1 - i
            _interval(ax, [y], r.estimate / scale, r.conf_low / scale, r.conf_high / scale, DESIGN_COLOURS[d],
                      label=None if d in labelled else DESIGN_LABELS[d], marker=DESIGNS[d].marker)
            labelled.add(d)
            if np.isfinite(r.truth.iloc[0]):
                ax.plot(r.truth / scale, [y], "kD", ms=4, label="참값 · truth" if (o == outcomes[0] and i == 0) else None)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks([])
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))  # small rates' labels would overlap
        title = OUTCOME_LABELS.get(o) or _added_outcome_label(study, o)
        ax.set_title(title, fontsize=9.5)
    for ax in list(axes.flat)[len(outcomes):]:
        ax.axis("off")
    fig.legend(loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("모든 결과의 효과 추정 (95% 신뢰구간) · Every outcome, every design (95% CI) vs synthetic truth",
                 fontsize=10)
    _layout(fig, rect=(0, 0.08, 1, 0.97))
    return fig, ["headline_estimates"]


def fig_heterogeneity(study):
    plt = _plt()
    t = heterogeneity_table(study)
    fig, ax = plt.subplots(figsize=(7, 0.34 * len(t) + 1.4))
    y = np.arange(len(t))[::-1]
    _interval(ax, y, t.estimate / 1e3, t.conf_low / 1e3, t.conf_high / 1e3, "#2c7fb8", label="추정 · estimate")
    if t.truth.notna().any():
        ax.plot(t.truth / 1e3, y, "kD", ms=4, label="참값 · truth")
    ax.set_yticks(y, [f"{SUBGROUP_LABELS.get(s, s)}: {lv}" for s, lv in zip(t.subgroup, t.level, strict=True)],
                  fontsize=8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("의료비 효과 (천원/년) · effect on cost (KRW 1,000/yr)")
    design = t.design.iloc[0] if "design" in t and len(t) else ""
    ax.set_title(L("하위집단별 효과", "Effects by subgroup") + f" ({tr(DESIGN_LABELS.get(design, design))})", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    _layout(fig)
    return fig, ["heterogeneity"]


ADHERENCE_LABELS = {"inactive": "비활동 · inactive", "active": "활동 (주 3일+) · active (3+ goal days/wk)",
                    "steps: lowest third": "걸음 수 하위 1/3 · steps, lowest third",
                    "steps: middle third": "걸음 수 중간 1/3 · steps, middle third",
                    "steps: highest third": "걸음 수 상위 1/3 · steps, highest third"}


def fig_adherence(study):
    plt = _plt()
    t = adherence_table(study)
    t = t[t.level.isin(list(ADHERENCE_LABELS))]
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(t))
    err = np.vstack([t.mean_change - t.conf_low, t.conf_high - t.mean_change]) / 1e3
    ax.bar(x - 0.2, t.mean_change / 1e3, 0.4, yerr=err, capsize=3, ecolor="0.25", color="#c0392b",
           label="관찰된 의료비 변화 (95% CI) · observed change, 2021 to 2023 (95% CI)")
    ax.bar(x + 0.2, t.truth / 1e3, 0.4, color="#41ab5d", label="실제 프로그램 효과 · true program effect")
    ax.set_xticks(x, [ADHERENCE_LABELS[lv] for lv in t.level], fontsize=8)
    ax.axvline(1.5, color="0.7", lw=0.8)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("천원 · KRW 1,000")
    ax.set_title("2022년 참여자: 활동량별 비교 (자기선택) · 2022 joiners by adherence and steps (self-selection)",
                 fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)  # off the bars
    _layout(fig)
    return fig, ["adherence"]


def fig_sensitivity(study):
    plt = _plt()
    t = sensitivity_table(study)
    designs = list(dict.fromkeys(t.design))
    fig, axes = plt.subplots(1, len(designs), figsize=(5.2 * len(designs), 3.8), squeeze=False)
    for ax, d in zip(axes[0], designs, strict=True):
        s = t[t.design == d]
        ax.vlines(s.Mbar, s.conf_low / 1e3, s.conf_high / 1e3, color="#2c7fb8", lw=3)
        ax.axhline(0, color="k", lw=0.8)
        b = s.breakdown.iloc[0]
        if pd.notna(b):
            ax.axvline(b, color="#c0392b", ls="--", lw=1, label=f"한계점 · breakdown Mbar = {b:.2g}")
            ax.legend(fontsize=8, frameon=False, loc="upper left")
        ax.set_title(DESIGN_LABELS.get(d, d), fontsize=9)
        ax.set_xlabel("Mbar: 사후 추세 위반 / 최대 사전 위반 · post violation / max pre violation", fontsize=8)
        ax.set_ylabel("평균 효과 강건 95% CI (천원) · robust 95% CI (KRW 1,000)", fontsize=8)
    fig.suptitle("민감도 분석 (Rambachan-Roth 상대적 크기) · Sensitivity, relative magnitudes", fontsize=10)
    _layout(fig)
    return fig, ["sensitivity_relative_magnitudes"]


def fig_causal_graph(study):
    from analysis.causal.graph import draw_graph

    _plt()
    fig = draw_graph(korean=_LANG == "ko")
    fig.axes[0].set_title("가정한 인과 그래프 (점선: 관측되지 않음) · Assumed causal graph (dashed: unobserved)")
    return fig, []


def fig_flow(study):
    """The flow diagram (RECORD 13.1): program records to linked participants, NHIS persons to the panel,
    the panel's enrolment cohorts, and the city's design's sample, from the reviewed flow table."""
    plt = _plt()
    t = flow_table(study).set_index("box")
    hidden = L("비공개", "suppressed")

    def n(box: str, col: str = "n") -> str:
        v = t.at[box, col] if box in t.index else np.nan
        return hidden if np.isnan(v) else f"{v:,.0f}"

    def share(box: str) -> str:
        a, b = t.at[box, "part"], t.at[box, "n"]
        return "" if np.isnan(a) or np.isnan(b) or not b else f" ({a / b:.1%})"

    c = flow_cohort_table(study).set_index("cohort").n
    years = ", ".join(f"{k}: {hidden if np.isnan(v) else f'{v:,.0f}'}" for k, v in c.items()
                      if k not in ("never", TOTAL))
    never = hidden if np.isnan(c.get("never", np.nan)) else f"{c['never']:,.0f}"
    ages = [t.at[b, "mean_age"] for b in ("unlinked", "linked")]
    age = ("" if np.isnan(ages).any() else
           L(f"\n평균 나이 {ages[0]:.0f}세 (연결된 참여자 {ages[1]:.0f}세)", f"\nmean age {ages[0]:.0f} (linked {ages[1]:.0f})"))
    boxes = {  # (x, y): centre in axes units
        (0.25, 0.88): L(f"프로그램 참여 기록\n{n('program_records')}건", f"program records\n{n('program_records')}"),
        (0.36, 0.62): L("건강보험 자료와 연결", "linked to NHIS data") + f"\n{n('program_records', 'part')}"
                      + share("program_records"),
        (0.2, 0.38): L(f"연결 안 됨: {n('unlinked')}{age}\n비참여자로 남음",
                       f"not linked: {n('unlinked')}{age}\nthey stay among non-participants"),
        (0.75, 0.88): L(f"건강보험 자격자\n{n('nhis_persons')}명", f"NHIS persons\n{n('nhis_persons')}"),
        (0.75, 0.62): L(f"분석 패널: {n('nhis_persons', 'part')}명\n{n('person_years')} 인년",
                        f"panel: {n('nhis_persons', 'part')} persons\n{n('person_years')} person-years"),
        (0.72, 0.38): L(f"참여 연도별\n{years}\n미참여: {never}", f"by year of enrolment\n{years}\nnever: {never}"),
        (0.5, 0.1): L(f"서울시 설계: 2022년 참여자 {n('published_pool', 'part')}명\n"
                      f"비교 후보 {n('published_matched')}명 중 1:10 매칭 {n('published_matched', 'part')}명",
                      f"the city's design: 2022 joiners {n('published_pool', 'part')}\n"
                      f"candidates {n('published_matched')}, matched 1:10 {n('published_matched', 'part')}"),
    }
    fig, ax = plt.subplots(figsize=(8.5, 5.6))
    ax.set_axis_off()
    for (x, y), text in boxes.items():
        ax.text(x, y, text, ha="center", va="center", fontsize=9, transform=ax.transAxes,
                bbox={"boxstyle": "round,pad=0.5", "fc": "#f3f7fb", "ec": "#2c7fb8"})
    arrow = {"arrowstyle": "->", "color": "#555"}
    for (x0, y0), (x1, y1) in [((0.27, 0.83), (0.34, 0.68)), ((0.23, 0.83), (0.2, 0.46)), ((0.75, 0.83), (0.75, 0.68)),
                               ((0.47, 0.62), (0.58, 0.62)), ((0.75, 0.57), (0.74, 0.46)), ((0.7, 0.29), (0.56, 0.16))]:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), xycoords="axes fraction", arrowprops=arrow)
    ax.set_title(L("참여자와 가명결합 흐름", "Participant and linkage flow"))
    _layout(fig)
    return fig, ["flow", "flow_cohorts"]


FIGURES = {
    "01_enrolment_curve": fig_enrolment,
    "02_linkage_match_rates": fig_match_rates,
    "03_cost_trends_by_cohort": fig_cost_trends,
    "04_propensity_overlap": fig_overlap,
    "05_love_plot": fig_love,
    "06_group_time_att": fig_att_gt,
    "07_event_study": fig_event_study,
    "08_forest_all_outcomes": fig_forest,
    "09_heterogeneity": fig_heterogeneity,
    "10_adherence_dose": fig_adherence,
    "11_sensitivity": fig_sensitivity,
    "12_causal_graph": fig_causal_graph,
    "13_flow_diagram": fig_flow,
}


def draw(study, name: str, save: bool = True, lang: str = "ko"):
    """Draw figure ``name`` in ``lang`` (Korean or English: one language per figure), record it in the
    release manifest (once, for both languages) and, with ``save``, write ``<name>_<lang>.png`` and ``.svg``
    to the study's figures folder. The font settings hold inside ``matplotlib.rc_context`` while the figure
    is drawn and saved: the caller's ``rcParams`` are the same afterwards."""
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; known: {list(FIGURES)}")
    if lang not in LANGUAGES:
        raise KeyError(f"unknown language {lang!r}; known: {list(LANGUAGES)}")
    with matplotlib.rc_context(korean_font_rc()):
        return _draw(study, name, save, lang)


def _pin_fonts(fig) -> None:
    """Name the fonts of every text that asks for a generic family ("sans-serif", as networkx's labels do) as
    the settings in force resolve it, so the figure shows the same outside ``draw``'s ``rc_context`` (a
    notebook displays it after the cell has run)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    generic = {"sans": "sans-serif", "sans serif": "sans-serif"}
    for text in fig.findobj(matplotlib.text.Text):
        families = text.get_fontfamily()
        if any(f in font_manager.font_family_aliases for f in families):
            named = [n for f in families for n in (
                [m for m in matplotlib.rcParams[f"font.{generic.get(f, f)}"] if m in installed]
                if f in font_manager.font_family_aliases else [f])]
            text.set_fontfamily(list(dict.fromkeys(named)))


def _draw(study, name: str, save: bool, lang: str):
    global _LANG
    _LANG, before = lang, _LANG
    try:
        fig, sources = FIGURES[name](study)
        for text in fig.findobj(matplotlib.text.Text):  # every title, label, legend entry, note
            if " · " in text.get_text():
                text.set_text(tr(text.get_text()))
        for axis in (a for ax in fig.axes for a in (ax.xaxis, ax.yaxis)):  # named ticks are redrawn from labels
            labels = [t.get_text() for t in axis.get_ticklabels()]
            if isinstance(axis.get_major_locator(), matplotlib.ticker.FixedLocator) and any(" · " in t for t in labels):
                axis.set_ticklabels([tr(t) for t in labels])
        fig.tight_layout(**getattr(fig, "_wd_layout", {}))
        _pin_fonts(fig)
    finally:
        _LANG = before
    if name not in study.figures_reviewed:
        study.review.figure(name, sources)
        study.figures_reviewed.add(name)
    if save:
        save_figure(fig, study.figures_dir, f"{name}_{lang}")
    return fig
