"""The brief: what the engines know about one car in one race, as a ranked list of facts.

A pure function of the race's four engine documents (composite, sections, weather, pattern), its track
tasks' documents (the track weather model, the track composite) and the race's quality ledger. Every
read of an engine document goes through :mod:`.read`. Missing data is a fact of its own, never a zero.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from kaizenlap.core import params
from kaizenlap.coaching import conf
from kaizenlap.core.laptime import format_lap
from kaizenlap.coaching import objective as obj
from kaizenlap.coaching import read
from kaizenlap.coaching import telemetry_facts
from kaizenlap.coaching import traffic
from kaizenlap.coaching.model import Fact

SECTION_RE_NAMES = ("s1", "s2", "s3", "im1a", "im1", "im2a", "im2", "im3a", "fl")


def cfg() -> dict:
    return conf.load("coaching")


def digits_for(unit: str) -> int:
    return int(cfg()["display_digits"].get(unit, 3))


LABEL_CHARS = 24      # a car's or section's name is written whole in coaching text up to this length


def _label(name: str) -> str:
    name = str(name)
    return name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "\u2026"


def car_label(car: str) -> str:
    """How coaching text names a car: ``Car 13``, ``Car 13/B``; a car number longer than
    :data:`LABEL_CHARS` is shortened with an ellipsis (the validator knows both forms)."""
    return f"Car {_label(car)}"


def section_label(section: str) -> str:
    """How coaching text names a section: upper case (``IM2``, ``S1``); a name without a letter is written
    ``section 7`` (a bare number would read as a figure); long names are shortened with an ellipsis."""
    s = _label(str(section).upper())
    return s if any(ch.isalpha() for ch in s) else f"section {s}"


def fmt(value: float | None, digits: int) -> str:
    """A fact's number as displayed (and as the validator expects it)."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}"


@dataclass
class Brief:
    race_id: str
    track_id: str | None
    car: str
    car_class: str | None
    n_clean: int
    n_laps: int
    facts: list[Fact]
    cars: list[str] = field(default_factory=list)          # every car of the race
    sections: list[str] = field(default_factory=list)      # sections the car has statistics for
    laps: list[int] = field(default_factory=list)          # the car's lap numbers
    places: dict[str, str] = field(default_factory=dict)   # section -> its name in corners ("IM2A (first part ...)")
    corners: list[str] = field(default_factory=list)       # the track's corner names (params/tracks)
    turns: list[str] = field(default_factory=list)         # the track's official turn numbers (params/tracks)
    objective: obj.Objective | None = None                 # the one objective (objective.pick_objective)
    rival: str | None = None                               # the nearest faster car of the class
    rival_ahead: str | None = None                         # the car ahead at the flag, where it is another car

    def place(self, section: str | None) -> str:
        """How coaching text names ``section``: in corners where the track lists them, else its code."""
        if section is None:
            return ""
        return self.places.get(str(section)) or section_label(section)

    def fact(self, fact_id: str) -> Fact | None:
        return next((f for f in self.facts if f.fact_id == fact_id), None)

    def ids(self) -> list[str]:
        return [f.fact_id for f in self.facts]

    def to_dict(self) -> dict:
        return {"race_id": self.race_id, "track_id": self.track_id, "car": self.car, "class": self.car_class,
                "n_clean": self.n_clean, "n_laps": self.n_laps, "cars": self.cars, "sections": self.sections,
                "laps": [min(self.laps), max(self.laps)] if self.laps else [],
                "facts": [f.model_dump() for f in self.facts], "places": self.places, "corners": self.corners,
                **({"turns": self.turns} if self.turns else {}),
                "objective": self.objective.to_dict() if self.objective else None, "rival": self.rival,
                **({"rival_ahead": self.rival_ahead} if self.rival_ahead else {})}

    def hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class _Facts:
    def __init__(self) -> None:
        self.items: list[tuple[tuple, Fact]] = []
        self.c = cfg()           # read once per brief (params.load stats its file on every call)

    def add(self, fact_id: str, kind: str, source: str, text: str, value: float | None = None, unit: str = "",
            n: int = 0, lo: float | None = None, hi: float | None = None, section: str | None = None,
            lap: int | None = None, missing: bool = False, order: float = 0.0, car: str | None = None,
            priority: str | None = None) -> None:
        digits = int(self.c["display_digits"].get(unit, 3))
        rnd = (lambda v: None if v is None else float(v))
        fact = Fact(fact_id=fact_id, text=text, value=rnd(value), unit=unit, n=int(n or 0), lo=rnd(lo), hi=rnd(hi),
                    digits=digits, source=source, kind=kind, missing=missing, section=section, lap=lap, car=car)
        pri = self.c["brief"]["priority"][priority or kind]
        self.items.append(((pri, order, len(self.items)), fact))

    def ranked(self, max_facts: int) -> list[Fact]:
        items = sorted(self.items, key=lambda t: t[0])
        keep = [f for _, f in items if f.missing] + [f for _, f in items if not f.missing]
        keep = keep[:max(max_facts, sum(f.missing for f in keep))]
        kept = {id(f) for f in keep}            # by identity: comparing Fact models field by field is slow
        ordered = [f for _, f in items if id(f) in kept]
        for i, f in enumerate(ordered, start=1):
            f.rank = i
        return ordered


