"""``races``: the races of the active run, each race's cars, laps, composite, quality, weather and coaching."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Query, Request

from kaizenlap.core.ids import ID_PATTERN, doc_id, weather_track_id
from kaizenlap.engines import telemetry_views

from .. import models as M
from ..caching import envelope, respond
from ..errors import CACHED, ERRORS, ApiError, not_found
from .common import id_path, one, race_doc, store_of

router = APIRouter(tags=["races"], responses={**ERRORS, **CACHED})


def _summary(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("cars", "files")}


@router.get("/races", response_model=M.RaceList)
async def all_races(request: Request):
    """Every race of the active run."""
    st = store_of(request)
    return await respond(request, M.RaceList, lambda rid: {
        "run_id": rid, "items": [_summary(d) for d in st().query(rid, "races")]})


@router.get("/races/{track_id}", response_model=M.RaceList)
async def races(request: Request, track_id: str = id_path("track id, e.g. barber")):
    """The races of one track."""
    st = store_of(request)

    def produce(rid):
        if st().get(rid, "tracks", track_id) is None:
            raise not_found(f"track {track_id!r}")
        return {"run_id": rid, "track_id": track_id,
                "items": [_summary(d) for d in st().query(rid, "races", {"track_id": track_id})]}
    return await respond(request, M.RaceList, produce)


@router.get("/races/{race_id}/summary", response_model=M.Race)
async def race(request: Request, race_id: str = id_path("race id, e.g. barber-r1")):
    """One race: date, counts, cars, source files and the results used."""
    st = store_of(request)
    return await respond(request, M.Race, lambda rid: race_doc(st, rid, race_id))


@router.get("/races/{race_id}/cars", response_model=M.CarList)
async def cars(request: Request, race_id: str = id_path("race id")):
    """The cars of a race, from its lap data (laps, clean laps, best laps)."""
    st = store_of(request)
    return await respond(request, M.CarList, lambda rid: {
        "run_id": rid, "race_id": race_id, "items": race_doc(st, rid, race_id)["cars"]})


@router.get("/races/{race_id}/cars/{car}", response_model=M.CarDetail)
async def car_detail(request: Request, race_id: str = id_path("race id"), car: str = id_path("car id")):
    """One car: its summary, composite entry, consistency pattern and ranked section losses."""
    st = store_of(request)

    def produce(rid):
        entry = next((c for c in race_doc(st, rid, race_id)["cars"] if c["car"] == car), None)
        if entry is None:
            raise not_found(f"car {car!r} in race {race_id!r}")
        comp = st().get(rid, "best_case_composites", race_id) or {}
        secs = [d for d in st().query(rid, "ml_section_recommendations", {"race_id": race_id, "car": car},
                                      limit=200) if d.get("scope") == "car"]
        secs.sort(key=lambda d: (d.get("section_set") or "", d.get("rank") or 0))
        return {"run_id": rid, "race_id": race_id, "car": entry,
                "composite": next((c for c in comp.get("cars", []) if c.get("car") == car), None),
                "pattern": st().get(rid, "ml_pattern_recommendations", doc_id(race_id, car, "pattern")),
                "sections": secs}
    return await respond(request, M.CarDetail, produce)


@router.get("/races/{race_id}/cars/{car}/laps", response_model=M.LapList)
async def laps(request: Request, race_id: str = id_path("race id"), car: str = id_path("car id")):
    """Every lap of a car: lap and sub-section times, flags, clean or the reasons it is excluded."""
    st = store_of(request)

    def produce(rid):
        items = st().query_json(rid, "laps", {"race_id": race_id, "car": car})
        if not items and not any(c["car"] == car for c in race_doc(st, rid, race_id)["cars"]):
            raise not_found(f"car {car!r} in race {race_id!r}")
        return envelope({"run_id": rid, "race_id": race_id, "car": car}, items)
    return await respond(request, M.LapList, produce)


@router.get("/races/{race_id}/progress", response_model=M.RaceProgress)
async def progress(request: Request, race_id: str = id_path("race id")):
    """The race lap by lap from the timing's crossing times: per car and lap its race time at the line, position,
    gap to the leader (s) and laps down; the caution laps; each car's fastest lap and classification."""
    produce = one(store_of(request), "race_progress", race_id, f"progress of race {race_id!r}", race_id)
    return await respond(request, M.RaceProgress, produce)


@router.get("/races/{race_id}/composite", response_model=M.Composite)
async def composite(request: Request, race_id: str = id_path("race id")):
    """Best-case composite lap of the race (field, per class, sectors and sub-sections) and per car."""
    produce = one(store_of(request), "best_case_composites", race_id,
                  f"composite of race {race_id!r} (the engine did not run for it)", race_id)
    return await respond(request, M.Composite, produce)


@router.get("/races/{race_id}/quality", response_model=M.Quality)
async def quality(request: Request, race_id: str = id_path("race id")):
    """The race's quality ledger, lap exclusion summary and reconciliation with the official files."""
    return await respond(request, M.Quality, one(store_of(request), "data_quality", race_id, f"race {race_id!r}"))


