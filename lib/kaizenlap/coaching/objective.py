"""One objective per car and race (issue 20, items 1-3 and 5; docs/DATA_REFERENCE.md §11.6).

Three pure pieces the brief builds on:

* :func:`section_places` — where a section is, in turns: the track's official turns (params/tracks/<id>.yaml
  ``turns``, placed from the official map) in the sectors and sub-sections that hold them (``IM1A (Turns 1–4)``);
  a track without them (Barber) by its traced ``corners`` C1.. in the sectors, a sub-section as the first or
  second part of its sector;
* :func:`relative_laps`, :func:`rival_of`, :func:`ahead_at_flag`, :func:`rival_gain`, :func:`targets` — per lap,
  a car's section time against the field's median on the same lap (so track evolution cancels); the nearest
  faster car of the class by median clean lap and the car ahead at the flag (official results), and what each
  gains section by section with a bootstrap interval; a reachable target;
* :func:`pick_objective` — THE rule: one objective from the findings that pass their bar, or none.

The rule (``pick_objective``), in order:

1. fewer clean laps than the engines need -> no objective (``kind: none``);
2. candidates: the car's section losses whose 95% interval lies wholly above zero (time lost in a section beyond
   what the car's overall pace predicts, DATA_REFERENCE §10.2); none -> no objective, no action;
3. the candidate with the largest lower bound (the sections engine's ranking: large *and* sure) that is not seen
   only in traffic (:func:`in_traffic_only`: recomputed on the laps out of traffic at the section's entry line,
   coaching/traffic.py, it no longer clears zero); every candidate seen only in traffic -> no objective for the
   driver, said as such (``traffic`` lists the sections passed over);
4. its diagnosis (:func:`diagnose`), from the pace part of the loss (:func:`loss_split`: its best times there,
   beyond what its overall pace predicts) and its scatter there (:func:`scatter_excess`: its lap-to-lap scatter
   there, beyond what its scatter elsewhere and the field's scatter there predict): ``consistency`` when the scatter's
   interval lies above zero and the pace part's does not, ``pace`` when the reverse, else ``section`` (the loss is
   sure, its cause is not: both, or neither);
5. its target: for ``pace`` and ``section`` the car's own 25th percentile of its time there against the field's
   median on the same lap (reached on a quarter of its clean laps: reachable), with the nearest faster car's
   gain there as the reference; for ``consistency`` the field's median spread (interquartile range) there, with the
   car's own best time there as the repeatable reference.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np

from kaizenlap.core import params
from kaizenlap.coaching import conf, traffic
from kaizenlap.core.section_formulas import beyond_overall, best_k, median as fast_median
from kaizenlap.tracks import turns as turn_labels

SUBS_OF_SECTOR = {"s1": ("im1a", "im1"), "s2": ("im2a", "im2"), "s3": ("im3a", "fl")}
SECTOR_OF = {sub: sec for sec, subs in SUBS_OF_SECTOR.items() for sub in subs}
SECTORS = ("s1", "s2", "s3")
SUBSECTIONS = ("im1a", "im1", "im2a", "im2", "im3a", "fl")


def cfg() -> dict:
    return conf.load("coaching")["objective"]


def field_min_cars() -> int:
    """Cars a lap number's field median needs: the engines' one rule for field-relative pace
    (``weather.field_min_cars`` in params/engines.yaml; issue 19 item 4: a lap of fewer cars, or of the car almost
    alone, is not a field)."""
    return int(params.load("engines")["weather"]["field_min_cars"])


# --------------------------------------------------------------------------- corners

def track_corners(track_id: str | None) -> list[dict]:
    """``[{name, distance_m}]`` of ``params/tracks/<track_id>.yaml`` (empty when the track has none)."""
    if not track_id:
        return []
    t = params.tracks().get(str(track_id)) or {}
    return [{"name": str(c["name"]), "distance_m": float(c["distance_m"])} for c in t.get("corners") or []]


def track_turns(track_id: str | None) -> list[dict]:
    """The track's official turns (``[{number, distance_m, name?, direction?}]``, lap order; empty without)."""
    return turn_labels.official_turns(params.tracks().get(str(track_id)) or {}) if track_id else []


