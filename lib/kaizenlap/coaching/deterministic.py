"""The deterministic synthesizer: rule-based race-engineer language from a brief (the default generator).

Every number it writes is a fact's number at its display rounding, so its answers pass the validator
(tests check the whole sample season).
"""
from __future__ import annotations

from kaizenlap.coaching import conf
from kaizenlap.coaching.brief import Brief, car_label, fmt
from kaizenlap.coaching.model import Synthesis
from kaizenlap.coaching.objective import pick_objective
from kaizenlap.core.laptime import format_lap

LABEL = "deterministic (rule-based from the engines' facts, no language model)"


def _v(brief: Brief, fact_id: str) -> str | None:
    f = brief.fact(fact_id)
    return None if f is None or f.value is None else fmt(f.value, f.digits)


NEXT = {"im1a": "im1", "im1": "im2a", "im2a": "im2", "im2": "im3a", "im3a": "fl", "fl": "im1a",
        "s1": "s2", "s2": "s3", "s3": "s1"}
PREV = {v: k for k, v in NEXT.items()}


def _cause(brief: Brief, sec: str) -> list[dict]:
    """Entry or exit, where the neighbouring sections' losses say so (issue 20, item 4): a sure loss in the part
    before points at the way in; a sure loss in the part after at the exit (a slow exit shows in the next split);
    a sure strength after it puts the loss inside the section itself."""
    own = brief.fact(f"sections.{sec}.section_loss")
    before = brief.fact(f"sections.{PREV.get(sec)}.section_loss")
    after = brief.fact(f"sections.{NEXT.get(sec)}.section_loss")
    P = brief.place(sec)
    if after is not None and _sure(after) and after.value > 0:
        return [{"text": f"The loss in {P} may come from its exit: the part after it, {brief.place(after.section)}, is "
                         f"{_v(brief, after.fact_id)} s/lap slower than the car's overall pace predicts too (interval "
                         "above zero), as a slow exit shows in the next split.",
                 "supported_by": [own.fact_id, after.fact_id]}]
    if before is not None and _sure(before) and before.value > 0:
        return [{"text": f"The loss in {P} may start on the way in: the part before it, "
                         f"{brief.place(before.section)}, is {_v(brief, before.fact_id)} s/lap slower than the car's "
                         "overall pace predicts too (interval above zero).",
                 "supported_by": [own.fact_id, before.fact_id]}]
    if after is not None and _sure(after) and after.value < 0:
        return [{"text": f"The loss in {P} is likely inside it, not a slow exit: the part after it, "
                         f"{brief.place(after.section)}, is {fmt(abs(after.value), after.digits)} s/lap quicker "
                         "than the car's overall pace predicts.", "supported_by": [own.fact_id, after.fact_id]}]
    return []


def _within(brief: Brief) -> tuple[str, list[str]]:
    """How the traffic rule reads: "within a second of a slower car" (coaching/traffic.py; params traffic)."""
    t = conf.load("coaching")["traffic"]
    gap = brief.fact("traffic.gap")
    who = "a slower car" if t["rule"] == "slower_ahead" else "another car"
    if gap is None or abs(gap.value - 1.0) < 1e-9:
        return f"within a second of {who}", []
    return f"within {_v(brief, gap.fact_id)} s of {who}", [gap.fact_id]


def _traffic_said(brief: Brief, sec: str) -> tuple[str, list[str]]:
    """What traffic did to ``sec``'s loss, for a sentence that already names the section: the laps in traffic and
    the loss on the others."""
    n, clear = brief.fact(f"traffic.{sec}.laps"), brief.fact(f"traffic.{sec}.clear_loss")
    within, ids = _within(brief)
    head = f"{_v(brief, n.fact_id)} of its {n.n} clean laps there began {within}"
    if clear.value is None:
        return (head + f"; the {clear.n} laps out of traffic are too few to tell the loss from traffic",
                [n.fact_id, clear.fact_id, *ids])
    way = "slower" if clear.value >= 0 else "quicker"
    zero = "which may be zero" if clear.lo <= 0 <= clear.hi else "clear of zero"
    return (head + f"; on the {clear.n} laps out of traffic it is {fmt(abs(clear.value), clear.digits)} s/lap {way} "
                   f"than the car's overall pace predicts (95% CI {fmt(clear.lo, 3)} to {fmt(clear.hi, 3)}), {zero}",
            [n.fact_id, clear.fact_id, *ids])


def _sure(f) -> bool:
    return f is not None and f.lo is not None and f.hi is not None and (f.lo > 0 or f.hi < 0)