def _ci(e: dict, unit: str, lap: bool = False) -> str:
    d = digits_for(unit)
    if e.get("lo") is None or e.get("hi") is None:
        return f"n={e['n']}"
    show = format_lap if lap else (lambda v: fmt(v, d))
    return f"95% CI {show(e['lo'])} to {show(e['hi'])}, n={e['n']}"


def _significance(sl: dict, significant: bool) -> str:
    """A section loss whose interval lies below zero is a relative strength, not "not significant"."""
    if sl.get("hi") is not None and sl["hi"] < 0:
        return ", a relative strength (interval below zero)"
    return ", clear of zero" if significant else ", may be zero (interval includes zero)"


def _loss_text(place: str, sl: dict, significant: bool) -> str:
    v = sl["value"]
    way = "slower" if v >= 0 else "quicker"
    return (f"{place}: {fmt(abs(v), 3)} s/lap {way} there than the car's overall pace to the field predicts "
            f"({_ci(sl, 's/lap')})" + _significance(sl, significant))


def build_brief(car: str, *, composite: dict | None, sections: dict | None, weather: dict | None,
                pattern: dict | None, weather_track: dict | None = None, composite_track: dict | None = None,
                quality: dict | None = None, telemetry: dict | None = None) -> Brief:
    """The brief of ``car`` from the race's engine documents, its track documents and quality ledger."""
    c = cfg()
    min_laps = int(params.load("engines")["min_clean_laps"])
    race_id, track_id = read.race_ids(composite or sections or pattern or weather or quality)
    facts = _Facts()
    comp = read.composite_car(composite, car)
    entry = read.car_entry(composite, car) or read.car_entry(sections, car) or read.car_entry(pattern, car) or {}
    n_clean = int(comp.get("n_clean") if comp.get("n_clean") is not None else entry.get("n_clean") or 0)
    n_laps = int(comp.get("n_laps") or entry.get("n_laps") or 0)
    car_class = entry.get("class")

    # --- data: how much there is to go on
    facts.add("data.clean_laps", "data", "composite", f"{n_clean} clean laps of {n_laps} laps analysed",
              n_clean, "laps", n=n_laps)
    if n_clean < min_laps:
        facts.add("limit.clean_laps", "limit", "composite",
                  f"only {n_clean} clean laps: section, consistency and trend statistics need {min_laps}",
                  n_clean, "laps", n=n_laps, missing=True)
        facts.add("data.min_clean_laps", "limit", "engines", f"statistics need at least {min_laps} clean laps",
                  min_laps, "laps", n=min_laps, order=1)

    # --- sections: where time goes
    set_name, block = read.preferred_sections(sections, car)
    items = read.section_items(block) if block.get("available") else []
    places = obj.section_places(track_id, [str(x) for x in read.car_sections(sections, car)])
    place = (lambda sec: places.get(str(sec)) or section_label(sec))
    if block.get("available") is False and n_clean >= min_laps:
        facts.add("limit.sections", "limit", "sections",
                  f"no section statistics: {block.get('reason') or 'not available'}", n=block.get("n") or 0,
                  missing=True)
    top_k = int(c["brief"]["top_sections"])
    for it in items:
        sec, rank = it["section"], it["rank"] or 99
        sl = it["section_loss"]
        if sl is not None:
            facts.add(f"sections.{sec}.section_loss", "section_loss", "sections",
                      _loss_text(place(sec), sl, it["significant"]),
                      sl["value"], "s/lap", sl["n"], sl["lo"], sl["hi"], section=sec, order=rank)
        if rank > top_k:
            continue
        k = params.load("engines")["best_k"]
        for key, what in (("pace_gap", f"pace gap to the fastest car there (the car's {k} best times against "
                                       "the field's best)"),
                          ("consistency_cost", f"time lost to inconsistency (its typical time against its {k} "
                                               "best)")):
            e = it[key]
            if e is not None:
                facts.add(f"sections.{sec}.{key}", "section_detail", "sections",
                          f"{place(sec)} {what}: {fmt(e['value'], 3)} s/lap ({_ci(e, 's/lap')})",
                          e["value"], "s/lap", e["n"], e["lo"], e["hi"], section=sec, order=rank)
        for key, what in (("best_k", f"median of the car's {params.load('engines')['best_k']} fastest times"), ("median", "median time")):
            e = it[key]
            if e is not None:
                facts.add(f"sections.{sec}.{key}", "section_detail", "sections",
                          f"{place(sec)} {what}: {fmt(e['value'], 3)} s ({_ci(e, 's')})",
                          e["value"], "s", e["n"], e["lo"], e["hi"], section=sec, order=rank + 0.5)

    # --- composite: what the car has shown it can do
    best = comp.get("best_clean_lap_s")
    if best is not None:
        facts.add("composite.best_clean_lap", "potential", "composite", f"best clean lap {format_lap(best)}",
                  best, "s", n=n_clean, order=1)
    pc = comp.get("personal_composite")
    if pc is not None:
        facts.add("composite.personal_composite", "potential", "composite",
                  f"personal composite (own fastest {comp.get('section_set')} joined) {format_lap(pc['value'])} "
                  f"({_ci(pc, 's', lap=True)})", pc["value"], "s", pc["n"], pc["lo"], pc["hi"], order=2)
        if best is not None:
            gain = comp.get("potential_gain_s")
            gain = float(best) - float(pc["value"]) if gain is None else float(gain)
            p95 = comp.get("noise_gap_p95_s")
            # "fastest sections not put together" only where the gap beats what the car's own lap-to-lap
            # noise alone gives (composite engine, DATA_REFERENCE 10.2); otherwise it is said to be noise.
            if comp.get("potential_gain_beats_noise"):
                facts.add("composite.potential_gain", "potential", "composite",
                          f"best clean lap is {fmt(gain, 3)} s slower than the personal composite, more than the "
                          f"car's own lap-to-lap variation alone gives (95% of the time up to {fmt(p95, 3)} s)",
                          gain, "s", n=pc["n"], order=0)
            elif p95 is not None:
                # the gap itself is not quoted: within noise it is no finding (issue 19 item 3)
                facts.add("limit.potential_gain", "potential", "composite",
                          "no put-together gain to claim: the best clean lap is no further off the personal "
                          "composite than the car's own lap-to-lap variation alone puts it",
                          missing=True, order=0)
    field = read.field_composite(composite, "all", comp.get("section_set") or "sectors")
    if field and field.get("available"):
        facts.add("composite.field", "potential", "composite",
                  f"field composite lap ({field.get('section_set')}) {format_lap(field['total_s'])}",
                  field["total_s"], "s", n=field.get("n_laps") or 0, order=3)
    ctrack = read.car_entry(composite_track, car)
    if composite_track and ctrack and ctrack.get("best_clean_lap_s") is not None:
        facts.add("composite_track.best_clean_lap", "potential", "composite_track",
                  f"best clean lap over the track's races {format_lap(ctrack['best_clean_lap_s'])}",
                  ctrack["best_clean_lap_s"], "s", n=ctrack.get("n_clean") or 0, order=4)

    # --- pattern: consistency and trend
    pat = read.pattern_car(pattern, car)
    if pat["available"]:
        n = pat.get("n") or 0
        if pat.get("residual_sd_s") is not None:
            k, others = pat.get("more_consistent_than"), pat.get("others")
            ci = pat.get("consistency")                 # the SD's 95% chi-square interval (pattern engine)
            if ci is not None and ci.get("lo") is not None:
                facts.add("pattern.residual_sd", "consistency", "pattern",
                          f"lap-to-lap SD around the car's own lap trend {fmt(pat['residual_sd_s'], 3)} s "
                          f"({_ci(ci, 's')} clean laps)", pat["residual_sd_s"], "s", ci["n"], ci["lo"], ci["hi"], order=1)
            else:
                facts.add("pattern.residual_sd", "consistency", "pattern",
                          f"lap-to-lap SD around the car's own lap trend {fmt(pat['residual_sd_s'], 3)} s over {n} "
                          "clean laps", pat["residual_sd_s"], "s", n=n, order=1)
            if k is not None and others:
                # a whole count of the *other* cars (the car is not one of the field it is ranked against)
                facts.add("pattern.consistency_rank", "consistency", "pattern",
                          f"on that SD, more consistent than {int(k)} of the other {int(others)} "
                          f"car{'' if int(others) == 1 else 's'}", int(k), "cars", n=int(others), order=2)
        if pat.get("driver"):
            share = pat.get("driver_share")
            facts.add("pattern.inconsistency_driver", "consistency", "pattern",
                      f"{place(pat['driver'])} carries the largest share of lap-time variance"
                      + (f" ({fmt(share, 2)} of it, over {n} clean laps)" if share is not None else ""), share,
                      "share", n=n, section=pat["driver"], order=3)
        tr, label, q = pat.get("trend"), pat.get("trend_label"), pat.get("trend_q")
        family = f"race's {pat.get('trend_cars')} cars compared together"
        if tr is not None and label in ("improving", "degrading") and q is not None:
            facts.add("pattern.trend", "trend", "pattern",
                      f"pace trend {fmt(tr['value'], 3)} s/lap relative to the field ({_ci(tr, 's/lap')}; "
                      f"clear of chance with the {family}): {label}", tr["value"], "s/lap", tr["n"], tr["lo"],
                      tr["hi"])
        elif tr is not None and q is not None:
            facts.add("pattern.no_trend", "trend", "pattern",
                      f"no clear pace trend relative to the field over {tr['n']} clean laps (not clear of chance "
                      f"with the {family})",
                      n=tr["n"], order=5)
        else:
            facts.add("limit.trend", "trend", "pattern", f"no pace trend: {label or 'not available'}",
                      n=n, missing=True, order=5)

    # --- weather: conditions and their effect
    w = read.weather_race(weather)
    if not w["usable"]:
        facts.add("limit.weather", "weather", "weather", f"no weather data: {w.get('reason')}", missing=True)
    else:
        tt = w.get("track_temp")
        if tt is None:
            facts.add("limit.track_temp", "weather", "weather", "no track-temperature sensor readings at this race",
                      missing=True)
        else:
            facts.add("weather.track_temp_range", "weather", "weather",
                      f"track temperature {fmt(tt['min'], 1)} to {fmt(tt['max'], 1)} °C through the race",
                      tt["max"] - tt["min"], "°C", n=tt.get("n") or 0, lo=tt["min"], hi=tt["max"], order=2)
        s = w.get("slope")
        if s is not None:
            q = w.get("qualification")
            facts.add("weather.pace_vs_track_temp", "weather", "weather",
                      f"field pace changes {fmt(s['value'], 3)} s per °C of track temperature in this race "
                      f"({_ci(s, 's/°C')})" + (f"; {q}" if q else ""), s["value"], "s/°C", s["n"], s["lo"], s["hi"],
                      order=1)
        elif tt is not None:
            facts.add("limit.pace_vs_track_temp", "weather", "weather",
                      f"no pace-vs-temperature slope: {w.get('slope_reason')}", missing=True, order=1)
    wt = read.weather_track(weather_track)
    if wt["identifiable"] and wt.get("slope"):
        s = wt["slope"]
        races = wt.get("races") or []
        facts.add("weather_track.track_temp", "weather", "weather_track",
                  f"track model (over {len(races)} race(s) of the track, each car's own level and lap trend in "
                  f"each race; within-race temperature variation only): lap time changes {fmt(s['value'], 3)} s "
                  f"per °C of track temperature ({_ci(s, 's/°C')})" + (f"; {wt['qualification']}"
                                                                          if wt.get("qualification") else ""),
                  s["value"], "s/°C", s["n"], s["lo"], s["hi"], order=0)
    else:
        facts.add("limit.weather_track", "weather", "weather_track",
                  f"track temperature effect not identifiable: {wt.get('reason')}", missing=True, order=3)

    # --- quality ledger: what happened to this car's data
    q = read.quality_for_car(quality, car)
    for code, count in sorted(q["codes"].items()):
        facts.add(f"quality.{code}", "data", "quality", f"data quality: {count} {code.replace('_', ' ')} issue(s) "
                  "for this car", count, "issues", n=count, order=2)

    for tf in telemetry_facts.facts_for_car(telemetry, car):       # telemetry: coaching/telemetry_facts.py
        facts.add(**tf)

    # --- traffic at the entry of every sure section loss (coaching/traffic.py), then the objective
    # (objective.pick_objective: one rule), its rival and its target
    _candidate_facts(facts, car, sections, place)
    objective = obj.pick_objective([f for _, f in facts.items])
    rival = _objective_facts(facts, objective, car, sections, place)
    ahead = _ahead_facts(facts, car, rival, quality, sections, place)

    ranked = facts.ranked(int(c["brief"]["max_facts"]))
    have = read.car_sections(sections, car)
    # the usual names in track order, then any other name the sections engine reported (in name order)
    known = [s for s in SECTION_RE_NAMES if s in have] + sorted(str(s) for s in have if s not in SECTION_RE_NAMES)
    lap_hi = n_laps
    return Brief(race_id=race_id or "", track_id=track_id, car=str(car), car_class=car_class, n_clean=n_clean,
                 n_laps=n_laps, facts=ranked, cars=sorted({str(car), *read.cars(composite), *read.cars(sections)}),
                 sections=known, laps=list(range(1, lap_hi + 1)), places=places,
                 corners=[x["name"] for x in obj.track_corners(track_id)],
                 turns=[t["number"] for t in obj.track_turns(track_id)], objective=objective,
                 rival=rival["car"] if rival else None, rival_ahead=ahead["car"] if ahead else None)