@router.get("/races/{race_id}/weather", response_model=M.Weather)
async def race_weather(request: Request, race_id: str = id_path("race id")):
    """Weather through the race and its effect on pace, with the track's pooled model as
    ``track_model`` (null when the track task did not run)."""
    st = store_of(request)
    weather = one(st, "ml_weather_recommendations", doc_id(race_id, "weather"),
                  f"weather analysis of race {race_id!r}", race_id)

    def produce(rid):
        track = st().get(rid, "ml_weather_recommendations", weather_track_id(race_id))
        return {**weather(rid), "track_model": track}
    return await respond(request, M.Weather, produce)


@router.get("/races/{race_id}/cars/{car}/coaching", response_model=M.Coaching)
async def car_coaching(request: Request, race_id: str = id_path("race id"), car: str = id_path("car id")):
    """Coaching for one car in one race: headline, the cited facts (with n and intervals), hypotheses with
    a confidence derived from those facts, testable actions, and which generator wrote it (the
    deterministic one unless a language model is configured; schema: serve/schemas/coaching.schema.json)."""
    st = store_of(request)

    def produce(rid):
        doc = st().get(rid, "coaching_insights", doc_id(race_id, car, "coaching"))
        if doc is None:
            if not any(c["car"] == car for c in race_doc(st, rid, race_id)["cars"]):
                raise not_found(f"car {car!r} in race {race_id!r}")
            raise not_found(f"coaching for car {car!r} in race {race_id!r} (the coaching task did not run)")
        return doc
    return await respond(request, M.Coaching, produce)


TELEMETRY_METRICS = ("brake_m", "min_kph", "exit_kph", "pickup_m", "delta_s")


def _telemetry_summary(st, rid: str, race_id: str) -> dict:
    doc = st().get(rid, "telemetry", telemetry_views.summary_id(race_id))
    if doc is None:
        race_doc(st, rid, race_id)          # an unknown race is "race not found"
        raise ApiError(404, "not_found", f"no telemetry for this race ({race_id})")
    return doc


@router.get("/races/{race_id}/telemetry", response_model=M.RaceTelemetry)
async def race_telemetry(request: Request, race_id: str = id_path("race id")):
    """Per car and corner, from the car's telemetry: brake onset, minimum speed, exit speed, throttle pick-up and
    the time lost to its own best lap, each the median over its clean laps with its 95% interval and n; the
    corners' names and distances. 404 "no telemetry for this race" where the race has no telemetry file."""
    st = store_of(request)

    def produce(rid):
        doc = _telemetry_summary(st, rid, race_id)
        cars = [{"car": c.get("car"), "vehicle_id": c["vehicle_id"], "reference": c.get("reference"),
                 "n_laps_used": c.get("n_laps_used"),
                 "corners": [{"corner": x["corner"], "distance_m": x.get("distance_m"),
                              **{k: x.get(k) for k in TELEMETRY_METRICS}} for x in c.get("corners") or []]}
                for c in doc.get("cars", [])]
        return {"run_id": rid, "race_id": race_id, "track_id": doc.get("track_id"), "available": doc["available"],
                "reason": doc.get("reason"), "length_m": doc.get("length_m"),
                "reference_car": telemetry_views.fastest(doc.get("cars", [])),
                "corners": doc.get("corners", []), "cars": cars, "not_computed": len(doc.get("not_computed") or []),
                "issues": doc.get("issues") or [], "section_check": doc.get("section_check")}
    return await respond(request, M.RaceTelemetry, produce)


@router.get("/races/{race_id}/cars/{car}/telemetry", response_model=M.TelemetryComparison)
async def car_telemetry(request: Request, race_id: str = id_path("race id"), car: str = id_path("car id"),
                        ref: Optional[str] = Query(None, pattern=ID_PATTERN, max_length=200,
                                                   description="the reference: a car (its best lap), or `own` "
                                                               "(or the car itself) for the car's own best lap "
                                                               "(default: the car with the fastest best lap)"),
                        lap: Optional[str] = Query(None, pattern=r"^c?[0-9]{1,4}$",
                                                   description="the car's lap to compare: a lap number (`c<n>` "
                                                               "for a lap known only by the car's counter); "
                                                               "default: its best lap against another car, its "
                                                               "median clean lap against its own best")):
    """A lap of the car against a reference lap: against another car (`ref`, default the car with the fastest best
    lap), the car's best lap (or `lap`) against that car's best; against its own best (`ref=own`), the car's
    median clean lap (or `lap`) against its best lap. Speed, throttle and brake against distance (every 5 m) for
    both (a lap other than the best and the median lap has no channels: `null`), the time-delta trace, and per
    corner the part of the lap difference (the parts add up to it) with both laps' brake onset, minimum and exit
    speeds; the car's complete laps to choose from."""
    st = store_of(request)

    def produce(rid):
        summary = _telemetry_summary(st, rid, race_id)
        own = ref in ("own", car)
        ref_car = car if own else ref or telemetry_views.fastest(summary.get("cars", []))
        own = own or ref_car == car
        docs = {}
        for who in (car, ref_car):
            d = st().get(rid, "telemetry", telemetry_views.trace_id(race_id, who)) if who else None
            if d is None:
                raise ApiError(404, "not_found", f"no telemetry for car {who} in this race ({race_id})")
            docs[who] = d
        try:
            out = telemetry_views.compare(docs[car], docs[ref_car], summary.get("corners", []), lap=lap, own=own)
        except ValueError as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        return {"run_id": rid, "race_id": race_id, **out}
    return await respond(request, M.TelemetryComparison, produce)