def _pace_to(brief: Brief, fact) -> str:
    """" Over a whole lap Car 17 is 0.200 s quicker by median clean lap (n=15)." from a ``rival.car`` or
    ``rival_ahead.car`` fact (value: this car's median clean lap minus the other's)."""
    if fact.value is None:
        return ""
    return (f" Over a whole lap {car_label(fact.car)} is {fmt(abs(fact.value), fact.digits)} s "
            f"{'quicker' if fact.value >= 0 else 'slower'} by median clean lap (n={fact.n}).")


def _rivals(brief: Brief, car: str, sec: str | None, said_before: list[dict]) -> list[dict]:
    """Where the nearest faster car, and the car ahead at the flag, gain on ``car`` with the interval clear of
    zero: the largest such section other than the objective ``sec`` (said apart), and the car ahead's gain in
    ``sec`` or its largest. With no objective (``sec`` None) each car's lap pace against this one is said too,
    so a car with nothing sure of its own still reads where its rivals are quicker."""
    out: list[dict] = []
    rival = brief.fact("rival.car")
    if rival is not None:
        clear = [f for f in brief.facts if f.fact_id.startswith("rival.") and f.section and f.section != sec
                 and _sure(f) and f.value > 0]
        if clear:
            big = max(clear, key=lambda f: f.value)
            said = any(rival.fact_id in h["supported_by"] for h in said_before)
            pace = _pace_to(brief, rival) if sec is None else ""
            who = f"Elsewhere {car_label(rival.car)}" if said else \
                f"{car_label(rival.car)} (the nearest faster car)"
            out.append({"text": f"{who} likely gains the most on {car} in {brief.place(big.section)}: "
                                f"{_v(brief, big.fact_id)} s/lap (95% CI {fmt(big.lo, 3)} to "
                                f"{fmt(big.hi, 3)}, n={big.n}).{pace}",
                        "supported_by": [big.fact_id, rival.fact_id]})
    ahead = brief.fact("rival_ahead.car")        # the car ahead at the flag, where it is another car
    if ahead is not None:
        clear = [f for f in brief.facts if f.fact_id.startswith("rival_ahead.") and f.section and _sure(f)
                 and f.value > 0]
        here = next((f for f in clear if f.section == sec), None)
        big = here or (max(clear, key=lambda f: f.value) if clear else None)
        if big is not None:
            pace = _pace_to(brief, ahead) if sec is None else ""
            out.append({"text": f"{car_label(ahead.car)}, the car ahead at the flag, likely gains "
                                f"{_v(brief, big.fact_id)} s/lap on {car} in {brief.place(big.section)}"
                                f" (95% CI {fmt(big.lo, 3)} to {fmt(big.hi, 3)}, n={big.n}).{pace}",
                        "supported_by": [big.fact_id, ahead.fact_id]})
    return out