def _candidate_facts(facts: _Facts, car: str, sections: dict | None, place) -> None:
    """The facts :func:`~.objective.pick_objective` reads about its candidates, in its order (largest lower bound
    first), computed only as far as it looks: traffic for each candidate until one is not seen only in traffic,
    then that one's pace and spread parts (its diagnosis)."""
    sure = sorted((f for _, f in facts.items if f.kind == "section_loss" and f.lo is not None and f.value is not None
                   and f.lo > 0), key=lambda f: (f.lo, f.value), reverse=True)
    for f in sure:
        _traffic_facts(facts, car, sections, place, [f])
        by_id = {x.fact_id: x for _, x in facts.items}
        if not obj.in_traffic_only(f, by_id.get(f"traffic.{f.section}.clear_loss"),
                                   by_id.get(f"traffic.{f.section}.laps")):
            _split_facts(facts, car, sections, place, [f])
            return


def _split_facts(facts: _Facts, car: str, sections: dict | None, place, losses: list) -> None:
    """For the section losses ``losses`` (intervals above zero): the pace part and spread part, both beyond what the
    car's overall pace predicts (``sections.{sec}.pace_part``, ``.spread_part``; objective.loss_split), and the
    car's lap-to-lap scatter there beyond what its scatter elsewhere and the field's there predict
    (``sections.{sec}.scatter_excess``; objective.scatter_excess): the objective's diagnosis reads the pace part and
    the scatter (objective.diagnose). Ranked with the section losses (the objective's text reads them)."""
    k = int(params.load("engines")["best_k"])
    order = {f.fact_id: key[1] for key, f in facts.items}
    for f in losses:
        se = obj.scatter_excess(car, f.section, sections)
        if se is not None:
            facts.add(f"sections.{f.section}.scatter_excess", "section_detail", "sections",
                      f"{place(f.section)}: the car's lap-to-lap scatter there (average distance of its times from "
                      f"their median, each against the field's median on the same lap) is {fmt(se['scatter'], 3)} s "
                      f"against the field's {fmt(se['field'], 3)} s; beyond what its scatter elsewhere and the "
                      f"field's there predict: {fmt(se['value'], 3)} s ({_ci(se, 's')})",
                      se["value"], "s", se["n"], se["lo"], se["hi"], section=f.section, order=order[f.fact_id],
                      priority="section_loss")
        sp = obj.loss_split(car, f.section, sections)
        if sp is None:
            continue
        for key, what in (("pace", f"the pace part of its section loss (its {k} best times there against the field's "
                                   "typical time, beyond what its overall pace predicts)"),
                          ("spread", f"the spread part of its section loss (its typical time there against its {k} "
                                     "best, beyond what its overall spread predicts)")):
            e = sp[key]
            facts.add(f"sections.{f.section}.{key}_part", "section_detail", "sections",
                      f"{place(f.section)}: {what} {fmt(e['value'], 3)} s/lap ({_ci(e, 's/lap')})",
                      e["value"], "s/lap", e["n"], e["lo"], e["hi"], section=f.section, order=order[f.fact_id],
                      priority="section_loss")


