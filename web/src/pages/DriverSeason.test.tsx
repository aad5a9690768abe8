import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import type { CarSeason } from "../api/client";
import { SeasonView } from "./DriverSeason";

afterEach(cleanup);

const est = (value: number | null, lo: number | null, hi: number | null, n: number) => ({ value, lo, hi, n, method: "" });
const finish = (position: number) => ({ position, class_position: null, laps: 24, laps_down: 0, winner_laps: 24, status: "lead lap", dnf: false, field_size: 21 });
const finding = { section: "im3a", set: "subsections", section_loss: est(0.303, 0.239, 0.337, 20) };
const season: CarSeason = {
  run_id: "r", car: "13", n_races: 2, findings_checked: 1, findings_held: 1, races: [
    { race_id: "barber-r1", track_id: "barber", race_number: 1, date: "2025-09-06", class: "Am", laps: 24, clean_laps: 20,
      best_lap_s: 97.13, finish: finish(4), pace_gap: est(-0.8145, -0.937, -0.434, 20), consistency: est(0.216, 0.163, 0.319, 20),
      finding, objective: { section: "im3a", action: "In IM3A, bring the median time down to 71.177 s.", headline: "h" }, previous: null },
    { race_id: "barber-r2", track_id: "barber", race_number: 2, date: "2025-09-07", class: "Am", laps: 24, clean_laps: 24,
      best_lap_s: 96.9, finish: finish(2), pace_gap: est(-0.7, -0.9, -0.5, 24), consistency: null, finding,
      objective: null, previous: { race_id: "barber-r1", finding, held: true, now: est(0.296, 0.269, 0.315, 24), chance: 0.5 } },
  ] } as unknown as CarSeason;

describe("the season page of a car", () => {
  it("one card per race: finish, pace with n, objective, last race's finding, a link into the race's car view", () => {
    let picked: string | undefined = "none";
    const { getByTestId } = render(<MemoryRouter><SeasonView d={season} tracks={[{ track_id: "barber", name: "Barber" }] as never}
      selected="barber-r2" onSelect={(r) => { picked = r; }} /></MemoryRouter>);
    expect(getByTestId("season-summary").textContent).toContain("ran 2 races");
    expect(getByTestId("season-summary").textContent).toContain("held at the next race there in 1 of 1");
    expect(getByTestId("season-summary").textContent).toContain("Recurring weakness: IM3A at Barber (2 races)");
    const r1 = getByTestId("season-race-barber-r1");
    expect(r1.textContent).toContain("P4 of 21 · lead lap · 24 laps; best lap 1:37.130");
    expect(r1.textContent).toContain("n=20 clean laps");
    expect(r1.textContent).toContain("bring the median time down to 1:11.177");       // lap times m:ss.mmm
    expect(r1.textContent).toContain("First race at this track");
    expect(getByTestId("season-open-barber-r1").getAttribute("href")).toBe("/race/barber-r1?car=13");
    const r2 = getByTestId("season-race-barber-r2");
    expect(r2.textContent).toContain("Held: Barber race 1's weakest section IM3A");
    expect(r2.textContent).toContain("no coaching published for this race");
    expect(getByTestId("season-pace-chart").querySelectorAll("circle")).toHaveLength(2);
    expect(getByTestId("season-pace-chart").querySelectorAll("line")).toHaveLength(3);   // zero line + 2 intervals
    fireEvent.click(getByTestId("season-select-barber-r2"));                              // selected: unselect
    expect(picked).toBeUndefined();
    fireEvent.click(getByTestId("season-select-barber-r1"));
    expect(picked).toBe("barber-r1");
  });
});

describe("the chart's race labels", () => {
  it("short track names", async () => {
    const { shortName } = await import("./DriverSeason");
    expect(shortName("Circuit of the Americas")).toBe("COTA");
    expect(shortName("Barber Motorsports Park")).toBe("Barber");
    expect(shortName("Indianapolis Motor Speedway")).toBe("Indianapolis");
    expect(shortName("road-america")).toBe("road-america");
  });
});
