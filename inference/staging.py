"""Goh-Wells staging of SSc-ILD (Goh et al., Am J Respir Crit Care Med 2008;177:1248-54): limited or
extensive disease from the extent on CT, with FVC (% predicted) deciding where the extent is indeterminate.

The paper's algorithm: extent < 10 % is limited, > 30 % extensive; from 10 to 30 % (indeterminate) FVC
< 70 % predicted makes it extensive and FVC >= 70 % limited. The paper found 20 % the best single extent
threshold; it is used here only where the extent is indeterminate and no FVC is recorded. The paper
scored extent visually; the platform's extent is its quantitative involvement (abnormal / lung area).
"""

from __future__ import annotations

from dataclasses import dataclass

LIMITED_BELOW_PCT = 10.0
EXTENSIVE_ABOVE_PCT = 30.0
EXTENT_THRESHOLD_PCT = 20.0
FVC_THRESHOLD_PCT = 70.0
EXTENT_NOTE = (
    "Extent here is the platform's quantitative involvement (abnormal area / lung area), not the visual "
    "extent score Goh et al. staged with."
)


@dataclass(frozen=True)
class Stage:
    stage: str  # "limited" or "extensive"
    rule: str  # which branch of the algorithm decided, in words


def goh_wells_stage(extent_pct: float, fvc_pct_predicted: float | None) -> Stage:
    if extent_pct < LIMITED_BELOW_PCT:
        return Stage("limited", f"extent {extent_pct:.1f} % < {LIMITED_BELOW_PCT:g} %")
    if extent_pct > EXTENSIVE_ABOVE_PCT:
        return Stage("extensive", f"extent {extent_pct:.1f} % > {EXTENSIVE_ABOVE_PCT:g} %")
    band = f"extent {extent_pct:.1f} % indeterminate ({LIMITED_BELOW_PCT:g}-{EXTENSIVE_ABOVE_PCT:g} %)"
    if fvc_pct_predicted is None:
        stage = "extensive" if extent_pct > EXTENT_THRESHOLD_PCT else "limited"
        return Stage(stage, f"{band}, no FVC recorded: {EXTENT_THRESHOLD_PCT:g} % extent threshold")
    if fvc_pct_predicted < FVC_THRESHOLD_PCT:
        return Stage("extensive", f"{band}, FVC {fvc_pct_predicted:g} % < {FVC_THRESHOLD_PCT:g} % predicted")
    return Stage("limited", f"{band}, FVC {fvc_pct_predicted:g} % >= {FVC_THRESHOLD_PCT:g} % predicted")