def _traffic_facts(facts: _Facts, car: str, sections: dict | None, place, sure: list) -> None:
    """For the section losses ``sure`` (intervals above zero), where some of the car's clean laps entered the
    section in traffic (coaching/traffic.py): ``traffic.{sec}.laps`` (how many) and ``traffic.{sec}.clear_loss``
    (the section loss on the other laps, §10.2's formula, value None where too few are left); ``traffic.gap``, the
    gap that counts, once. Nothing without crossing times in the sections document."""
    order = {f.fact_id: k[1] for k, f in facts.items}
    if not sure or not (sections or {}).get("crossings"):
        return
    gap = float(cfg()["traffic"]["gap_s"])
    min_laps = int(params.load("engines")["min_clean_laps"])
    said = any(f.fact_id == "traffic.gap" for _, f in facts.items)
    for f in sure:
        sec = f.section
        laps = traffic.traffic_laps(car, sec, sections)
        got = traffic.section_loss_on(car, sec, sections, exclude=laps) if laps else None
        if got is None or not got["n_out"]:
            continue
        if not said:
            facts.add("traffic.gap", "traffic", "sections",
                      f"a lap is in traffic at a section when it crosses the section's entry line less than "
                      f"{fmt(gap, 1)} s behind another car that then goes through the section slower than this car's "
                      "median there", gap, "s", order=99)
            said = True
        total = got["n"] + got["n_out"]
        facts.add(f"traffic.{sec}.laps", "traffic", "sections",
                  f"{place(sec)}: {got['n_out']} of the car's {total} clean laps entered it in traffic (less than "
                  f"{fmt(gap, 1)} s behind a car that went through it slower than this car's median there)",
                  got["n_out"], "laps", n=total, section=sec, order=order[f.fact_id])
        if got["value"] is None:
            facts.add(f"traffic.{sec}.clear_loss", "traffic", "sections",
                      f"{place(sec)} out of traffic: only {got['n']} clean laps, too few (statistics need {min_laps}) "
                      "to tell its loss from traffic", None, "s/lap", n=got["n"], section=sec, order=order[f.fact_id])
        else:
            v = got["value"]
            facts.add(f"traffic.{sec}.clear_loss", "traffic", "sections",
                      f"{place(sec)} on the car's {got['n']} clean laps out of traffic at its entry: {fmt(abs(v), 3)} "
                      f"s/lap {'slower' if v >= 0 else 'quicker'} there than the car's overall pace to the field "
                      f"predicts ({_ci(got, 's/lap')})" + _significance(got, got["lo"] > 0),
                      v, "s/lap", got["n"], got["lo"], got["hi"], section=sec, order=order[f.fact_id])


