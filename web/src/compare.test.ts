import { describe, expect, it } from "vitest";
import type { Car, Lap, Quality, Recommendation } from "./api/client";
import { compareCars, cumulativeDelta, defaultReference, fasterIn, lapDomain, lapPoints, medians, referenceChoices, verdict } from "./compare";

const est = (value: number, lo?: number, hi?: number) => ({ value, lo, hi, n: 10, method: "" });
const rec = (section: string, set: string, median: ReturnType<typeof est> | null): Recommendation =>
  ({ id: `x~${section}`, section, section_set: set, median } as unknown as Recommendation);

describe("cumulative delta over the sections", () => {
  it("accumulates car minus reference in lap order, each step's difference and whether it clears the intervals", () => {
    const car = new Map([["a", est(10.0, 9.9, 10.1)], ["b", est(20.5, 20.4, 20.6)], ["c", est(30.0, 29.8, 30.2)]]);
    const ref = new Map([["a", est(10.3, 10.2, 10.4)], ["b", est(20.0, 19.9, 20.1)], ["c", est(30.1, 29.9, 30.3)]]);
    const d = cumulativeDelta(car, ref, ["a", "b", "c"]);
    expect(d.steps.map((s) => s.diff!.toFixed(3))).toEqual(["-0.300", "0.500", "-0.100"]);
    expect(d.steps.map((s) => s.cum!.toFixed(3))).toEqual(["-0.300", "0.200", "0.100"]);
    expect(d.steps.map((s) => s.verdict)).toEqual(["clear-car", "clear-ref", "overlap"]);
    expect(d.total).toBeCloseTo(0.1, 9);
    expect(d.complete).toBe(true);
    expect(d.steps.map(fasterIn)).toEqual(["car", "ref", "car"]);
  });
  it("a section either car lacks adds nothing and marks the sum incomplete; no interval is said so", () => {
    const d = cumulativeDelta(new Map([["a", est(10)], ["b", est(5, 4, 6)]]), new Map([["a", est(9, 8.9, 9.1)]]), ["a", "b"]);
    expect(d.steps[0].verdict).toBe("no-interval");
    expect(d.steps[1].verdict).toBe("missing");
    expect(d.steps[1].cum).toBe(1);
    expect(fasterIn(d.steps[1])).toBeUndefined();
    expect(d.total).toBe(1);
    expect(d.complete).toBe(false);
    expect(verdict(est(1, 0.9, 1.1), est(1.1, 1.05, 1.2))).toBe("overlap");
  });
  it("uses the sub-sectors where both cars have all six, else the three sectors", () => {
    const subs = ["im1a", "im1", "im2a", "im2", "im3a", "fl"];
    const carRecs = [...subs.map((s, i) => rec(s, "subsections", est(10 + i))), ...["s1", "s2", "s3"].map((s) => rec(s, "sectors", est(30)))];
    const refRecs = [...subs.map((s, i) => rec(s, "subsections", est(10 + i - 0.1))), ...["s1", "s2", "s3"].map((s) => rec(s, "sectors", est(29)))];
    const full = compareCars(carRecs, refRecs);
    expect(full.set).toBe("subsections");
    expect(full.total).toBeCloseTo(0.6, 9);
    const partial = compareCars(carRecs, refRecs.filter((r) => r.section !== "fl"));
    expect(partial.set).toBe("sectors");
    expect(partial.total).toBeCloseTo(3, 9);
    expect(medians([rec("s1", "sectors", null)], "sectors").size).toBe(0);
  });
});

describe("reference cars", () => {
  const cars = [
    { car: "1", class: "Pro", laps: 20, best_lap_s: 95 }, { car: "2", class: "Am", laps: 20, best_lap_s: 96 },
    { car: "3", class: "Pro", laps: 20, best_lap_s: 95.5 }, { car: "4", class: "Am", laps: 19, best_lap_s: 97 },
  ] as unknown as Car[];
  const quality = { reconciliation: [
    { car: "1", official_position: 1, official_laps: 20 }, { car: "2", official_position: 2, official_laps: 20 },
    { car: "3", official_position: 3, official_laps: 20 }, { car: "4", official_position: 4, official_laps: 19 },
  ] } as unknown as Quality;
  it("the car ahead at the flag, the winner, the best-placed other car of the class", () => {
    expect(referenceChoices(cars, quality, "4")).toEqual({ ahead: "3", behind: undefined, winner: "1", classBest: "2" });
    expect(referenceChoices(cars, quality, "3")).toEqual({ ahead: "2", behind: undefined, winner: "1", classBest: "1" });
  });
  it("the winner has no car ahead: the one behind is its default", () => {
    const ch = referenceChoices(cars, quality, "1");
    expect(ch).toEqual({ ahead: undefined, behind: "2", winner: undefined, classBest: "3" });
    expect(defaultReference(ch)).toBe("2");
  });
});

describe("both cars' laps", () => {
  it("keeps timed laps in order and scales the axis on the clean ones", () => {
    const laps = [{ lap: 2, lap_time_s: 96, is_clean: true }, { lap: 1, lap_time_s: 120, is_clean: false },
      { lap: 3, lap_time_s: null, is_clean: false }, { lap: 4, lap_time_s: 95, is_clean: true }] as unknown as Lap[];
    const pts = lapPoints(laps);
    expect(pts.map((p) => p.lap)).toEqual([1, 2, 4]);
    const [lo, hi] = lapDomain([pts]);
    expect(lo).toBeCloseTo(94.8, 9);
    expect(hi).toBeCloseTo(96.2, 9);
  });
});
