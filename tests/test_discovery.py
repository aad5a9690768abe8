"""File discovery by rule: role from the name, race number from the name or folder, track from aliases.
Includes the layouts of the two tracks not in ../shared/trd (Sebring, VIR)."""
from pathlib import Path

import pytest

from kaizenlap.ingest.files import SourceFile
from kaizenlap.ingest.sources import classify, race_number, track_of


@pytest.mark.parametrize("path,role,number,track", [
    ("barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV", "sections", 1, "barber"),
    ("COTA/Race 2/23_AnalysisEnduranceWithSections_ Race 2_Anonymized.CSV", "sections", 2, "cota"),
    ("indianapolis/23_AnalysisEnduranceWithSections_Race 2.CSV", "sections", 2, "indianapolis"),
    ("Sonoma/Race 1/03_Results_Anonymized.CSV", "results_overall", 1, "sonoma"),
    ("Sonoma/Race 2/03_Provisional_Results_Race 2_Anonymized.CSV", "results_overall", 2, "sonoma"),
    ("COTA/Race 1/00_Results GR Cup Race 1 Official_Anonymized.CSV", "results_overall", 1, "cota"),
    ("road-america/Road America/Race 1/05_Results by Class GR Cup Race 1 Official_Anonymized.CSV",
     "results_class", 1, "road-america"),
    ("indianapolis/05_GR Cup Race 2 Official Results by Class.CSV", "results_class", 2, "indianapolis"),
    ("barber/99_Best 10 Laps By Driver_Race 2_Anonymized.CSV", "best10", 2, "barber"),
    ("Sonoma/Race 1/26_Weather_Race 1_Anonymized.CSV", "weather", 1, "sonoma"),
    ("barber/R1_barber_lap_time.csv", "lap_time", 1, "barber"),
    ("barber/R2_barber_lap_start.csv", "lap_start", 2, "barber"),
    ("COTA/Race 1/COTA_lap_start_time_R1.csv", "lap_start", 1, "cota"),
    ("COTA/Race 2/COTA_lap_end_time_R2.csv", "lap_end", 2, "cota"),
    ("road-america/Road America/Race 2/road_america_lap_end_R2.csv", "lap_end", 2, "road-america"),
    ("indianapolis/R1_indianapolis_motor_speedway_lap_time.csv", "lap_time", 1, "indianapolis"),
    # unseen tracks, their own nestings
    ("sebring/Sebring/Race 1/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV", "sections", 1, "sebring"),
    ("sebring/Sebring/Race 2/sebring_lap_time_R2.csv", "lap_time", 2, "sebring"),
    ("virginia-international-raceway/VIR/Race 1/26_Weather_Race 1_Anonymized.CSV", "weather", 1, "vir"),
    ("virginia-international-raceway/VIR/Race 2/R2_virginia_international_raceway_lap_end.csv", "lap_end", 2,
     "vir"),
    ("VIR/Race 2/03_Results_Anonymized.CSV", "results_overall", 2, "vir"),
])
def test_rules(path, role, number, track):
    src = SourceFile(Path("/data") / path)
    assert (classify(src), race_number(src), track_of(src)) == (role, number, track)


def test_zip_member_uses_zip_and_member_path():
    src = SourceFile(Path("/downloads/virginia-international-raceway.zip"), "VIR/Race 2/99_Best 10 Laps By Driver_Race 2_Anonymized.CSV")
    assert (classify(src), race_number(src), track_of(src)) == ("best10", 2, "vir")


@pytest.mark.parametrize("name", ["GR Drivers Championship-1.csv", "Indy_Circuit_Map.pdf", "notes.txt",
                                  "barber_telemetry_notes.csv"])
def test_ignored(name):
    assert classify(SourceFile(Path("/data/barber") / name)) is None