def _signed(v: float, slower: str = "slower", quicker: str = "quicker") -> str:
    return f"{fmt(abs(v), 3)} s {slower if v >= 0 else quicker}"


def _objective_facts(facts: _Facts, objective, car: str, sections: dict | None, place) -> dict | None:
    """The nearest faster car (and what it gains, sub-section by sub-section, where that beats noise) and the
    objective's target figures, as facts. Returns the rival (or None)."""
    rival = obj.rival_of(car, sections)
    min_laps = int(params.load("engines")["min_clean_laps"])
    if rival is not None:
        facts.add("rival.car", "rival", "sections",
                  f"nearest faster car of the class by median clean lap: {car_label(rival['car'])}, "
                  f"{format_lap(rival['pace_s'])} (n={rival['n']}) against {format_lap(rival['own_pace_s'])} "
                  f"(n={rival['own_n']}), {fmt(rival['own_pace_s'] - rival['pace_s'], 3)} s a lap quicker",
                  rival["own_pace_s"] - rival["pace_s"], "s", n=rival["own_n"], car=rival["car"], order=0)
        entry = read.car_entry(sections, car) or {}
        block = entry.get(entry.get("preferred_set") or "sectors") or {}
        for i, it in enumerate(read.section_items(block) if block.get("available") else []):
            sec = it["section"]
            g = obj.rival_gain(car, rival["car"], sec, sections)
            if g is None:
                continue
            clear = g["lo"] > 0 or g["hi"] < 0
            if not clear and not (objective and objective.section == sec):
                continue
            who = "gains" if g["value"] >= 0 else "loses"
            facts.add(f"rival.{sec}.gain", "rival", "sections",
                      f"{car_label(rival['car'])} {who} {fmt(abs(g['value']), 3)} s/lap on {car_label(car)} in "
                      f"{place(sec)} (95% CI {fmt(g['lo'], 3)} to {fmt(g['hi'], 3)}, n={g['n']} and {g['n_rival']} "
                      "clean laps, each against the field's median on the same lap)"
                      + ("" if clear else ", may be zero (interval includes zero)"),
                      g["value"], "s/lap", g["n"], g["lo"], g["hi"], section=sec, car=rival["car"],
                      order=0 if objective and objective.section == sec else 1 + i)
    if objective is not None and objective.section is not None:
        sec = objective.section
        t = obj.targets(car, sec, sections)
        if t is not None and t["n"] >= min_laps:
            facts.add(f"target.{sec}.median", "target", "sections",
                      f"{place(sec)}: the car's median time there is {_signed(t['median'])} than the field's median "
                      f"on the same lap, over {t['n']} clean laps", t["median"], "s", n=t["n"], section=sec, order=1)
            facts.add(f"target.{sec}.p25", "target", "sections",
                      f"{place(sec)}: on a quarter of its {t['n']} clean laps the car is {_signed(t['p25'])} than the "
                      f"field's median on the same lap, or better (its 25th percentile)", t["p25"], "s", n=t["n"],
                      section=sec, order=0)
            if objective.diagnosis == "consistency":
                facts.add(f"target.{sec}.best", "target", "sections",
                          f"{place(sec)}: the car's best time there {format_lap(t['best_s'])} over {t['n']} clean "
                          "laps", t["best_s"], "s", n=t["n"], section=sec, order=4)
                facts.add(f"target.{sec}.typical", "target", "sections",
                          f"{place(sec)}: the car's median time there {format_lap(round(t['median_s'], 3))} over "
                          f"{t['n']} clean laps", round(t["median_s"], 3), "s", n=t["n"], section=sec, order=5)
                facts.add(f"target.{sec}.spread", "target", "sections",
                          f"{place(sec)}: spread of the car's times there (middle half of its laps) "
                          f"{fmt(t['iqr'], 3)} s over {t['n']} clean laps", t["iqr"], "s", n=t["n"], section=sec,
                          order=2)
                facts.add(f"target.{sec}.field_spread", "target", "sections",
                          f"{place(sec)}: the field's median spread there (middle half of each car's laps) "
                          f"{fmt(t['field_iqr'], 3)} s over {t['field_cars']} cars", t["field_iqr"], "s",
                          n=t["field_cars"], section=sec, order=3)
    return rival


