import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import { CarLiveDetail, LapCounter, TimingTower } from "./components";
import type { LiveState } from "./feed";

afterEach(cleanup);

const car = (id: string, position: number, extra: object = {}) => ({ car: id, number: id, position, laps: 3, pit_in: false, ...extra });
const state = {
  race_id: "r", track_id: "t", crossings: 60, leader_lap: 3, t_s: 301.5, order: ["22", "11", "7"],
  field: { best_lap: { car: "22", lap: 2, time_s: 95.709 } },
  cars: {
    "22": car("22", 1, { best_lap_s: 95.709, last_lap_s: 96.1, sections: { s1: { last_s: 27.818, lap: 3, best_s: 27.818, colour: "overall_best" } } }),
    "11": car("11", 2, { gap_to_leader_s: 1.5, interval_s: 1.5, laps_behind_leader: 0, laps_behind_ahead: 0, best_lap_s: 97.393,
      sections: { s1: { last_s: 28.0, lap: 3, best_s: 28.0, colour: "personal_best" }, s2: { last_s: 40.1, lap: 3, best_s: 39.9, colour: "none" } } }),
    "7": car("7", 3, { laps: 2, gap_to_leader_s: 101.2, interval_s: 99.7, laps_behind_leader: 1, laps_behind_ahead: 1, pit_in: true }),
  },
} as unknown as LiveState;

describe("live components", () => {
  it("the tower: order, gaps, lap times, sector colours, a click picks the car", () => {
    const pick = vi.fn();
    const { container, getByLabelText } = render(<TimingTower state={state} selected="11" onPick={pick} />);
    const rows = [...container.querySelectorAll("tbody tr")] as HTMLElement[];
    expect(rows.map((r) => r.dataset.car)).toEqual(["22", "11", "7"]);
    const col = (r: HTMLElement, c: string) => r.querySelector(`[data-col=${c}]`)!.textContent;
    expect(col(rows[0], "gap")).toBe("Leader");
    expect(col(rows[1], "gap")).toBe("+1.500");
    expect(col(rows[2], "gap")).toBe("+1 lap");
    expect(col(rows[0], "best")).toBe("1:35.709");
    expect(col(rows[0], "last")).toBe("1:36.100");
    const colours = (r: HTMLElement) => [...r.querySelectorAll("[data-sector]")].map((c) => (c as HTMLElement).dataset.colour);
    expect(colours(rows[0])).toEqual(["overall_best", "none", "none"]);
    expect(colours(rows[1])).toEqual(["personal_best", "none", "none"]);
    expect(rows[0].querySelector("[data-sector=s1]")!.textContent).toContain("(overall best)");
    expect(rows[2].textContent).toContain("PIT");
    expect(container.querySelector("thead")!.textContent).not.toContain("Driver");      // no names in this feed
    fireEvent.click(getByLabelText("car 7"));
    expect(pick).toHaveBeenCalledWith("7");
  });

  it("the lap counter and a car with no analysis yet", () => {
    const { getByTestId, getByText } = render(<><LapCounter state={state} /><CarLiveDetail car={state.cars["7"]} state={state} /></>);
    expect(getByTestId("lap-counter").textContent).toContain("Lap 3");
    expect(getByText(/No analysis yet/)).toBeTruthy();
  });
});
