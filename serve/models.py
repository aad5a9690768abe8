"""Response models of the KaizenLap API (SCHEMA.md describes the stored documents they come from).

Document models allow extra fields: the store's documents may carry more than is typed here, and a
new engine field reaches clients without an API change.
"""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from kaizenlap.coaching.model import Objective  # the one objective, as coaching validates it before storing

SectionName = Literal["s1", "s2", "s3", "im1a", "im1", "im2a", "im2", "im3a", "fl"]
RecType = Literal["section", "weather", "pattern", "coaching"]


class Doc(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable: not_found, invalid_parameter, stale_cursor, no_data, ...")
    message: str
    detail: Optional[list | dict] = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Estimate(Doc):
    """A number with its 95% interval and the sample it came from."""
    value: Optional[float] = None
    lo: Optional[float] = None
    hi: Optional[float] = None
    n: int = 0
    method: str = ""
    note: Optional[str] = None


class StoreHealth(BaseModel):
    backend: str
    url: str
    reachable: bool
    error: Optional[str] = None


class FailedTask(BaseModel):
    """A task of the active run that failed, and whether the app serves its documents from an earlier run."""
    task: str
    served_from_run: Optional[str] = Field(None, description="the earlier run whose documents for this task "
                                           "are served; null: none are served")
    reason: Optional[str] = Field(None, description="why none are served")


class Health(BaseModel):
    status: Literal["ok", "no_data", "unavailable"]
    store: StoreHealth
    active_run_id: Optional[str] = None
    data_version: Optional[str] = None
    published_at: Optional[str] = None
    failed_tasks: list[FailedTask] = Field(default_factory=list, description="tasks of the active run that failed")
    version: str


class Point(Doc):
    x: float
    y: float


class TrackTurn(BaseModel):
    number: str = Field(description="the turn's number as the official map prints it ('7', '3A', '12a')")
    distance_m: float = Field(description="ESTIMATED distance from the S/F line, metres (placed from the official map)")
    name: Optional[str] = Field(None, description="the corner's published name, where it has one")
    direction: Optional[Literal["L", "R"]] = Field(None, description="as drawn on the official map; none for a kink")


class Track(Doc):
    id: Optional[str] = Field(None, description="the document id (the track id)")
    track_id: str
    name: str
    timezone: Optional[str] = None
    length_m: Optional[float] = Field(None, description="lap length, metres")
    sector_lengths_m: list[float] = Field(default_factory=list, description="S1..S3 lengths, metres")
    pit_lane_s: Optional[float] = None
    reference_lap_s: Optional[float] = None
    outline: Optional[list[Point]] = Field(
        None, description="track map outline traced from the official map: a closed polyline normalised into "
                          "the unit box (x right, y down), starting at the finish line in the direction of travel")
    sector_fractions: Optional[list[float]] = Field(
        None, description="fraction of the outline's length at which S2 and S3 start (S1 starts at 0)")
    turns: Optional[list[TrackTurn]] = Field(
        None, description="the official turns at their estimated distance from the S/F line; null where none is placed")
    section_labels: Optional[dict[str, str]] = Field(
        None, description="section (s1..s3, im1a..fl) -> its name in turns, e.g. 'IM1A (Turns 1–3)': the wording "
                          "coaching uses; null without turns")
    races: list[str] = Field(default_factory=list)


class TrackList(BaseModel):
    run_id: str
    items: list[Track]


class Car(Doc):
    car: str = Field(description="car id in the race: the number, or NUMBER-k when two cars share it")
    number: Optional[str] = None
    class_: Optional[str] = Field(None, alias="class")
    laps: int = 0
    clean_laps: int = 0
    best_lap_s: Optional[float] = None
    best_lap_number: Optional[int] = None
    best_clean_lap_s: Optional[float] = None
    best_clean_lap_number: Optional[int] = None
    team: Optional[str] = None
    driver_name: Optional[str] = None
    manufacturer: Optional[str] = None


class ResultsUsed(BaseModel):
    file: Optional[str] = Field(None, description="the results file, relative to the data folder")
    status: Optional[str] = Field(None, description="official or provisional")
    reason: Optional[str] = Field(None, description="why this file was chosen")


class RaceSummary(Doc):
    id: Optional[str] = Field(None, description="the document id (the race id)")
    race_id: str
    track_id: str
    race_number: int
    status: str
    date: Optional[str] = None
    date_source: Optional[str] = Field(None, description="where the date came from: weather, lap_events, meta_event")
    weather_rows: Optional[int] = Field(None, description="weather readings available")
    lap_event_offset_s: Optional[float] = Field(None, description="median ECU lap-trigger offset vs the timing "
                                                "line, s")
    results_used: dict[str, ResultsUsed] = Field(default_factory=dict, description="per results role "
                                                 "(results_overall, results_class): the file used and why")
    n_laps: int = 0
    n_clean: int = 0
    n_cars: int = 0
    classes: list[str] = Field(default_factory=list)
    has_weather: bool = False


class Race(RaceSummary):
    cars: list[Car] = Field(default_factory=list)
    files: dict[str, list[str]] = Field(default_factory=dict, description="the race's files by role, relative to "
                                        "the data folder")


class RaceList(BaseModel):
    run_id: str
    track_id: Optional[str] = None
    items: list[RaceSummary]


class CarList(BaseModel):
    run_id: str
    race_id: str
    items: list[Car]


class Lap(Doc):
    race_id: str
    car: str
    lap: int
    lap_time_s: Optional[float] = None
    s1_s: Optional[float] = None
    s2_s: Optional[float] = None
    s3_s: Optional[float] = None
    im1a_s: Optional[float] = None
    im1_s: Optional[float] = None
    im2a_s: Optional[float] = None
    im2_s: Optional[float] = None
    im3a_s: Optional[float] = None
    fl_s: Optional[float] = None
    crossing_utc: Optional[str] = None
    flag: Optional[str] = None
    flags: dict[str, bool] = Field(default_factory=dict)
    is_clean: bool = False
    exclusion_reasons: list[str] = Field(default_factory=list)
    id: Optional[str] = None
    track_id: Optional[str] = None
    number: Optional[str] = Field(None, description="the car's number as timed")
    class_: Optional[str] = Field(None, alias="class")
    driver_name: Optional[str] = None
    team: Optional[str] = None
    manufacturer: Optional[str] = None
    elapsed_s: Optional[float] = Field(None, description="race time at the line crossing, seconds")
    hour_local_s: Optional[float] = Field(None, description="local time of day at the crossing, seconds")
    kph: Optional[float] = Field(None, description="average speed over the lap")
    top_speed_kph: Optional[float] = None
    lap_improvement: Optional[int] = None
    pit_in: Optional[bool] = None
    pit_time_s: Optional[float] = None
    deleted_by: Optional[str] = Field(None, description="why the timing deleted the lap, if it did")


class LapList(BaseModel):
    run_id: str
    race_id: str
    car: str
    items: list[Lap]


class LapProgress(Doc):
    """One car at the finish line of one of its laps."""
    lap: int = Field(description="the lap the car completed at this line")
    race_time_s: float = Field(description="race time when the car crossed the line (the timing's ELAPSED), s")
    position: int = Field(description="1 + the cars that crossed the line ending this lap earlier")
    gap_s: float = Field(description="race time − that of the first car across this line on this lap, s; for a "
                                     "lapped car it includes the laps it is down")
    laps_down: int = Field(description="the laps the race leader had completed when the car crossed − this lap")


class CarProgress(Doc):
    car: str
    number: Optional[str] = None
    class_: Optional[str] = Field(None, alias="class")
    final_position: int = Field(description="classification from the timing: most laps, then the earlier race time "
                                            "at the last line (no penalties)")
    official_position: Optional[int] = Field(None, description="position in the official results (after "
                                                               "penalties); null: not classified or no results")
    laps: int = Field(description="laps completed")
    race_time_s: Optional[float] = Field(None, description="race time at the car's last line, s")
    gap_s: Optional[float] = Field(None, description="race time at its last line − the winner's at that lap, s")
    laps_down: int = Field(0, description="laps fewer than the winner")
    best_lap_s: Optional[float] = Field(None, description="fastest lap (the one best-lap rule), s")
    best_lap: Optional[int] = Field(None, description="the lap it was set on")
    by_lap: list[LapProgress] = Field(default_factory=list)


class RaceProgress(Doc):
    """The race lap by lap (SCHEMA.md race_progress; docs/DATA_REFERENCE.md "Race progress")."""
    id: Optional[str] = Field(None, description="the document id (the race id)")
    race_id: str
    track_id: Optional[str] = None
    leader_laps: int = Field(description="laps the winner on the road completed")
    winner_time_s: Optional[float] = Field(None, description="the winner's race time at the flag, s")
    caution_laps: list[int] = Field(default_factory=list, description="laps whose leader crossed the line under "
                                                                      "a caution (FLAG_AT_FL not green)")
    cars: list[CarProgress] = Field(default_factory=list, description="in classification order (timing)")


class Component(Doc):
    section: str
    time_s: float
    car: str
    lap: int
    race_id: Optional[str] = None
    n_laps: int = 0


class CompositeLap(Doc):
    time_s: float
    car: str
    lap: int
    race_id: Optional[str] = None
    n_laps: int = 0


class FieldComposite(Doc):
    class_: str = Field(alias="class")
    section_set: str
    available: bool
    total_s: Optional[float] = Field(None, description="min(sections_sum_s, the scope's best clean lap)")
    sections_sum_s: Optional[float] = Field(None, description="sum of the components (fastest clean time per section)")
    bounded_by: Optional[str] = Field(None, description="which gave total_s: 'sections' or 'best_clean_lap'")
    best_clean_lap: Optional[CompositeLap] = Field(None, description="the scope's fastest lap clean for lap-time "
                                                                     "statistics (splits or not)")
    n_laps: int = 0
    components: Optional[list[Component]] = None
    reason: Optional[str] = None


class CarCompositeSection(Doc):
    fastest_s: float = Field(description="the car's fastest clean time in the section")
    best_k_s: float = Field(description="the median of the car's k fastest clean times there")


class CarCompositeSet(Doc):
    """One car's composite over one section set (DATA_REFERENCE §10.1): personal composite and best-k with
    their intervals, the bound by the best clean lap, and the potential gain tested against noise."""
    n: int = Field(description="the car's laps clean for section statistics with every section of the set")
    personal_composite: Estimate
    best_k: Estimate
    sections_sum_s: Optional[float] = None
    best_clean_lap_s: Optional[float] = None
    bounded_by: Optional[str] = Field(None, description="'sections' or 'best_clean_lap'")
    potential_gain_s: Optional[float] = None
    noise_gap_expected_s: Optional[float] = None
    noise_gap_p95_s: Optional[float] = None
    potential_gain_beats_noise: bool = False
    potential_gain_excess_s: Optional[float] = None
    potential_gain_p_value: Optional[float] = None
    potential_gain_method: Optional[str] = None
    composite_races: Optional[list[str]] = Field(None, description="track scope: the races of the composite's times")
    median_lap_by_race_s: Optional[dict[str, float]] = Field(None, description="track scope: median clean lap per race")
    sections: Optional[dict[str, CarCompositeSection]] = None


class CarComposite(Doc):
    """A car's entry in a composite document."""
    car: str
    number: Optional[str] = None
    class_: Optional[str] = Field(None, alias="class")
    race_id: Optional[str] = None
    n_laps: int = 0
    n_clean: int = 0
    n_clean_sections: Optional[int] = None
    best_clean_lap_s: Optional[float] = None
    sectors: Optional[CarCompositeSet] = None
    subsections: Optional[CarCompositeSet] = None


class RaceLevel(Doc):
    field_median_lap_s: Optional[float] = Field(None, description="the field's median clean lap in the race")
    n_laps: int = 0
    offset_s: Optional[float] = Field(None, description="the race's level against the reference race")
    offset_n_cars: Optional[int] = Field(None, description="cars the offset is measured on")


class RaceLevels(Doc):
    """Track scope: each race at its own level (DATA_REFERENCE §10.1)."""
    reference_race: Optional[str] = None
    races: dict[str, RaceLevel] = Field(default_factory=dict)
    note: Optional[str] = None


class Composite(Doc):
    id: Optional[str] = None
    engine: Optional[str] = None
    params: Optional[dict] = Field(None, description="the engine settings the document was computed with")
    scope: str
    race_id: Optional[str] = None
    track_id: Optional[str] = None
    races: list[str] = Field(default_factory=list)
    n_laps: int = 0
    n_clean: int = 0
    n_clean_sections: Optional[int] = Field(None, description="laps clean for section statistics (splits present "
                                                               "and consistent)")
    field: list[FieldComposite] = Field(default_factory=list)
    cars: list[CarComposite] = Field(default_factory=list)
    invariants: dict[str, bool] = Field(default_factory=dict)
    race_levels: Optional[RaceLevels] = Field(None, description="track scope: each race's level")


class Issue(Doc):
    code: str
    message: str
    severity: str
    file: Optional[str] = None
    line: Optional[int] = None
    column: Optional[str] = None
    car: Optional[str] = None
    laps: Optional[list[int]] = None


class Exclusion(Doc):
    flag: str
    laps: int
    only_this_flag: int


class ReconciledCar(Doc):
    """One car of the lap file against the official files (DATA_REFERENCE "Reconciliation"): its own lap
    count and best lap beside the results' and best-10's; null where that file has no row for it."""
    car: str
    number: Optional[str] = None
    class_: Optional[str] = Field(None, alias="class")
    laps: Optional[int] = Field(None, description="laps in the lap file")
    clean_laps: Optional[int] = None
    best_lap_s: Optional[float] = None
    best_lap_number: Optional[int] = None
    official_best_lap_s: Optional[float] = Field(None, description="best lap in the best-10 file (99_)")
    official_best_lap_number: Optional[int] = None
    official_laps: Optional[int] = Field(None, description="laps in the results (03_/05_)")
    official_fl_time_s: Optional[float] = Field(None, description="fastest lap in the results")
    official_position: Optional[int] = None
    official_class_position: Optional[int] = None


class Quality(Doc):
    id: Optional[str] = Field(None, description="the document id (the race id)")
    race_id: str
    track_id: Optional[str] = None
    status: str
    n_laps: int = 0
    n_clean: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    by_code: dict[str, int] = Field(default_factory=dict)
    issues: list[Issue] = Field(default_factory=list)
    exclusions: list[Exclusion] = Field(default_factory=list)
    reconciliation: list[ReconciledCar] = Field(default_factory=list)


class TrendPivot(Doc):
    lap: float
    pace_s: float


class TrendPoints(Doc):
    lap: list[int]
    field_pace_s: list[float]


class PatternTrend(Doc):
    """A car's trend of field-relative pace on lap number (DATA_REFERENCE §10.4): the Theil–Sen line through
    ``pivot``, its slope's 95% interval, and the laps it was fitted to."""
    label: str
    slope_s_per_lap: Optional[Estimate] = None
    p_value: Optional[float] = None
    q_value: Optional[float] = None
    intercept_s: Optional[float] = None
    pivot: Optional[TrendPivot] = None
    points: Optional[TrendPoints] = None


class PatternStats(Doc):
    """A car's clean-lap statistics (pattern engine, SCHEMA.md)."""
    n: Optional[int] = None
    mean_s: Optional[float] = None
    median_s: Optional[float] = None
    sd_s: Optional[float] = None
    robust_sd_s: Optional[float] = None
    iqr_s: Optional[float] = None
    cv: Optional[float] = None
    best5_avg_s: Optional[float] = None
    sanitized_avg_s: Optional[float] = None
    sanitized_n: Optional[int] = None


class Recommendation(Doc):
    """One recommendation. ``type`` says which engine; ``scope`` whether it is about the race, a car, or
    one lap of a car. Section recommendations at car scope carry Estimates (loss, pace_gap, ...)."""
    id: str
    type: RecType
    race_id: Optional[str] = None
    track_id: Optional[str] = None
    car: Optional[str] = None
    lap: Optional[int] = None
    section: Optional[str] = None
    scope: Optional[str] = None
    message: Optional[str] = None
    loss: Optional[Estimate] = None
    pace_gap: Optional[Estimate] = None
    consistency_cost: Optional[Estimate] = None
    best_k: Optional[Estimate] = None
    median: Optional[Estimate] = None
    trend: Optional[PatternTrend] = Field(None, description="pattern documents at car scope: the car's trend")
    engine: Optional[str] = Field(None, description="the engine that wrote the document")
    class_: Optional[str] = Field(None, alias="class")
    available: Optional[bool] = None
    reason: Optional[str] = Field(None, description="why the document is not available")
    n: Optional[int] = Field(None, description="the sample the document's numbers came from")
    n_laps: Optional[int] = None
    n_clean: Optional[int] = None
    # section documents (engines/sections.py, SCHEMA.md "ml_section_recommendations")
    section_set: Optional[str] = None
    section_loss: Optional[Estimate] = Field(None, description="the car's loss in this section to the field")
    rank: Optional[int] = Field(None, description="rank of this section's loss among the car's sections (1 = largest)")
    significant: Optional[bool] = Field(None, description="the loss's 95% interval excludes zero")
    field_typical_s: Optional[float] = None
    total_loss_s: Optional[float] = None
    time_s: Optional[float] = Field(None, description="lap scope: the lap's time in the section")
    composite_s: Optional[float] = None
    delta_to_composite_s: Optional[float] = None
    delta_to_own_best_s: Optional[float] = None
    is_clean: Optional[bool] = None
    exclusion_reasons: Optional[list[str]] = None
    preferred: Optional[bool] = None
    # pattern documents (engines/pattern.py, SCHEMA.md "ml_pattern_recommendations")
    stats: Optional[PatternStats] = None
    residual_sd_s: Optional[float] = None
    variance_share: Optional[dict[str, dict[str, float]]] = Field(
        None, description="per section set, section -> share of lap-time variance (sums to 1)")
    inconsistency_driver: Optional[str] = Field(None, description="section with the largest variance share")
    consistency_percentile: Optional[float] = Field(None, description="whole % of the other rated cars it is "
                                                    "more consistent than")
    more_consistent_than: Optional[int] = Field(None, description="the other rated cars with a larger residual SD")
    others: Optional[int] = Field(None, description="the other rated cars")
    consistency: Optional[Estimate] = Field(None, description="residual_sd_s with its 95% interval")
    consistency_n: Optional[int] = Field(None, description="laps the consistency is measured on")
    field_size: Optional[int] = Field(None, description="cars with enough clean laps")


class WeatherSensorSeries(Doc):
    label: str
    values: list[Optional[float]] = Field(description="one per reading, aligned with the series' minutes; null: no value")
    n: int = Field(description="readings with a value")


class WeatherLapMark(Doc):
    lap: int
    minute: float = Field(description="the field's median line crossing of this lap, minutes since the race start")
    field_median_s: Optional[float] = Field(None, description="the field's median clean lap time on this lap")
    n_clean: int = 0


class WeatherSeries(Doc):
    """Conditions through the race (DATA_REFERENCE §10.3): the readings from the start − margin to the last
    crossing + margin, and the lap axis on the same clock."""
    start_utc: Optional[str] = None
    start_basis: str
    n: int = Field(description="readings in the series")
    minutes: list[float] = Field(description="each reading's time, minutes since the race start")
    sensors: dict[str, WeatherSensorSeries]
    laps: list[WeatherLapMark] = Field(default_factory=list)
    note: Optional[str] = None


class WeatherEvidence(Doc):
    """The temperature model's added-variable points: their slope through the origin is the estimate."""
    n: int
    thinned: bool = False
    temp_resid_c: list[float]
    time_resid_s: list[float]
    car: list[str]
    lap: list[int]


class PlaceboChecked(Doc):
    """The weather model's lap-shape control and placebo check (DATA_REFERENCE §10.3), on every document that
    carries a temperature slope."""
    lap_shape_degree: Optional[int] = Field(None, description="degree of the field's lap shape (Legendre P2..P_degree)")
    se_clusters: Optional[str] = Field(None, description="what the standard errors are clustered by")
    placebo_tries: Optional[int] = Field(None, description="smooth placebo curves tried (DATA_REFERENCE §10.3)")
    placebo_identifiable: Optional[int] = None
    placebo_significant: Optional[int] = None
    placebo_false_positive_rate: Optional[float] = Field(
        None, description="share of identifiable placebo curves that came out significant; a slope is shown only "
                          "at or below placebo_max_rate")
    placebo_max_rate: Optional[float] = None
    placebo_seed: Optional[int] = None
    qualification: Optional[str] = Field(None, description="the placebo check in words, on a shown slope")


class PaceVsTrackTemp(PlaceboChecked):
    available: bool
    n: int = 0
    cars: Optional[int] = Field(None, description="cars in the within-race model")
    units: Optional[int] = Field(None, description="car units (a level and a lap trend each)")
    model: Optional[str] = Field(None, description="the model in words (formula, standard errors, placebo rule)")
    slope_s_per_c: Optional[Estimate] = None
    reason: Optional[str] = None
    note: Optional[str] = None
    evidence: Optional[WeatherEvidence] = None
    vif_track_temp: Optional[float] = None
    temp_span_c: Optional[float] = Field(None, description="the track temperature's range on the model's laps, °C")


class WeatherTrackModel(Recommendation, PlaceboChecked):
    """A track's races pooled (``scope`` track): lap time on track temperature with a level and a lap trend
    per car and race (DATA_REFERENCE §10), or why it is not identifiable."""
    races: Optional[list[str]] = None
    formula: Optional[str] = None
    identifiable: Optional[bool] = None
    cars: Optional[int] = None
    units: Optional[int] = None
    track_temp_s_per_c: Optional[Estimate] = Field(None, description="seconds of lap time per °C, when identifiable")
    residual_sd_s: Optional[float] = None
    temp_within_sd_c: Optional[float] = None
    temp_span_c: Optional[float] = None
    races_with_temp: Optional[int] = None
    vif_track_temp: Optional[float] = None
    vif_track_temp_with_race: Optional[float] = None
    note: Optional[str] = None


class WeatherCondition(Doc):
    """One sensor over the race window: its range, mean, first and last reading and drift (DATA_REFERENCE §10.3)."""
    label: str = Field(description="the sensor in words with its unit, e.g. 'air temperature (°C)'")
    n: int = Field(description="readings with a value")
    available: bool
    min: Optional[float] = None
    max: Optional[float] = None
    mean: Optional[float] = None
    first: Optional[float] = None
    last: Optional[float] = None
    drift_per_hour: Optional[float] = Field(None, description="least-squares slope of the readings per hour")


class Weather(Recommendation, PlaceboChecked):
    """A race's weather document (``scope`` race) with its track's pooled model as ``track_model``."""
    usable: Optional[bool] = None
    formula: Optional[str] = None
    identifiable: Optional[bool] = None
    cars: Optional[int] = None
    units: Optional[int] = None
    laps_with_weather: Optional[int] = None
    weather_rows: Optional[int] = None
    races: Optional[list[str]] = None
    params: Optional[dict[str, float]] = None
    conditions: Optional[dict[str, WeatherCondition]] = Field(
        None, description="per sensor (air_temp_c, track_temp_c, humidity_pct, wind_speed_kph, pressure_hpa)")
    series: Optional[WeatherSeries] = None
    pace_vs_track_temp: Optional[PaceVsTrackTemp] = None
    track_model: Optional[WeatherTrackModel] = None
    # a track document (scope track) stored in the same collection carries its model's fields at the top
    track_temp_s_per_c: Optional[Estimate] = None
    residual_sd_s: Optional[float] = None
    temp_within_sd_c: Optional[float] = None
    temp_span_c: Optional[float] = None
    races_with_temp: Optional[int] = None
    vif_track_temp: Optional[float] = None
    vif_track_temp_with_race: Optional[float] = None


class CoachingFact(Doc):
    """A fact the coaching cites: the engines' number (value, 95% interval lo/hi where estimated, n)."""
    fact_id: str
    text: str
    value: Optional[float] = None
    unit: str = ""
    n: int = 0
    lo: Optional[float] = None
    hi: Optional[float] = None
    digits: int = Field(3, description="decimals the value is displayed (and checked) at")
    source: Optional[str] = None
    kind: Optional[str] = Field(None, description="limit, section_loss, potential, consistency, trend, "
                                "section_detail, weather, data, rival, target")
    missing: bool = False
    section: Optional[str] = None
    lap: Optional[int] = None
    car: Optional[str] = Field(None, description="another car the fact is about (the rival), else null")
    rank: int = Field(0, description="1 = the fact that matters most")


class CoachingHypothesis(Doc):
    text: str
    supported_by: list[str]
    confidence: Literal["high", "medium", "low"] = Field(description="derived from the cited facts' intervals and n")
    confidence_basis: Optional[str] = None


class CoachingMeasure(Doc):
    metric: str
    target: float
    over_laps: int


class CoachingAction(Doc):
    section: Optional[str] = None
    action: str
    measure: CoachingMeasure
    evidence: list[str]


class CoachingGenerator(Doc):
    kind: Literal["deterministic", "openai_chat", "llama_cpp"]
    label: str
    model: Optional[str] = None
    endpoint: Optional[str] = None
    prompt_version: Optional[str] = None
    attempts: int = 0
    validation: Literal["accepted", "repaired", "fallback"]
    fallback_reason: Optional[str] = None
    errors: list[str] = Field(default_factory=list, description="validator messages of rejected answers")
    cached: bool = False
    latency_s: Optional[float] = None
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    brief_hash: Optional[str] = None


class CoachingFollowUp(Doc):
    """Race 1's finding checked on this race (DATA_REFERENCE §11.7)."""
    race_id: str = Field(description="the earlier race of the weekend")
    section: str
    place: Optional[str] = None
    race1: Estimate = Field(description="race 1's section loss there")
    race2: Optional[Estimate] = Field(None, description="this race's section loss there, null without statistics")
    held: bool
    text: str


class Coaching(Recommendation):
    """Coaching for one car-race (``type: coaching``); the full schema is serve/schemas/coaching.schema.json."""
    headline: str
    n_clean: int = 0
    facts: list[CoachingFact]
    hypotheses: list[CoachingHypothesis]
    actions: list[CoachingAction]
    generator: CoachingGenerator
    objective: Optional[Objective] = None
    follow_up: Optional[CoachingFollowUp] = None


class RecommendationPage(BaseModel):
    run_id: str
    count: int
    items: list[Union[Weather, Coaching, Recommendation]] = Field(
        description="section and pattern recommendations, weather documents and coaching, by ?type=")
    next_cursor: Optional[str] = Field(None, description="pass as ?cursor= for the next page; null on the last")


class CarDetail(BaseModel):
    run_id: str
    race_id: str
    car: Car
    composite: Optional[CarComposite] = Field(None, description="the car's entry in the race's composite document")
    pattern: Optional[Recommendation] = None
    sections: list[Recommendation] = Field(default_factory=list, description="car-scope section recommendations")


class TaskFailure(BaseModel):
    """Why a task failed: the failing cell (notebook executor) and the exception."""
    ename: str
    evalue: str = ""
    cell_index: Optional[int] = None
    exec_count: Optional[int] = None
    source: Optional[str] = Field(None, description="the failing cell's source (at most 1,000 characters)")


class FailedTask(BaseModel):
    task: str = Field(description="the task's key, e.g. 'coaching:barber-r1'")
    race_id: Optional[str] = None
    error: Union[TaskFailure, str, None] = Field(None, description="the failure: the notebook executor's record, "
                                                 "or 'Name: message' from the in-process executor")
    traceback: Optional[str] = None


class CarriedForFailed(BaseModel):
    """A failed task's documents as the previously active run served them (issue 18: never fewer served)."""
    task: str
    part: str = Field(description="the store part, '<race or track>.<task>'")
    carried: bool = Field(description="true: the earlier run's documents are served for it; false: see reason")
    from_run: Optional[str] = None
    counts: dict[str, int] = Field(default_factory=dict, description="documents carried, per collection")
    reason: Optional[str] = Field(None, description="why nothing was carried")


class RunCarried(BaseModel):
    """What this run serves from an earlier run: a subset run's unchanged parts and failed tasks' documents."""
    from_run: Optional[str] = None
    parts: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    for_failed: list[CarriedForFailed] = Field(default_factory=list)


class Run(Doc):
    run_id: str
    status: str = Field(description="writing, complete or failed")
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    heartbeat_at: Optional[str] = None
    counts: dict[str, int] = Field(default_factory=dict)
    data_version: Optional[str] = None
    code_version: Optional[str] = None
    format_version: Optional[int] = None
    failed_tasks: list[FailedTask] = Field(default_factory=list)
    carried: Optional[RunCarried] = None
    parts: list[str] = Field(default_factory=list, description="the store parts the run is made of")
    meta: dict = Field(default_factory=dict, description="what the writer recorded: races, engines, provenance")


class RunList(BaseModel):
    active_run_id: Optional[str] = None
    items: list[Run]


# ------------------------------------------------------------------ live mode (GET /live/...; kaizenlap.live)

LiveColour = Literal["overall_best", "personal_best", "none"]


class LiveSection(BaseModel):
    """A car's latest time in one section, its own best so far and the colour of the latest."""
    last_s: float
    lap: int
    best_s: float
    colour: LiveColour = Field(description="overall_best: the field's fastest so far; personal_best: the car's own")


class LiveEstimate(BaseModel):
    value: Optional[float] = None
    lo: Optional[float] = None
    hi: Optional[float] = None
    n: int = 0


class LiveSectionLoss(Doc):
    section: SectionName
    rank: int
    significant: bool
    section_loss: LiveEstimate
    loss: LiveEstimate
    pace_gap: LiveEstimate
    consistency_cost: LiveEstimate


class LiveSectionLosses(Doc):
    """The sections engine on the laps so far (the car's preferred set)."""
    section_set: Optional[str] = None
    available: bool
    n: int = 0
    total_loss_s: Optional[float] = None
    reason: Optional[str] = None
    sections: list[LiveSectionLoss] = Field(default_factory=list)


class LiveTrend(Doc):
    """The pattern engine on the laps so far: trend relative to the field, consistency."""
    available: bool
    n_clean: Optional[int] = None
    label: Optional[str] = None
    slope_s_per_lap: Optional[LiveEstimate] = None
    q_value: Optional[float] = None
    residual_sd_s: Optional[float] = None
    consistency_percentile: Optional[float] = None
    inconsistency_driver: Optional[str] = None


class LiveNote(Doc):
    """The coaching rules on the laps so far (docs/DATA_REFERENCE.md 13): a headline, the first action (only for
    a section whose loss beats the noise), what it rests on."""
    text: str
    action: Optional[str] = None
    section: Optional[str] = None
    n_clean: int = Field(0, description="clean laps the note rests on")
    n_laps: int = Field(0, description="laps completed by the car when the engines ran")


class LiveFlag(BaseModel):
    value: str = Field(description="the flag at the finish line as the timing file records it: GF, FCY, FF")
    since_t_s: Optional[float] = Field(None, description="race time of the first line crossing under this flag")
    since_lap: Optional[int] = Field(None, description="the leader's lap then")
    car: Optional[str] = Field(None, description="the car whose crossing first showed it")


class LiveTrack(BaseModel):
    name: Optional[str] = None
    outline: list[Point] = Field(description="the traced map (params/tracks), as the tracks endpoint gives it")
    sector_fractions: list[float]


class LiveCar(Doc):
    car: str
    number: Optional[str] = None
    class_: Optional[str] = Field(None, alias="class")
    driver_name: Optional[str] = None
    team: Optional[str] = None
    position: int
    laps: int = Field(description="laps completed")
    lap: Optional[int] = Field(None, description="the lap of the last timing point crossed")
    point: Optional[Literal["im1a", "im1", "im2a", "im2", "im3a", "fl"]] = None
    t_s: Optional[float] = Field(None, description="seconds since the start at the last crossing")
    gap_to_leader_s: Optional[float] = Field(None, description="behind the leader at the same timing point")
    laps_behind_leader: Optional[int] = None
    interval_s: Optional[float] = Field(None, description="behind the car ahead at the same timing point")
    laps_behind_ahead: Optional[int] = None
    last_lap_s: Optional[float] = None
    best_lap_s: Optional[float] = None
    best_lap: Optional[int] = None
    pit_in: bool = False
    sections: dict[str, LiveSection] = Field(default_factory=dict)
    section_losses: Optional[LiveSectionLosses] = None
    trend: Optional[LiveTrend] = None
    note: Optional[LiveNote] = None


class LiveFieldBest(Doc):
    """The field's fastest so far: a lap, or one section."""
    time_s: Optional[float] = None
    lap: Optional[int] = None
    car: Optional[str] = None


class LiveAnalysis(Doc):
    leader_lap: Optional[int] = Field(None, description="the leader lap the engines last ran at")
    laps: Optional[int] = None
    clean_laps: Optional[int] = None


class LiveCompositePart(BaseModel):
    section: str
    time_s: float
    car: str
    lap: Optional[int] = None
    race_id: Optional[str] = None
    n_laps: Optional[int] = Field(None, description="clean laps with a time in this section")


class LiveComposite(BaseModel):
    """The field's best-case lap so far over one section set: the fastest clean time of each section, summed."""
    available: bool
    reason: Optional[str] = None
    total_s: Optional[float] = None
    n_laps: Optional[int] = None
    components: list[LiveCompositePart] = Field(default_factory=list)


class LiveField(BaseModel):
    best_lap: Optional[LiveFieldBest] = None
    sections: dict[str, LiveFieldBest] = Field(default_factory=dict, description="the fastest time so far per section")
    composite: Optional[dict[str, LiveComposite]] = Field(None, description="field composite per section set "
                                                          "(clean laps)")
    analysis: Optional[LiveAnalysis] = Field(None, description="the leader lap the engines last ran at, laps, clean laps")


class LiveState(Doc):
    """The race after the crossings so far (docs/DATA_REFERENCE.md "Live mode")."""
    race_id: str
    track_id: str
    race_number: Optional[int] = None
    date: Optional[str] = None
    start_utc: Optional[str] = None
    clock_utc: Optional[str] = None
    t_s: Optional[float] = None
    crossings: int
    leader: Optional[str] = None
    leader_lap: int
    order: list[str]
    cars: dict[str, LiveCar]
    flag: Optional[LiveFlag] = Field(None, description="the flag at the line of the latest line crossing (the "
                                     "timing file carries no sector flags)")
    track: Optional[LiveTrack] = Field(None, description="the track map, for the cars' estimated positions")
    field: LiveField


class LiveSnapshot(BaseModel):
    race_id: str
    last_event_id: int = Field(description="the state is the fold of the events up to this id")
    ended: bool = Field(description="the feed ended (an end event was published)")
    state: LiveState


class LiveCrossing(BaseModel):
    car: str
    lap: int
    point: Literal["im1a", "im1", "im2a", "im2", "im3a", "fl"]
    time_utc: str
    t_s: float
    sections: dict[str, float] = Field(default_factory=dict, description="section times this crossing completes")


class LivePatchOp(BaseModel):
    op: Literal["add", "replace", "remove"]
    path: str = Field(description="JSON Pointer into the state")
    value: Optional[object] = None


class LiveEvent(BaseModel):
    """One stored event: initial (data.state), update (data.crossing, data.patch: RFC 6902 against the state
    after the previous event) or end."""
    id: int
    race_id: str
    kind: Literal["initial", "update", "end"]
    at: str = Field(description="when it was published (UTC)")
    data: dict


class LiveEventPage(BaseModel):
    race_id: str
    last_event_id: int
    items: list[LiveEvent]


# telemetry (engine 5; SCHEMA.md "telemetry", docs/DATA_REFERENCE.md 12.1)
class TelemetryCornerInfo(Doc):
    corner: str = Field(description="the corner's name (params/tracks)")
    distance_m: float = Field(description="the corner's distance from the line, m")
    segment_m: Optional[list[float]] = Field(None, description="the part of the lap the corner owns, m")


class TelemetryCornerStats(Doc):
    """One car in one corner: medians over its clean complete laps, each with its 95% interval and n."""
    corner: str
    distance_m: Optional[float] = None
    brake_m: Estimate = Field(description="brake onset, m from the line")
    min_kph: Estimate = Field(description="minimum speed, km/h")
    exit_kph: Estimate = Field(description="exit speed, km/h")
    pickup_m: Optional[Estimate] = Field(None, description="throttle pick-up, m from the line")
    delta_s: Optional[Estimate] = Field(None, description="time lost to the car's own best lap in the corner, s")


class TelemetryReferenceLap(BaseModel):
    basis: str = Field(description="how the lap was chosen, e.g. 'best clean lap'")
    lap: Optional[int] = Field(None, description="the lap number in the timing files")
    car_lap: Optional[int] = Field(None, description="the lap counter the car's telemetry carries")
    time_s: Optional[float] = None


class TelemetryReaderIssue(BaseModel):
    code: str
    message: str
    file: Optional[str] = None
    line: Optional[int] = None


class TelemetrySectorCheck(BaseModel):
    sector: str
    n: int
    median_abs_error_s: Optional[float] = None
    max_abs_error_s: Optional[float] = None
    n_residual: int = 0
    median_abs_residual_s: Optional[float] = None
    max_abs_residual_s: Optional[float] = None


class TelemetryFlaggedLap(BaseModel):
    vehicle_id: str
    car: Optional[str] = None
    lap: int
    error_s: Optional[list[Optional[float]]] = Field(None, description="S1-S3: telemetry - official, s")
    residual_s: Optional[list[Optional[float]]] = None


class TelemetrySectionCheck(BaseModel):
    tolerance_s: float
    n_laps: int
    n_flagged: int = 0
    n_beyond_raw: Optional[int] = None
    sectors: list[TelemetrySectorCheck] = Field(default_factory=list)
    flagged: list[TelemetryFlaggedLap] = Field(default_factory=list)


class TelemetryCar(Doc):
    car: Optional[str] = None
    vehicle_id: str
    reference: Optional[TelemetryReferenceLap] = Field(None, description="the car's best clean lap")
    n_laps_used: Optional[int] = None
    corners: list[TelemetryCornerStats] = Field(default_factory=list)


class RaceTelemetry(BaseModel):
    run_id: str
    race_id: str
    track_id: Optional[str] = None
    available: bool
    reason: Optional[str] = None
    length_m: Optional[float] = None
    reference_car: Optional[str] = Field(None, description="the car with the fastest best lap (the default reference)")
    corners: list[TelemetryCornerInfo]
    cars: list[TelemetryCar]
    not_computed: int = Field(0, description="values that could not be computed (the engine's document lists why)")
    issues: list[TelemetryReaderIssue] = Field(default_factory=list, description="telemetry rows set aside by "
                                               "the reader: code, message, file, first line")
    section_check: Optional[TelemetrySectionCheck] = Field(None, description="telemetry sector times against the official S1-S3 on "
                                         "every lap matched to the timing: tolerance_s, n_laps, per sector the median "
                                         "and largest error, the laps flagged (DATA_REFERENCE 10.7)")


class TelemetryChannels(BaseModel):
    speed_kph: Optional[list[float]] = None
    throttle_pct: Optional[list[float]] = None
    brake_bar: Optional[list[float]] = None


class TelemetryCornerDelta(Doc):
    corner: str
    distance_m: float
    segment_m: Optional[list[float]] = Field(None, description="the part of the lap the corner owns, m")
    delta_s: Optional[float] = Field(None, description="car segment time - reference segment time, s (adds up "
                                                       "to lap_delta_s over the corners)")
    brake_m: Optional[float] = None
    ref_brake_m: Optional[float] = None
    brake_m_diff: Optional[float] = Field(None, description="negative: the car brakes earlier, m")
    min_kph: Optional[float] = None
    ref_min_kph: Optional[float] = None
    min_kph_diff: Optional[float] = None
    exit_kph: Optional[float] = None
    ref_exit_kph: Optional[float] = None
    exit_kph_diff: Optional[float] = None


class TelemetryLapChoice(BaseModel):
    lap: Union[int, str] = Field(description="the timing's lap number (`c<n>`: known only by the car's counter)")
    lap_time_s: Optional[float] = None
    duration_s: float
    is_clean: Optional[bool] = None
    role: Optional[str] = Field(None, description="`best` (its best clean lap), `median` (its median clean lap)")


class TelemetryTypical(BaseModel):
    lap: Optional[int] = None
    n: Optional[int] = Field(None, description="clean complete laps the median is taken over")
    basis: Optional[str] = None


class TelemetryComparison(BaseModel):
    """A lap of a car against a reference lap (another car's best, or its own best), on one distance grid
    (``step_m``)."""
    run_id: str
    race_id: str
    car: str
    reference_car: str
    own_best: bool = Field(False, description="the reference is the car's own best lap")
    lap: Optional[int] = None
    lap_kind: str = Field("best", description="`best`, `median` (its median clean lap) or `chosen` (another lap: "
                                              "no channels, the delta trace from its every-`delta_step_m` trace)")
    reference_lap: Optional[int] = None
    lap_time_s: Optional[float] = None
    reference_lap_time_s: Optional[float] = None
    duration_s: float
    reference_duration_s: float
    lap_delta_s: float = Field(description="duration - reference duration, s")
    corner_delta_sum_s: float = Field(description="the corners' parts added up (equals lap_delta_s)")
    step_m: float
    delta_step_m: Optional[float] = Field(None, description="the resolution of the delta trace, m (5; 10 for a "
                                                            "lap other than the best and the median)")
    distance_m: list[float]
    delta_s: list[float] = Field(description="car time - reference time at each distance, s (positive: behind)")
    channels: TelemetryChannels
    reference_channels: TelemetryChannels
    corners: list[TelemetryCornerDelta]
    laps: list[TelemetryLapChoice] = Field(default_factory=list, description="the car's complete laps")
    typical: Optional[TelemetryTypical] = Field(None, description="the car's median clean lap")
