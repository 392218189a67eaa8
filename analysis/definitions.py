"""Clinical definitions shared by every stage (the synthetic truth and the analysis panel alike)."""

from __future__ import annotations

import numpy as np


def metabolic_syndrome(female, waist, tg, hdl, sbp, dbp, fbs, htn_rx, dm_rx, dl_rx) -> np.ndarray:
    """Korean metabolic syndrome: >= 3 of the five criteria (calibration.md section 2) [S].

    Waist >= 90 cm (men) / >= 85 cm (women); TG >= 150 mg/dL or lipid drug; HDL < 40 (men) / < 50 (women)
    or lipid drug; SBP >= 130 or DBP >= 85 or antihypertensive; fasting glucose >= 100 or diabetes drug.
    Returns 1.0 / 0.0, and NaN wherever a measure needed is missing (e.g. no lipid panel that year).
    """
    female = np.asarray(female, dtype=bool)
    waist, tg, hdl, sbp, dbp, fbs = (np.asarray(x, dtype=float) for x in (waist, tg, hdl, sbp, dbp, fbs))
    htn_rx, dm_rx, dl_rx = (np.asarray(x, dtype=bool) for x in (htn_rx, dm_rx, dl_rx))
    crit = (
        np.where(female, waist >= 85, waist >= 90).astype(float)
        + ((tg >= 150) | dl_rx)
        + (np.where(female, hdl < 50, hdl < 40) | dl_rx)
        + ((sbp >= 130) | (dbp >= 85) | htn_rx)
        + ((fbs >= 100) | dm_rx)
    )
    out = (crit >= 3).astype(float)
    missing = np.isnan(waist) | np.isnan(tg) | np.isnan(hdl) | np.isnan(sbp) | np.isnan(dbp) | np.isnan(fbs)
    return np.where(missing, np.nan, out)