def sector_corners(track_id: str | None) -> dict[str, list[str]]:
    """Sector -> the names of the corners inside it (by ``sector_lengths_m``), in lap order."""
    t = params.tracks().get(str(track_id)) or {} if track_id else {}
    lengths = t.get("sector_lengths_m")
    corners = track_corners(track_id)
    if not lengths or not corners:
        return {}
    edges = np.cumsum([0.0, *map(float, lengths)])
    out: dict[str, list[str]] = {s: [] for s in SECTORS}
    for c in corners:
        i = int(np.searchsorted(edges, c["distance_m"], side="right")) - 1
        out[SECTORS[min(max(i, 0), 2)]].append(c["name"])
    return out


def _span(names: list[str]) -> str:
    if not names:
        return turn_labels.names()["no_corner"]
    return names[0] if len(names) == 1 else f"{names[0]}\u2013{names[-1]}"


def section_places(track_id: str | None, sections: list[str]) -> dict[str, str]:
    """Section -> how coaching names it. Where the track's official turns are placed (params/tracks
    ``turns``, :func:`kaizenlap.tracks.turns.section_labels`): ``IM1A (Turns 1–4)``, ``S3 (Turns 12–14, Canada
    Corner)``. Else by the traced corners: ``S2 (C5–C8)``, ``IM2A (first part of S2, C5–C8)`` (C1.. in lap
    order, not the official turn numbers); the code alone where the track lists neither."""
    t = params.tracks().get(str(track_id)) or {} if track_id else {}
    official = turn_labels.section_labels(t)
    if official:
        return {str(s): official.get(str(s).lower(), str(s).upper()) for s in sections}
    corners = sector_corners(track_id)
    w = turn_labels.names()
    out = {}
    for s in sections:
        key = str(s).lower()
        code = str(s).upper()
        if not corners:
            out[str(s)] = code
        elif key in SECTORS:
            out[str(s)] = w["in_corners"].format(code=code, corners=_span(corners[key]))
        elif key in SECTOR_OF:
            sec = SECTOR_OF[key]
            part = w["parts"][turn_labels.SUBS_OF_SECTOR[sec].index(key)]
            out[str(s)] = w["sub_in_sector_corners"].format(code=code, part=part, sector=sec.upper(),
                                                            corners=_span(corners[sec]))
        else:
            out[str(s)] = code
    return out


# --------------------------------------------------------------------------- laps against the field

_REL_CACHE: dict[int, tuple[dict, dict]] = {}
_PACE_CACHE: dict[int, tuple[dict | None, dict]] = {}


def relative_laps(sections_doc: dict | None) -> dict:
    """``{(car, section): (laps, times, rel)}`` over the car's clean laps (section rule): ``rel`` = the
    section time minus the field's median time in that section on the same lap number (over the cars with a
    clean time there, at least ``weather.field_min_cars`` (:func:`field_min_cars`); laps with fewer are left
    out). Memoised per document object."""
    if not sections_doc or not sections_doc.get("laps"):
        return {}
    hit = _REL_CACHE.get(id(sections_doc))
    if hit is not None and hit[0] is sections_doc:
        return hit[1]
    import pandas as pd

    df = pd.DataFrame.from_records(sections_doc["laps"], columns=["car", "lap", "section", "time_s", "is_clean"])
    df = df[df["is_clean"].astype(bool) & df["time_s"].notna()]
    df = df.assign(car=df["car"].astype(str), section=df["section"].astype(str))
    g = df.groupby(["section", "lap"])["time_s"]
    df = df.assign(field=g.transform("median"), cars=g.transform("size"))
    df = df[df["cars"] >= field_min_cars()]
    out = {}
    for (car, sec), part in df.sort_values("lap").groupby(["car", "section"], sort=False):
        out[(car, sec)] = (part["lap"].to_numpy(int), part["time_s"].to_numpy(float),
                           (part["time_s"] - part["field"]).to_numpy(float))
    if len(_REL_CACHE) > 64:
        _REL_CACHE.clear()
    _REL_CACHE[id(sections_doc)] = (sections_doc, out)
    return out


