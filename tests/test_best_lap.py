"""A best lap means one thing: inspect's reconciliation and the store's /races/{id}/cars agree on every
car, and both equal the official best-10 file's best lap (real races)."""
import pandas as pd

from kaizenlap.store.ingest_documents import race_document


def test_reconcile_and_store_agree_on_every_real_car(real_races):
    checked = official = 0
    for rid, race in real_races.items():
        rec = race.reconciliation.set_index("car")
        for c in race_document(race)["cars"]:
            r = rec.loc[c["car"]]
            assert (c["best_lap_s"] is None) == pd.isna(r["best_lap_s"]), (rid, c["car"])
            if c["best_lap_s"] is not None:
                assert abs(c["best_lap_s"] - r["best_lap_s"]) < 1e-9 and c["best_lap_number"] == r["best_lap_number"], \
                    (rid, c["car"], c["best_lap_s"], r["best_lap_s"])
                checked += 1
                if not pd.isna(r["official_best_lap_s"]):
                    official += 1
                    assert abs(c["best_lap_s"] - r["official_best_lap_s"]) < 0.0005, (rid, c["car"])
    assert checked > 250 and official > 200
