"""The quality ledger: one vocabulary of reason codes for everything ingest notices.

An :class:`Issue` names the file, and where it can, the line (1-based, header = line 1) and
column, so a person can open the file and see the problem.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# code -> (severity, meaning). Severity: "error" (data lost or race not loadable),
# "warning" (data repaired, suspect or missing), "info" (a documented fact of the data).
CODES: dict[str, tuple[str, str]] = {
    "unreadable_file": ("error", "file is empty, binary or not text in a known encoding"),
    "wrong_delimiter": ("error", "the header is not separated by the delimiter this file type uses"),
    "missing_column": ("error", "a required column is absent from the header"),
    "malformed_row": ("error", "a row with the wrong number of fields; dropped"),
    "duplicate_column": ("error", "a column name appears twice in the header with different contents"),
    "no_data_rows": ("error", "the file has a header and no data rows"),
    "over_limit": ("error", "a file or zip entry beyond the size limits of params/ingest.yaml: limits; not read"),
    "duplicate_rows": ("warning", "rows repeated exactly (same car, lap and times); the copies dropped"),
    "ingest_error": ("error", "an unexpected fault while reading the race; the traceback is in the log file"),
    "bad_value": ("error", "a field that should hold a number or time does not; set missing"),
    "duplicate_file": ("warning", "the same race file was found twice with identical content; one used"),
    "conflicting_files": ("error", "two different files claim the same race and role"),
    "no_race_files": ("warning", "an input holds no TRD race file"),
    "unknown_track": ("warning", "no track in params/tracks matches the file's path"),
    "missing_file": ("warning", "a file the race normally has is absent"),
    "date_assumed": ("warning", "no weather or lap events to date the race: the event's date was assumed"),
    "missing_sectors": ("warning", "laps with one or more of S1..S3 missing"),
    "missing_subsections": ("info", "laps with one or more of the six sub-section times missing"),
    "subsections_from_elapsed": ("info", "sub-section times derived from the *_elapsed columns"),
    "sentinel_value": ("warning", "a sentinel stood for a missing or absent reading; set missing"),
    "shared_car_number": ("warning", "two cars share a number in one race; told apart by instance"),
    "sector_sum_mismatch": ("warning", "S1+S2+S3 differs from LAP_TIME beyond the tolerance"),
    "timing_glitch": ("warning", "a section time below the physical floor"),
    "deleted_lap": ("info", "a lap the officials deleted (track limits), shown by LAP_IMPROVEMENT or the best-10 file"),
    "lap_events_mismatch": ("warning", "a car-side lap-event file whose session or date is not this race's"),
    "car_missing_from_source": ("warning", "a car present in one source of the race and absent in another"),
    "results_amended": ("info", "the official results differ from the provisional ones"),
    "best_lap_mismatch": ("error", "a car's best lap differs from the official best-10 file"),
    "best10_mismatch": ("error", "a car's ten best laps differ from the official best-10 file"),
    "laps_completed_mismatch": ("error", "a car's lap count differs from the official results"),
    "fastest_lap_mismatch": ("error", "a car's fastest lap differs from the official results"),
    "bad_car_number": ("error", "a car number that cannot name a car (not 1-16 letters or digits); its rows dropped"),
    "car_number_normalised": ("warning", "a car number written with invisible or compatibility characters; "
                                         "normalised"),
    "bad_race_number": ("error", "a race number outside 1..limits.max_race_number; the file not used"),
    "encoding_repaired": ("warning", "lines of a file that are not UTF-8, decoded as Latin-1"),
    "midnight_crossing": ("info", "the race runs past local midnight: crossings after it are dated the next day"),
    "outside_race_window": ("warning", "a weather reading far outside the race's laps; dropped"),
    # car telemetry (kaizenlap/ingest/telemetry.py): counted per file, the first line named
    "telemetry_bad_value": ("warning", "telemetry rows whose value is not a finite number or whose time is not a "
                            "time; dropped"),
    "telemetry_out_of_range": ("warning", "telemetry values outside their channel's physical range; dropped"),
    "telemetry_duplicate_rows": ("warning", "telemetry rows repeating a car, channel and timestamp; the first kept"),
    "telemetry_unknown_channel": ("info", "telemetry channels the project does not use; kept"),
}


class UnreadableFile(Exception):
    """A file that cannot be used at all; ``issue`` says why and where (file, line, column)."""

    def __init__(self, issue: "Issue"):
        super().__init__(str(issue))
        self.issue = issue


@dataclass
class Issue:
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: str | None = None
    car: str | None = None
    laps: list[int] | None = None
    severity: str = field(default="")

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown ledger code {self.code!r}")
        if not self.severity:
            self.severity = CODES[self.code][0]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def where(self) -> str:
        parts = [self.file or "race-level"]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.code}: {self.message} ({self.where()})"