def _ahead_facts(facts: _Facts, car: str, rival: dict | None, quality: dict | None, sections: dict | None,
                 place) -> dict | None:
    """The car ahead at the flag (official results, :func:`~.objective.ahead_at_flag`) as a second rival, where
    it is not the pace rival: ``rival_ahead.car`` and, for every section where its gain's 95% interval excludes
    zero, ``rival_ahead.{sec}.gain``. Nothing for the class winner or a car without an official position."""
    ahead = obj.ahead_at_flag(car, quality, sections)
    if ahead is None or (rival is not None and ahead["car"] == rival["car"]):
        return None
    pace = obj.lap_pace(sections)
    own, other = pace.get(str(car)), pace.get(ahead["car"])
    who = car_label(ahead["car"])
    standing = "in the class" if ahead["by"] == "class" else "of the class (overall order)"
    if own is not None and other is not None:
        d = own[0] - other[0]
        facts.add("rival_ahead.car", "rival", "quality",
                  f"car ahead at the flag {standing} by the official results: {who}, median clean lap "
                  f"{format_lap(other[0])} (n={other[1]}) against {format_lap(own[0])} (n={own[1]}), "
                  f"{fmt(abs(d), 3)} s a lap {'quicker' if d >= 0 else 'slower'}",
                  d, "s", n=own[1], car=ahead["car"], order=50)
    else:
        facts.add("rival_ahead.car", "rival", "quality",
                  f"car ahead at the flag {standing} by the official results: {who}", car=ahead["car"], order=50)
    entry = read.car_entry(sections, car) or {}
    block = entry.get(entry.get("preferred_set") or "sectors") or {}
    for i, it in enumerate(read.section_items(block) if block.get("available") else []):
        sec = it["section"]
        g = obj.rival_gain(car, ahead["car"], sec, sections)
        if g is None or not (g["lo"] > 0 or g["hi"] < 0):
            continue
        facts.add(f"rival_ahead.{sec}.gain", "rival", "sections",
                  f"{who} (ahead at the flag) {'gains' if g['value'] >= 0 else 'loses'} {fmt(abs(g['value']), 3)} "
                  f"s/lap on {car_label(car)} in {place(sec)} (95% CI {fmt(g['lo'], 3)} to {fmt(g['hi'], 3)}, "
                  f"n={g['n']} and {g['n_rival']} clean laps, each against the field's median on the same lap)",
                  g["value"], "s/lap", g["n"], g["lo"], g["hi"], section=sec, car=ahead["car"], order=1 + i,
                  priority="rival_ahead")
    return ahead