def lap_pace(sections_doc: dict | None) -> dict[str, tuple[float, int]]:
    """car -> (median clean lap time as the sum of its three sectors, n laps), laps with all three clean.
    Memoised per document object (every car's brief asks for it, twice with the car ahead at the flag)."""
    hit = _PACE_CACHE.get(id(sections_doc))
    if hit is not None and hit[0] is sections_doc:
        return hit[1]
    rel = relative_laps(sections_doc)
    per: dict[str, dict[int, float]] = {}
    count: dict[str, dict[int, int]] = {}
    for (car, sec), (laps, times, _) in rel.items():
        if sec not in SECTORS:
            continue
        d, c = per.setdefault(car, {}), count.setdefault(car, {})
        for lap, t in zip(laps, times):
            d[int(lap)] = d.get(int(lap), 0.0) + float(t)
            c[int(lap)] = c.get(int(lap), 0) + 1
    out = {}
    for car, d in per.items():
        full = [t for lap, t in d.items() if count[car][lap] == 3]
        if full:
            out[car] = (float(np.median(full)), len(full))
    if len(_PACE_CACHE) > 64:
        _PACE_CACHE.clear()
    _PACE_CACHE[id(sections_doc)] = (sections_doc, out)
    return out


def rival_of(car: str, sections_doc: dict | None) -> dict | None:
    """The nearest faster car of ``car``'s class by median clean lap (the slowest of the cars faster than it),
    ``{car, pace_s, n, own_pace_s, own_n}``; None for the fastest car or without data."""
    pace = lap_pace(sections_doc)
    min_laps = int(params.load("engines")["min_clean_laps"])
    classes = {str(e.get("car")): e.get("class") for e in (sections_doc or {}).get("cars") or []}
    own = pace.get(str(car))
    if own is None or own[1] < min_laps:
        return None
    faster = [(p, n, c) for c, (p, n) in pace.items() if c != str(car) and p < own[0] and n >= min_laps
              and classes.get(c) == classes.get(str(car))]
    if not faster:
        return None
    p, n, c = max(faster)
    return {"car": c, "pace_s": p, "n": n, "own_pace_s": own[0], "own_n": own[1]}


def ahead_at_flag(car: str, quality: dict | None, sections_doc: dict | None = None) -> dict | None:
    """The car that finished directly ahead of ``car`` in its class by the official results, as the ingest
    reconciled them (the race's quality document, ``reconciliation``: ``official_class_position`` where every
    classified car of the class has one, else ``official_position`` among the cars of the class).
    ``{car, position, own_position, by}`` (``by``: ``class`` or ``overall``); None for the class winner, for a
    car without an official position (not classified: nothing is inferred) or without results."""
    rows = [r for r in (quality or {}).get("reconciliation") or [] if r.get("car") is not None]
    classes = {str(e.get("car")): e.get("class") for e in (sections_doc or {}).get("cars") or []}

    def cls(r: dict):
        return r.get("class") if r.get("class") is not None else classes.get(str(r["car"]))

    def num(v):
        try:
            return None if v is None or v != v else int(v)
        except (TypeError, ValueError):
            return None

    me = next((r for r in rows if str(r["car"]) == str(car)), None)
    if me is None:
        return None
    mates = [r for r in rows if cls(r) == cls(me)]
    placed = [r for r in mates if num(r.get("official_position")) is not None]
    by = "class" if placed and all(num(r.get("official_class_position")) is not None for r in placed) else "overall"
    key = "official_class_position" if by == "class" else "official_position"
    own = num(me.get(key))
    if own is None:
        return None
    ahead = [(num(r.get(key)), str(r["car"])) for r in placed if str(r["car"]) != str(car)
             and num(r.get(key)) is not None and num(r.get(key)) < own]
    if not ahead:
        return None
    pos, c = max(ahead)
    return {"car": c, "position": pos, "own_position": own, "by": by}


def _rng(*parts: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:12], 16))


