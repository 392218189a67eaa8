"""Rebuild ``ehec_medicaid.json``: the HonestDiD README example's inputs, its printed results, and a peer
port's results on the same inputs.

1. The data: ``ehec_data`` (Mixtape-Sessions/Advanced-DID, Exercises/Data/ehec_data.dta, the file the
   HonestDiD README reads), here read from the copy the Python package moderndid ships
   (``moderndid.load_ehec()``); the README's ``head(df, 5)`` is printed by this script for comparison.
2. betahat and sigma: the README's ``fixest::feols(dins ~ i(year, D, ref = 2013) | stfips + year,
   cluster = "stfips")`` on years < 2016 without the 2015 cohort, re-estimated here with our own numpy code
   (two-way within transformation of a balanced panel; cluster-robust covariance with fixest's default small
   sample adjustment G/(G-1) * (n-1)/(n-K), K = 7 coefficients + 8 year effects, the state effects being
   nested in the clusters). The README does not print betahat or sigma.
3. The printed tables of the README (lb, ub per Mbar / M) are typed in below by hand.
4. Peer cross-check (optional, needs moderndid[didhonest] in the peer venv): moderndid's didhonest
   (a Python port of HonestDiD, not the reference) on the same inputs and the same theta grid.

Run: /work/main/.venv-did-peers/bin/python tests/data/honestdid_reference/make_reference.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).with_name("ehec_medicaid.json")

README_RM = {"Mbar": [0.5, 1.0, 1.5, 2.0], "lb": [0.0240, 0.0170, 0.00824, -0.000916],
             "ub": [0.0672, 0.0720, 0.0797, 0.0881], "method": "C-LF", "Delta": "DeltaRM"}
README_SD = {"M": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05],
             "lb": [0.0259, 0.0132, 0.00286, -0.00714, -0.0171, -0.0271],
             "ub": [0.0607, 0.0787, 0.0907, 0.101, 0.111, 0.121], "method": "FLCI", "Delta": "DeltaSD"}


def twfe_event_study(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[int]]:
    d = d[(d.year < 2016) & (d.yexp2.isna() | (d.yexp2 != 2015))].copy()
    d["D"] = (d.yexp2 == 2014).astype(float)
    assert d.groupby("stfips").size().nunique() == 1, "panel must be balanced"
    years = [y for y in sorted(d.year.unique()) if y != 2013]
    x = np.column_stack([((d.year == y) & (d.D == 1)).to_numpy(float) for y in years])

    def within(v):
        s = pd.Series(v, index=d.index)
        return (s - s.groupby(d.stfips).transform("mean") - s.groupby(d.year).transform("mean") + s.mean()).to_numpy()

    xw = np.column_stack([within(x[:, j]) for j in range(x.shape[1])])
    yw = within(d.dins.to_numpy(float))
    bread = np.linalg.inv(xw.T @ xw)
    beta = bread @ xw.T @ yw
    u = yw - xw @ beta
    g = d.stfips.to_numpy()
    meat = np.zeros((len(years), len(years)))
    for gg in np.unique(g):
        s = xw[g == gg].T @ u[g == gg]
        meat += np.outer(s, s)
    n, n_g, k = len(yw), len(np.unique(g)), len(years) + d.year.nunique()
    sigma = bread @ meat @ bread * n_g / (n_g - 1) * (n - 1) / (n - k)
    return beta, sigma, years


def main() -> None:
    import moderndid

    raw = moderndid.load_ehec().to_pandas()
    print(raw.head(5))
    beta, sigma, years = twfe_event_study(raw)
    sd = float(np.sqrt(sigma[5, 5]))
    out = {
        "source": "asheshrambachan/HonestDiD README.md (commit 02b541bb42b5d98d11e7803cd1caa0a0506434de), "
                  "'Example usage - Medicaid expansions'",
        "years": [int(y) for y in years], "num_pre_periods": 5, "num_post_periods": 2,
        "betahat": beta.tolist(), "sigma": sigma.tolist(),
        "rm_grid": {"lb": -20 * sd, "ub": 20 * sd, "points": 1000,
                    "note": "HonestDiD computeConditionalCS_DeltaRM default of that era: 0 +- 20 sd(theta)"},
        "readme_rm": README_RM, "readme_sd": README_SD,
    }
    try:
        from moderndid.didhonest import create_sensitivity_results_rm, create_sensitivity_results_sm

        rm = create_sensitivity_results_rm(beta, sigma, 5, 2, m_bar_vec=README_RM["Mbar"], grid_lb=-20 * sd,
                                           grid_ub=20 * sd)
        sm = create_sensitivity_results_sm(beta, sigma, 5, 2, m_vec=README_SD["M"])
        out["peer_moderndid"] = {
            "version": moderndid.__version__,
            "note": "moderndid.didhonest, a Python port of HonestDiD (peer, not the reference)",
            "rm": {"lb": [float(v) for v in rm["lb"]], "ub": [float(v) for v in rm["ub"]]},
            "sd": {"lb": [float(v) for v in sm["lb"]], "ub": [float(v) for v in sm["ub"]]},
        }
    except ImportError as e:
        print("peer cross-check skipped:", e)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
