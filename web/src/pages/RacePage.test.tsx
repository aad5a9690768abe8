import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import type { Quality } from "../api/client";
import type { Race } from "../api/client";
import { QualitySummary, RaceSummary } from "./RacePage";
import { pageTitle } from "../title";

afterEach(cleanup);

describe("data quality on the race page", () => {
  const q = {
    race_id: "r", status: "loaded", n_laps: 500, n_clean: 410, counts: {}, by_code: {}, reconciliation: [],
    exclusions: [{ flag: "first_lap", laps: 21, only_this_flag: 8 }, { flag: "caution", laps: 42, only_this_flag: 0 },
      { flag: "deleted", laps: 0, only_this_flag: 0 }, { flag: "pit_in", laps: 1, only_this_flag: 1 }],
    issues: Array.from({ length: 39 }, (_, i) => ({ code: "x", severity: "warning", message: `issue ${i + 1}` })),
  } as unknown as Quality;
  it("says the exclusion flags in words, and every issue can be shown", () => {
    const { getByTestId } = render(<QualitySummary q={q} />);
    const chips = getByTestId("exclusions").textContent!;
    expect(chips).toContain("first lap (start): 21 laps");
    expect(chips).toContain("caution (not green): 42 laps");
    expect(chips).toContain("pit in: 1 lap");
    expect(chips).not.toContain("first_lap");
    expect(chips).not.toContain("deleted");                      // no laps: no chip
    expect(getByTestId("quality-issues").querySelectorAll("li")).toHaveLength(6);
    const more = getByTestId("quality-more");
    expect(more.textContent).toBe("Show 33 more");
    expect(more.getAttribute("aria-expanded")).toBe("false");
    fireEvent.click(more);
    expect(getByTestId("quality-issues").querySelectorAll("li")).toHaveLength(39);
    expect(more.getAttribute("aria-expanded")).toBe("true");
    fireEvent.click(more);
    expect(getByTestId("quality-issues").querySelectorAll("li")).toHaveLength(6);
  });
  it("titles name the view", () => {
    expect(pageTitle("Season")).toBe("KaizenLap — Season");
    expect(pageTitle("Barber race 1", "car 13", "sections")).toBe("KaizenLap — Barber race 1 · car 13 · sections");
    expect(pageTitle("Barber race 1", undefined, false)).toBe("KaizenLap — Barber race 1");
  });
});

describe("the race page opens on the race's story", () => {
  it("a summary: winner, podium, fastest lap, lapped and DNF cars, and a way into the winner's car", () => {
    const cars = [["13", 24, 97.1], ["7", 24, 97.3], ["2", 23, 96.9], ["5", 10, 98.0]].map(([car, laps, best]) =>
      ({ car, laps, clean_laps: 20, best_lap_s: best, best_lap_number: 9 }));
    const race = { race_id: "r", track_id: "t", race_number: 1, n_cars: 4, n_laps: 81, n_clean: 70, status: "loaded", cars } as unknown as Race;
    const q = { reconciliation: cars.map((c, i) => ({ car: c.car, official_position: i + 1, official_laps: c.laps })) } as unknown as Quality;
    let picked = "";
    const { getByTestId } = render(<RaceSummary race={race} quality={q} onPick={(c) => (picked = c)} />);
    const t = getByTestId("race-summary").textContent!;
    expect(getByTestId("summary-winner").textContent).toBe("Winner: car #13, 24 laps. Podium: #13, #7, #2.");
    expect(t).toContain("Fastest lap: car #2, 1:36.900 (lap 9).");
    expect(t).toContain("2 cars on the lead lap, 1 lapped, 1 did not finish (#5).");
    fireEvent.click(getByTestId("open-winner"));
    expect(picked).toBe("13");
  });
});