def rival_gain(car: str, rival: str, section: str, sections_doc: dict | None) -> dict | None:
    """What ``rival`` gains on ``car`` in ``section`` per lap: median(car's rel) − median(rival's rel) (both
    against the field's median on the same lap), positive when the rival is faster; 95% percentile-bootstrap
    interval, each car's laps resampled on their own. ``{value, lo, hi, n, n_rival}`` or None."""
    rel = relative_laps(sections_doc)
    a, b = rel.get((str(car), section)), rel.get((str(rival), section))
    min_laps = _min_laps()
    if a is None or b is None or len(a[2]) < min_laps or len(b[2]) < min_laps:
        return None
    x, y = a[2], b[2]
    reps = int(cfg()["bootstrap_reps"])
    r = _rng(str(car), str(rival), section)
    bx = fast_median(x[r.integers(0, len(x), (reps, len(x)))], axis=1)
    by = fast_median(y[r.integers(0, len(y), (reps, len(y)))], axis=1)
    lo, hi = np.quantile(bx - by, [0.025, 0.975])
    return {"value": float(np.median(x) - np.median(y)), "lo": float(lo), "hi": float(hi), "n": len(x),
            "n_rival": len(y)}


def _min_laps() -> int:
    return int(conf.load("engines")["min_clean_laps"])


def iqr(v: np.ndarray) -> float:
    q1, q3 = np.quantile(v, [0.25, 0.75])
    return float(q3 - q1)


def targets(car: str, section: str, sections_doc: dict | None) -> dict | None:
    """The car's time in ``section`` against the field's median on the same lap: ``median``, ``p25`` (the
    pace target), ``iqr`` (its spread) and the field's median ``field_iqr`` over cars with enough laps; n; and its
    own times there, ``best_s`` and ``median_s`` (the consistency action's reference)."""
    rel = relative_laps(sections_doc)
    a = rel.get((str(car), section))
    min_laps = _min_laps()
    if a is None or len(a[2]) < min_laps:
        return None
    spreads = [iqr(v[2]) for (c, s), v in rel.items() if s == section and len(v[2]) >= min_laps]
    return {"median": float(np.median(a[2])), "p25": float(np.quantile(a[2], 0.25)), "iqr": iqr(a[2]),
            "field_iqr": float(np.median(spreads)), "field_cars": len(spreads), "n": len(a[2]),
            "best_s": float(np.min(a[1])), "median_s": float(np.median(a[1]))}


def loss_split(car: str, section: str, sections_doc: dict | None, reps: int | None = None) -> dict | None:
    """The section loss (§10.2) split into its pace and spread parts, both section-local (beyond the car's overall
    pace, as the loss itself): with ``b`` the median of the car's k fastest times per section (``best_k``), ``m``
    the median, ``F`` the field's typical time and ``w = F_s / ΣF``,

        pace part   = (b_s − F_s) − w · Σ(b − F)
        spread part = (m_s − b_s) − w · Σ(m − b)          (pace part + spread part = section loss)

    over the car's clean laps of the set; 95% percentile bootstrap of the laps (paired across sections;
    ``objective.bootstrap_reps``, seeded by car and section). ``{pace: {value, lo, hi, n}, spread: {...}}`` or
    None. The whole deficit is taken out of both, so a car slow everywhere is not called a pace problem in every
    section (issue 20)."""

    set_name = traffic.SET_OF.get(str(section))
    got = traffic.car_laps(car, set_name, sections_doc) if set_name and sections_doc else None
    k = int(conf.load("engines")["best_k"])
    if got is None or len(got[0]) < max(_min_laps(), k):
        return None
    _, x, F = got
    j = traffic.SETS[set_name].index(str(section))

    def parts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        med, bk = fast_median(a, axis=-2), best_k(a, k)
        return beyond_overall(bk - F, F)[..., j], beyond_overall(med - bk, F)[..., j]

    n = len(x)
    reps = int(cfg()["bootstrap_reps"] if reps is None else reps)
    bp, bs = parts(x[_rng("split", str(car), str(section)).integers(0, n, (reps, n))])
    p, sp = parts(x)
    out = {}
    for name, v, b in (("pace", p, bp), ("spread", sp, bs)):
        lo, hi = np.quantile(b, [0.025, 0.975])
        out[name] = {"value": float(v), "lo": float(lo), "hi": float(hi), "n": n}
    return out


_SCATTER_CACHE: dict[tuple[int, str], tuple[dict, dict]] = {}