def synthesize(brief: Brief) -> Synthesis:
    """One objective (``brief.objective``, chosen by :func:`~.objective.pick_objective`), said first; its
    evidence as hypotheses; one action that matches the diagnosis with a target the car reaches on its better
    laps, relative to the field on the same lap. No objective: said plainly, no action."""
    c = conf.load("coaching")["synthesis"]
    oc = conf.load("coaching")["objective"]
    stint = int(c["stint_laps"])
    car = car_label(brief.car)          # 'Car 13' (names are written the way the validator reads them)
    limit = brief.fact("limit.clean_laps")
    if limit is not None:
        return Synthesis(headline=f"{car}: {limit.text}; no coaching beyond that can be grounded in this race.")
    o = brief.objective or pick_objective(brief.facts)     # a brief made by hand may carry none
    losses = sorted((f for f in brief.facts if f.kind == "section_loss"),
                    key=lambda f: -(f.lo if f.lo is not None else -1e9))
    hypotheses: list[dict] = []
    actions: list[dict] = []
    gain = brief.fact("composite.potential_gain")
    rival = brief.fact("rival.car")
    if o is not None and o.kind == "section":
        sec = o.section
        P = brief.place(sec)
        top = brief.fact(f"sections.{sec}.section_loss")
        headline = (f"{car}: objective {P}: {_v(brief, top.fact_id)} s/lap slower there than the car's overall pace "
                    f"predicts (95% CI {fmt(top.lo, 3)} to {fmt(top.hi, 3)}, n={top.n} clean laps)")
        pp, se = brief.fact(f"sections.{sec}.pace_part"), brief.fact(f"sections.{sec}.scatter_excess")
        if o.diagnosis in ("pace", "consistency") and pp is not None and se is not None:
            pace_ci = f"95% CI {fmt(pp.lo, 3)} to {fmt(pp.hi, 3)}, n={pp.n}"
            scatter_ci = f"95% CI {fmt(se.lo, 3)} to {fmt(se.hi, 3)}"
            if o.diagnosis == "pace":
                text = (f"The loss in {P} is likely pace, not scatter: its best times there are "
                        f"{_v(brief, pp.fact_id)} s/lap slower than its overall pace predicts ({pace_ci}), while its "
                        "lap-to-lap scatter there is no wider than its scatter elsewhere and the field's there "
                        f"predict, within noise ({_v(brief, se.fact_id)} s, {scatter_ci}).")
            else:
                text = (f"The loss in {P} is likely scatter, not pace: its lap-to-lap scatter there is "
                        f"{_v(brief, se.fact_id)} s wider than its scatter elsewhere and the field's there predict "
                        f"({scatter_ci}), while its best times there are no slower than its overall pace predicts, "
                        f"within noise ({_v(brief, pp.fact_id)} s/lap, {pace_ci}): the car has the speed there and "
                        "loses it on the laps that miss it.")
            hypotheses.append({"text": text, "supported_by": [top.fact_id, pp.fact_id, se.fact_id]})
        busy = brief.fact(f"traffic.{sec}.laps")
        if busy is not None and busy.value >= busy.n / 4:      # said where a quarter of the laps or more were
            said, ids = _traffic_said(brief, sec)
            hypotheses.append({"text": f"The loss in {P} is likely the driver's, not traffic: {said}.",
                               "supported_by": [top.fact_id, *ids]})
        for other in o.traffic:
            if brief.fact(f"traffic.{other}.laps") is not None:
                said, ids = _traffic_said(brief, other)
                hypotheses.append({"text": f"The time lost in {brief.place(other)} likely came in traffic, not from "
                                           f"the driver: {said}.",
                                   "supported_by": [f"sections.{other}.section_loss", *ids]})
                break
        rg = brief.fact(f"rival.{sec}.gain")
        if rival is not None and rg is not None and _sure(rg) and rg.value > 0:
            hypotheses.append({"text": f"{car_label(rival.car)}, the nearest faster car, likely shows what is "
                                       f"possible in {P}: it gains {_v(brief, rg.fact_id)} s/lap on {car} there "
                                       f"(95% CI {fmt(rg.lo, 3)} to {fmt(rg.hi, 3)}, n={rg.n}).",
                               "supported_by": [rg.fact_id, rival.fact_id]})
        hypotheses += _cause(brief, sec)
        hypotheses += _rivals(brief, car, sec, hypotheses)
        p25, med = brief.fact(f"target.{sec}.p25"), brief.fact(f"target.{sec}.median")
        sp, fsp = brief.fact(f"target.{sec}.spread"), brief.fact(f"target.{sec}.field_spread")
        if o.diagnosis == "consistency" and sp is not None and fsp is not None and sp.value > fsp.value:
            n = int(oc["spread_laps"])
            best, typ = brief.fact(f"target.{sec}.best"), brief.fact(f"target.{sec}.typical")
            ref, ev = "", [sp.fact_id, fsp.fact_id, top.fact_id]
            if best is not None and typ is not None:
                ref = (f" Your best there is {format_lap(best.value)} s, your median {format_lap(typ.value)} s: the "
                       "speed is there, the laps that miss it cost the time.")
                ev += [best.fact_id, typ.fact_id]
            text = (f"In {P}: {conf.load('coaching')['advice']['consistency']}"
                    f"{ref} Bring the middle half of your times there from {_v(brief, sp.fact_id)} s to the field's "
                    f"median, {_v(brief, fsp.fact_id)} s, over {n} clean laps in a row.")
            if len(text) > 400:          # the document's limit (model.Action): the reference goes first
                text, ev = text.replace(ref, ""), ev[:3]
            actions.append({"section": sec,
                            "action": text,
                            "measure": {"metric": "section_time_iqr_s", "target": round(fsp.value, fsp.digits),
                                        "over_laps": n},
                            "evidence": ev})
        elif p25 is not None and med is not None:
            way = "quicker" if p25.value < 0 else "slower"
            ref = ""
            ev = [p25.fact_id, med.fact_id, top.fact_id]
            if rival is not None and rg is not None and _sure(rg) and rg.value > 0:
                ref = (f" {car_label(rival.car)} gains {_v(brief, rg.fact_id)} s/lap on you there: study its line "
                       "and speed through those corners.")
                ev.append(rg.fact_id)
            reached = f"a quarter of your {p25.n} clean laps there did it"
            if med.value < 0:
                # a car already quicker than the field there (a front-runner): say so, the gain is its own best quarter
                text = (f"In {P}: already {fmt(abs(med.value), med.digits)} s quicker than the field's median on the "
                        f"same lap; the time left is in your best quarter of laps: {fmt(abs(p25.value), p25.digits)} s "
                        f"{way}, as the median of {stint} clean laps in a row ({reached}).")
            else:
                text = (f"In {P}: aim for {fmt(abs(p25.value), p25.digits)} s {way} than the field's median on the same "
                        f"lap, as the median of {stint} clean laps in a row ({reached}; your race median was "
                        f"{fmt(abs(med.value), med.digits)} s slower).")
            actions.append({"section": sec,
                            "action": text + ref,
                            "measure": {"metric": "median_section_delta_to_field_s",
                                        "target": round(p25.value, p25.digits), "over_laps": stint},
                            "evidence": ev})
    elif o is not None and o.traffic and brief.fact(f"traffic.{o.traffic[0]}.laps") is not None:
        places = [brief.place(x) for x in o.traffic if brief.fact(f"traffic.{x}.laps") is not None]
        headline = (f"{car}: no objective for the driver this race: the time lost in {' and '.join(places[:2])} came "
                    f"on laps spent {_within(brief)[0]}")
        for x in o.traffic[:2]:
            if brief.fact(f"traffic.{x}.laps") is not None:
                said, ids = _traffic_said(brief, x)
                hypotheses.append({"text": f"The time lost in {brief.place(x)} likely came in traffic, not from the "
                                           f"driver: {said}.",
                                   "supported_by": [f"sections.{x}.section_loss", *ids]})
    else:
        top = losses[0] if losses else None
        if top is not None:
            headline = (f"{car}: no objective this race: no section loses time beyond the car's overall pace with "
                        f"its interval clear of zero (the closest, {brief.place(top.section)}, "
                        f"{_v(brief, top.fact_id)} s/lap, 95% CI {fmt(top.lo, 3)} to {fmt(top.hi, 3)}, n={top.n})"
                        if top.lo is not None else
                        f"{car}: no objective this race: no section loss has an interval")
        else:
            headline = f"{car}: no objective this race: no section statistics"
        hypotheses += _rivals(brief, car, None, hypotheses)
    if gain is not None and gain.value is not None:
        headline += f"; best clean lap {_v(brief, gain.fact_id)} s off the personal composite"
    strong = [f for f in losses if f.hi is not None and f.hi < 0]
    if strong:
        best = min(strong, key=lambda f: f.hi)
        hypotheses.append({"text": f"{brief.place(best.section)} is likely the car's relative strength: "
                                   f"{fmt(abs(best.value), best.digits)} s/lap quicker there than its overall pace "
                                   f"predicts (95% CI {fmt(best.lo, 3)} to {fmt(best.hi, 3)}).",
                           "supported_by": [best.fact_id]})
    drv, rsd = brief.fact("pattern.inconsistency_driver"), brief.fact("pattern.residual_sd")
    if drv is not None and rsd is not None and drv.section in brief.sections and drv.value is not None:
        # "mostly from X" where X holds half the variance or more, else "more from X than from any other section"
        most = f"mostly from {brief.place(drv.section)}" if drv.value >= 0.5 else \
            f"more from {brief.place(drv.section)} than from any other section"
        ranked = brief.fact("pattern.consistency_rank")       # value: the other cars it beats, n: the others
        rank = ""
        share = ranked.value / ranked.n if ranked is not None and ranked.value is not None and ranked.n else None
        if share is not None and (share <= 0.25 or share >= 0.75):
            rank = (", among the steadiest quarter of the field" if share >= 0.75 else
                    ", among the least steady quarter of the field")
        hypotheses.append({"text": f"Lap-to-lap variation may come {most} ({_v(brief, drv.fact_id)} of lap-time "
                                   f"variance); the lap-to-lap SD "
                                   f"around the car's own trend is {_v(brief, rsd.fact_id)} s"
                                   + (f" (95% CI {fmt(rsd.lo, 3)} to {fmt(rsd.hi, 3)})" if rsd.lo is not None else "")
                                   + f" over {rsd.n} clean laps{rank}.",
                           "supported_by": [drv.fact_id, rsd.fact_id]})
    trend = brief.fact("pattern.trend")       # present only where the trend survives the race's FDR control
    if trend is not None and trend.value is not None:
        # relative to the field every car burns fuel: a fade is not put down to fuel load (issue 20)
        what = "faded relative to the field as the race went on" if trend.value > 0 \
            else "found time relative to the field as the race went on"
        hypotheses.append({"text": f"A pace trend of {_v(brief, trend.fact_id)} s/lap over {trend.n} clean laps "
                                   f"suggests the car {what}.",
                           "supported_by": [trend.fact_id]})
    elif gain is not None and gain.value is not None and len(hypotheses) < c["max_hypotheses"]:
        hypotheses.append({"text": f"The best clean lap is {_v(brief, gain.fact_id)} s slower than the personal "
                                   "composite, which suggests the car's fastest sections were not put together "
                                   "in one lap.", "supported_by": [gain.fact_id]})
    return Synthesis.model_validate({"headline": headline, "hypotheses": hypotheses[: c["max_hypotheses"]],
                                     "actions": actions[: c["max_actions"]]})
