"""``drivers``: a car number's season — every race of the active run the car ran, with its finish, pace gap to
the field, consistency, the race's finding, whether the previous race's finding held, and the coaching
objective (kaizenlap.engines.season; DATA_REFERENCE 10.8).

The response models live here, beside the one route that answers with them."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from kaizenlap.core.ids import doc_id
from kaizenlap.engines.season import car_season

from .. import models as M
from ..caching import respond
from ..errors import CACHED, ERRORS, not_found
from .common import id_path, store_of

router = APIRouter(tags=["drivers"], responses={**ERRORS, **CACHED})

#: a car's own section documents come first in id order (``<race>~<car>~a~...`` before ``~l<lap>~``)
CAR_SECTION_DOCS = 60


class SeasonFinish(M.Doc):
    position: Optional[int] = Field(None, description="official overall position (results file)")
    class_position: Optional[int] = None
    laps: int = 0
    laps_down: int = Field(0, description="laps behind the winner")
    winner_laps: int = 0
    status: str = Field("", description="winner, lead lap, +n laps or DNF (n laps)")
    dnf: bool = False
    field_size: int = 0


class SeasonFinding(M.Doc):
    section: str
    set: str = Field(description="sectors or subsections")
    section_loss: M.Estimate = Field(description="s/lap lost in the section relative to the car's overall pace (DATA_REFERENCE 10.2)")


class SeasonPrevious(M.Doc):
    """The previous race at the same track: its finding and whether it held in this race."""
    race_id: str
    finding: Optional[SeasonFinding] = Field(None, description="null: no section was significantly weak there")
    held: Optional[bool] = Field(None, description="the same section's loss interval here lies wholly above "
                                 "zero; null when there was no finding to check")
    now: Optional[M.Estimate] = Field(None, description="this race's section_loss for that section")
    chance: Optional[float] = Field(None, description="probability a random section would have held")


class SeasonObjective(M.Doc):
    section: Optional[str] = None
    action: Optional[str] = None
    measure: Optional[M.CoachingMeasure] = None
    headline: Optional[str] = None


class SeasonRace(M.Doc):
    race_id: str
    track_id: Optional[str] = None
    race_number: Optional[int] = None
    date: Optional[str] = None
    class_: Optional[str] = Field(None, alias="class")
    laps: int = 0
    clean_laps: int = 0
    best_lap_s: Optional[float] = None
    finish: SeasonFinish
    pace_gap: M.Estimate = Field(description="s/lap to the field's median clean lap (negative: faster)")
    consistency: Optional[M.Estimate] = Field(None, description="lap-to-lap SD around the car's own trend, s")
    finding: Optional[SeasonFinding] = None
    objective: Optional[SeasonObjective] = None
    previous: Optional[SeasonPrevious] = None


class SeasonCar(BaseModel):
    car: str
    class_: Optional[str] = Field(None, alias="class", description="the class of its latest race")
    races: list[str] = Field(description="race ids it ran, in date order")


class SeasonCarList(BaseModel):
    run_id: str
    items: list[SeasonCar]


class CarSeason(BaseModel):
    run_id: str
    car: str
    n_races: int
    findings_checked: int = Field(description="races whose previous race at the track had a finding")
    findings_held: int
    races: list[SeasonRace]


@router.get("/cars", response_model=SeasonCarList)
async def season_cars(request: Request):
    """Every car number of the active run with the races it ran (date order), most races first."""
    st = store_of(request)

    def produce(rid):
        races = sorted(st().query(rid, "races"), key=lambda r: (r.get("date") or "", r["race_id"]))
        seen: dict[str, dict] = {}
        for r in races:
            for c in r.get("cars", []):
                e = seen.setdefault(c["car"], {"car": c["car"], "races": []})
                e["races"].append(r["race_id"])
                e["class"] = c.get("class") or e.get("class")
        items = sorted(seen.values(), key=lambda e: (-len(e["races"]), _number_key(e["car"])))
        return {"run_id": rid, "items": items}
    return await respond(request, SeasonCarList, produce)


def _number_key(car: str) -> tuple:
    head = car.split("-")[0]
    return (int(head) if head.isdigit() else 10 ** 9, car)


@router.get("/cars/{car}/season", response_model=CarSeason)
async def car_season_route(request: Request, car: str = id_path("car number, e.g. 7")):
    """One car number's season: per race it ran, the finish, pace gap to the field (95% interval, n),
    consistency, its weakest section, whether the previous race's finding at the track held, and the
    coaching objective."""
    st = store_of(request)

    def produce(rid):
        races = st().query(rid, "races")
        ran = [r for r in races if any(c["car"] == car for c in r.get("cars", []))]
        if not ran:
            raise not_found(f"car {car!r} (in any race)")
        per_race = {}
        for r in ran:
            race_id = r["race_id"]
            secs = st().query(rid, "ml_section_recommendations", {"race_id": race_id, "car": car},
                              limit=CAR_SECTION_DOCS)
            per_race[race_id] = {
                "quality": st().get(rid, "data_quality", race_id),
                "pattern": st().get(rid, "ml_pattern_recommendations", doc_id(race_id, car, "pattern")),
                "coaching": st().get(rid, "coaching_insights", doc_id(race_id, car, "coaching")),
                "sections": [d for d in secs if d.get("scope") == "car"]}
        return {"run_id": rid, **car_season(car, ran, per_race)}
    return await respond(request, CarSeason, produce)