def scatter(a: np.ndarray) -> np.ndarray:
    """Lap-to-lap scatter per section of ``a`` (..., laps, sections): the mean absolute deviation from the median."""
    return np.abs(a - fast_median(a, axis=-2, keepdims=True)).mean(axis=-2)


def _field_relative(sections_doc: dict, set_name: str) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """car -> its clean laps with every section of the set timed, each time less the field's median there on the
    same lap (lap numbers with at least ``weather.field_min_cars`` (:func:`field_min_cars`) such cars; so track
    evolution and the field's slow laps cancel), and the field's scatter per section (median over the cars with
    enough laps). Memoised."""
    hit = _SCATTER_CACHE.get((id(sections_doc), set_name))
    if hit is not None and hit[0] is sections_doc:
        return hit[1]
    wide = traffic._clean_wide(sections_doc, set_name)
    by_lap: dict[int, list[np.ndarray]] = {}
    for laps, x in wide.values():
        for lap, row in zip(laps, x):
            by_lap.setdefault(int(lap), []).append(row)
    need = field_min_cars()
    med = {lap: np.median(np.asarray(rows), axis=0) for lap, rows in by_lap.items() if len(rows) >= need}
    rel = {}
    for car, (laps, x) in wide.items():
        keep = np.array([int(lap) in med for lap in laps], bool)
        if keep.any():
            rel[car] = x[keep] - np.array([med[int(lap)] for lap in laps[keep]])
    min_laps = _min_laps()
    got = [scatter(v) for v in rel.values() if len(v) >= min_laps]
    out = (rel, np.median(np.asarray(got), axis=0) if got else None)
    if len(_SCATTER_CACHE) > 64:
        _SCATTER_CACHE.clear()
    _SCATTER_CACHE[(id(sections_doc), set_name)] = (sections_doc, out)
    return out


def scatter_excess(car: str, section: str, sections_doc: dict | None, reps: int | None = None) -> dict | None:
    """How much wider the car's lap-to-lap scatter is in ``section`` than its scatter elsewhere and the field's
    scatter there predict (a race engineer's "inconsistent there"): with ``d`` the car's scatter per section
    (:func:`scatter` of its times less the field's median on the same lap) and ``f`` the field's (median over the
    cars), §10.2's "beyond the car's overall" applied to the scatter,

        scatter excess = (d_s − f_s) − Σ(d − f) · f_s / Σf = d_s − f_s · Σd / Σf

    (a car twice as scattered as the field everywhere has 0 in every section; the excesses of a car sum to 0);
    95% percentile bootstrap of the car's laps (paired across sections; ``objective.bootstrap_reps``, seeded by
    car and section), the field's scatter held fixed. ``{value, lo, hi, n, scatter, field}`` (s) or None."""
    set_name = traffic.SET_OF.get(str(section))
    if not set_name or not sections_doc:
        return None
    rel, f = _field_relative(sections_doc, set_name)
    x = rel.get(str(car))
    if x is None or f is None or len(x) < _min_laps() or not f.sum() > 0:
        return None
    j = traffic.SETS[set_name].index(str(section))
    n = len(x)
    reps = int(cfg()["bootstrap_reps"] if reps is None else reps)
    d = scatter(x)
    b = beyond_overall(scatter(x[_rng("scatter", str(car), str(section)).integers(0, n, (reps, n))]) - f, f)[..., j]
    lo, hi = np.quantile(b, [0.025, 0.975])
    return {"value": float(beyond_overall(d - f, f)[j]), "lo": float(lo), "hi": float(hi), "n": n,
            "scatter": float(d[j]), "field": float(f[j])}


def diagnose(pace, scatter_fact) -> str:
    """A sure section loss's diagnosis from its pace part (:func:`loss_split`) and its scatter excess
    (:func:`scatter_excess`), each with ``lo``: ``consistency`` when the scatter excess's interval lies above zero
    and the pace part's does not (its best times there are as quick as its overall pace predicts; the scatter
    costs the time), ``pace`` when the reverse, else ``section`` (both, or neither: the loss is sure, its cause
    is not)."""
    if pace is None or scatter_fact is None:
        return "section"
    p, s = _lo(pace), _lo(scatter_fact)
    if p is None or s is None:
        return "section"
    if s > 0 and p <= 0:
        return "consistency"
    if p > 0 and s <= 0:
        return "pace"
    return "section"


