"""Confidence of a hypothesis, derived from the facts it cites (docs/DATA_REFERENCE.md §11.3), never from a model.

A fact's grade:

* ``low``: a missing-data fact, or fewer than ``confidence.n_min`` observations, or an estimated difference
  (unit s/lap, s/°C) whose 95% interval includes zero;
* ``high``: an estimate with n ≥ ``n_high`` whose interval excludes zero (differences) and whose
  half-width is at most ``max_rel_half_width_high`` of |value|;
* ``medium``: everything else (an estimate that is not precise enough for high, or an exact figure with
  enough observations but no interval).

A hypothesis takes the grade of its strongest cited fact (it is as well supported as its best evidence);
``confidence_basis`` names that fact, its interval and n.
"""
from __future__ import annotations

from kaizenlap.coaching import conf
from kaizenlap.coaching.brief import fmt
from kaizenlap.coaching.model import Fact

ORDER = {"low": 0, "medium": 1, "high": 2}
DIFFERENCE_UNITS = {"s/lap", "s/°C"}


def cfg() -> dict:
    return conf.load("coaching")["confidence"]


def fact_grade(f: Fact) -> str:
    c = cfg()
    if f.missing or f.value is None or f.n < c["n_min"]:
        return "low"
    if f.lo is None or f.hi is None:
        return "medium"
    excludes_zero = f.lo > 0 or f.hi < 0
    if f.unit in DIFFERENCE_UNITS and not excludes_zero:
        return "low"
    half = (f.hi - f.lo) / 2
    precise = abs(f.value) > 0 and half <= c["max_rel_half_width_high"] * abs(f.value)
    return "high" if f.n >= c["n_high"] and precise else "medium"


def hypothesis_confidence(facts: list[Fact]) -> tuple[str, str]:
    """``(confidence, basis)`` of a hypothesis citing ``facts``."""
    if not facts:
        return "low", "cites no fact"
    best = max(facts, key=lambda f: (ORDER[fact_grade(f)], f.n))
    grade = fact_grade(best)
    ci = (f", 95% CI {fmt(best.lo, best.digits)} to {fmt(best.hi, best.digits)}"
          if best.lo is not None and best.hi is not None else ", no interval")
    return grade, f"strongest cited fact {best.fact_id}: n={best.n}{ci} -> {grade}"
