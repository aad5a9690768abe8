import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import type { Quality } from "../api/client";
import { QualitySummary } from "./RacePage";
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