def race_cars(race_docs: dict[str, dict | None]) -> list[str]:
    """The cars of a race (composite, sections and pattern documents), sorted."""
    cars: list[str] = []
    for engine in ("composite", "sections", "pattern"):
        for car in read.cars(race_docs.get(engine)):
            if car not in cars:
                cars.append(car)
    return sorted(cars)


def brief_for_car(car: str, race_docs: dict[str, dict | None], track_docs: dict[str, dict | None] | None = None,
                  quality: dict | None = None) -> Brief:
    track_docs = track_docs or {}
    return build_brief(car, composite=race_docs.get("composite"), sections=race_docs.get("sections"),
                       weather=race_docs.get("weather"), pattern=race_docs.get("pattern"),
                       weather_track=track_docs.get("weather_track"),
                       composite_track=track_docs.get("composite_track"), quality=quality,
                       telemetry=race_docs.get("telemetry"))


def briefs_for_race(race_docs: dict[str, dict | None], track_docs: dict[str, dict | None] | None = None,
                    quality: dict | None = None) -> list[Brief]:
    """A brief per car of the race. ``race_docs``: engine -> document (``composite``, ``sections``,
    ``weather``, ``pattern``); ``track_docs``: ``weather_track``, ``composite_track`` (each may be None)."""
    return [brief_for_car(car, race_docs, track_docs, quality) for car in race_cars(race_docs)]


def brief_text(brief: Brief) -> str:
    """The facts as the prompt lists them, one per line: ``[fact_id] text``."""
    return "\n".join(f"[{f.fact_id}] {f.text}" for f in brief.facts)

