import { describe, expect, it } from "vitest";
import type { Car, Quality } from "./api/client";
import { dnfLaps, results } from "./results";

const car = (id: string, laps: number): Car => ({ car: id, laps, clean_laps: laps - 2 });
const rec = (id: string, pos: number | null, laps: number) => ({ car: id, official_position: pos, official_laps: laps, laps });

describe("race results per car", () => {
  it("gap to the winner in laps; a car far down stopped early (DNF)", () => {
    const cars = [car("13", 24), car("7", 24), car("2", 23), car("5", 21), car("9", 12)];
    const q = { reconciliation: [rec("13", 1, 24), rec("7", 2, 24), rec("2", 3, 23), rec("5", 4, 21), rec("9", 5, 12)] } as unknown as Quality;
    const r = results(cars, q);
    expect(dnfLaps(24)).toBe(3);
    expect(r.get("13")!.status).toBe("winner");
    expect(r.get("7")!.status).toBe("lead lap");
    expect(r.get("2")!.status).toBe("+1 lap");
    expect(r.get("5")!).toMatchObject({ status: "DNF (21 laps)", dnf: true, lapsDown: 3, position: 4 });
    expect(r.get("9")!.status).toBe("DNF (12 laps)");
  });
  it("no official position and fewer laps: DNF; without results the most laps leads", () => {
    const cars = [car("1", 20), car("2", 19)];
    expect(results(cars, { reconciliation: [rec("1", 1, 20), rec("2", null, 19)] } as unknown as Quality).get("2")!.status).toBe("DNF (19 laps)");
    const r = results(cars);
    expect(r.get("1")!.status).toBe("winner");
    expect(r.get("2")!.status).toBe("+1 lap");
  });
});