def _lo(x) -> float | None:
    return x.get("lo") if isinstance(x, dict) else getattr(x, "lo", None)


def met_in_race(values: np.ndarray, target: float, window: int, stat: str = "median") -> bool:
    """Whether any ``window`` consecutive clean laps (``values`` in lap order) have their median (or IQR) at
    or below ``target``: the check bench/coaching.py reports (a target no car reaches is no target)."""
    if len(values) < window:
        return False
    f = np.median if stat == "median" else iqr
    return any(f(values[i:i + window]) <= target + 1e-9 for i in range(len(values) - window + 1))


# --------------------------------------------------------------------------- the rule

@dataclass
class Objective:
    kind: str                       # section | none
    reason: str                     # why this one, or why none, in words
    section: str | None = None
    diagnosis: str | None = None    # pace | consistency | section (sure loss, split not sure)
    fact_ids: list[str] = field(default_factory=list)
    rule: str = "largest lower bound of a section loss whose 95% interval lies above zero and holds on the laps " \
                "out of traffic (DATA_REFERENCE 11.6)"
    traffic: list[str] = field(default_factory=list)   # sure losses passed over: seen only on laps in traffic

    def to_dict(self) -> dict:
        return asdict(self)


def in_traffic_only(loss, clear, laps=None) -> bool:
    """Whether a sure section loss (``loss``, a ``section_loss`` fact) is seen only in traffic. ``clear`` (its
    ``traffic.{sec}.clear_loss`` fact) is the loss recomputed on the clean laps out of traffic at the section's
    entry line (coaching/traffic.py), ``laps`` (``traffic.{sec}.laps``) how many laps were left out: seen only in
    traffic when the recomputed interval reaches zero while the estimate is smaller than over all laps (the
    traffic laps made it; a loss as large out of traffic whose interval only widened with fewer laps stays the
    driver's), or, where too few laps are left to recompute it, when most of the laps were in traffic. No
    ``clear`` fact (no lap in traffic): False."""
    if clear is None:
        return False
    if clear.value is None or clear.lo is None:
        return laps is not None and laps.value is not None and laps.value > clear.n
    return clear.lo <= 0 and clear.value < loss.value


def pick_objective(facts: list) -> Objective:
    """THE objective of a brief's facts (module doc, rule steps 1-4); ``facts``: :class:`~.model.Fact` list."""
    by_id = {f.fact_id: f for f in facts}
    if "limit.clean_laps" in by_id:
        return Objective("none", "too few clean laps for section statistics")
    sure = [f for f in facts if f.kind == "section_loss" and f.lo is not None and f.value is not None and f.lo > 0]
    if not sure:
        return Objective("none", "no section loses time beyond what the car's overall pace predicts with its "
                                 "interval clear of zero")
    in_traffic, top = [], None
    for f in sorted(sure, key=lambda f: (f.lo, f.value), reverse=True):
        if in_traffic_only(f, by_id.get(f"traffic.{f.section}.clear_loss"), by_id.get(f"traffic.{f.section}.laps")):
            in_traffic.append(f.section)
            continue
        top = f
        break
    if top is None:
        return Objective("none", f"{len(sure)} section loss(es) clear of zero, each seen only on laps in traffic",
                         fact_ids=[x for s in in_traffic for x in (f"sections.{s}.section_loss",
                                                               f"traffic.{s}.clear_loss", f"traffic.{s}.laps")],
                         traffic=in_traffic)
    pp, se = by_id.get(f"sections.{top.section}.pace_part"), by_id.get(f"sections.{top.section}.scatter_excess")
    diagnosis = diagnose(pp, se)
    ids = [top.fact_id] + [f.fact_id for f in (pp, se) if f is not None and diagnosis != "section"]
    why = f"{len(sure)} section loss(es) clear of zero; this one has the largest lower bound"
    if in_traffic:
        why += f" of those not seen only in traffic ({len(in_traffic)} passed over)"
    return Objective("section", why, section=top.section, diagnosis=diagnosis, fact_ids=ids, traffic=in_traffic)
