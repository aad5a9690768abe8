"""The deterministic synthesizer: rule-based race-engineer language from a brief (the default generator).

Every number it writes is a fact's number at its display rounding, so its answers pass the validator
(tests check the whole sample season).
"""
from __future__ import annotations

from kaizenlap.core import params
from kaizenlap.coaching.brief import Brief, car_label, fmt, section_label
from kaizenlap.coaching.model import Synthesis

LABEL = "deterministic (rule-based from the engines' facts, no language model)"


def _v(brief: Brief, fact_id: str) -> str | None:
    f = brief.fact(fact_id)
    return None if f is None or f.value is None else fmt(f.value, f.digits)


def synthesize(brief: Brief) -> Synthesis:
    c = params.load("coaching")["synthesis"]
    stint = int(c["stint_laps"])
    car = car_label(brief.car)          # 'Car 13' (names are written the way the validator reads them)
    limit = brief.fact("limit.clean_laps")
    if limit is not None:
        return Synthesis(headline=f"{car}: {limit.text}; no coaching beyond that can be grounded in this race.")
    losses = sorted((f for f in brief.facts if f.kind == "section_loss"), key=lambda f: f.rank)
    ranked = sorted(losses, key=lambda f: -(f.lo if f.lo is not None else -1e9))
    hypotheses: list[dict] = []
    actions: list[dict] = []
    top = ranked[0] if ranked else None
    gain = brief.fact("composite.potential_gain")
    if top is not None:
        sec = top.section
        S = section_label(sec)
        sig = top.lo is not None and top.lo > 0
        # A headline names a section only when its interval excludes zero; otherwise the largest is quoted
        # as such, so a reader does not act on noise.
        headline = (f"{car}: {S} is where the most section-specific time goes, {_v(brief, top.fact_id)} s/lap "
                    f"more than the car's overall pace deficit explains, over {top.n} clean laps" if sig else
                    f"{car}: no section stands out beyond the car's overall pace deficit (the highest-ranked, {S}, "
                    f"is {_v(brief, top.fact_id)} s/lap over {top.n} clean laps, "
                    + ("its interval includes zero)" if top.lo is not None else "without an interval)"))
        if gain is not None:
            headline += f"; best clean lap {_v(brief, gain.fact_id)} s off the personal composite"
        pg, cc = brief.fact(f"sections.{sec}.pace_gap"), brief.fact(f"sections.{sec}.consistency_cost")
        # pace or consistency only where their intervals separate: a direction between two overlapping
        # estimates is not stated (issue 20)
        apart = (pg is not None and cc is not None and None not in (pg.lo, pg.hi, cc.lo, cc.hi)
                 and (pg.lo > cc.hi or cc.lo > pg.hi))
        if apart:
            source = "pace (the car's best times there)" if pg.value >= cc.value else \
                "inconsistency (lap-to-lap spread there)"
            # a loss that may be zero is hedged as one
            lead = f"The {S} loss likely comes more from" if sig else \
                f"If {S} loses time at all (its interval includes zero), it is more from"
            hypotheses.append({"text": f"{lead} {source}: pace gap "
                                       f"{_v(brief, pg.fact_id)} s/lap against a consistency cost of "
                                       f"{_v(brief, cc.fact_id)} s/lap.",
                               "supported_by": [top.fact_id, pg.fact_id, cc.fact_id]})
        elif sig:
            hypotheses.append({"text": f"{S} may be the car's weakest section: {_v(brief, top.fact_id)} s/lap of "
                                       "section-specific loss.", "supported_by": [top.fact_id]})
        for f in ranked[: c["max_actions"]]:
            if not (f.lo is not None and f.lo > 0):     # no action on a loss that may be zero (noise)
                continue
            bk = brief.fact(f"sections.{f.section}.best_k")
            if bk is None or bk.value is None:
                continue
            actions.append({"section": f.section,
                            "action": f"In {section_label(f.section)}, repeat the car's own best: bring the median "
                                      f"{section_label(f.section)} time down to {_v(brief, bk.fact_id)} s (the median of its "
                                      f"fastest times there) over the next {stint} laps.",
                            "measure": {"metric": "median_section_time_s", "target": round(bk.value, bk.digits),
                                        "over_laps": stint},
                            "evidence": [bk.fact_id, f.fact_id]})
    else:
        headline = f"{car}: no section statistics for this race"
        if gain is not None:
            headline += f"; best clean lap {_v(brief, gain.fact_id)} s off the personal composite"
    drv, rsd = brief.fact("pattern.inconsistency_driver"), brief.fact("pattern.residual_sd")
    if drv is not None and rsd is not None and drv.section in brief.sections:
        share = f" ({_v(brief, drv.fact_id)} of lap-time variance)" if drv.value is not None else ""
        hypotheses.append({"text": f"Lap-to-lap variation may come mostly from {section_label(drv.section)}{share}; "
                                   f"the lap-to-lap SD around the car's own trend is {_v(brief, rsd.fact_id)} s "
                                   f"over {rsd.n} clean laps.",
                           "supported_by": [drv.fact_id, rsd.fact_id]})
    trend = brief.fact("pattern.trend")       # present only where the trend survives the race's FDR control
    if trend is not None and trend.value is not None:
        what = "faded relative to the field (tyres or fuel load may be a factor)" if trend.value > 0 else \
            "found time relative to the field as the race went on"
        hypotheses.append({"text": f"A pace trend of {_v(brief, trend.fact_id)} s/lap over {trend.n} clean laps "
                                   f"suggests the car {what}.",
                           "supported_by": [trend.fact_id]})
    elif gain is not None and gain.value is not None and len(hypotheses) < c["max_hypotheses"]:
        hypotheses.append({"text": f"The best clean lap is {_v(brief, gain.fact_id)} s slower than the personal "
                                   "composite, which suggests the car's fastest sections were not put together "
                                   "in one lap.", "supported_by": [gain.fact_id]})
    return Synthesis.model_validate({"headline": headline, "hypotheses": hypotheses[: c["max_hypotheses"]],
                                     "actions": actions[: c["max_actions"]]})
