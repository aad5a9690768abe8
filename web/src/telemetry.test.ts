import { describe, expect, it } from "vitest";
import { CMP, CORNERS, d, delta } from "./telemetry.fixture";
import { cornerAt, cornerParts, deltaPieces, deltaWords, fmtMedian, fmtMetres, fmtPair, indexAt, labelRows, partsAddUp,
  readingAt, refOf } from "./telemetry";
import { diverging } from "./colour";

describe("telemetry helpers", () => {
  it("finds the grid point nearest a distance, clamped to the lap", () => {
    expect(indexAt(d, 0)).toBe(0);
    expect(indexAt(d, 12.4)).toBe(2);        // 10 m is nearer than 15 m
    expect(indexAt(d, 12.6)).toBe(3);
    expect(indexAt(d, 100)).toBe(20);
    expect(indexAt(d, 250)).toBe(20);
    expect(indexAt(d, -3)).toBe(0);
    expect(indexAt([], 5)).toBe(-1);
    expect(indexAt([0, 5, 10, 14.7], 14)).toBe(3);   // the last point of a lap that is not a whole number of steps
  });
  it("reads every channel of both laps and the corner at one distance", () => {
    const r = readingAt(CMP, CORNERS, indexAt(d, 26));
    expect(r).toEqual({ index: 5, distance_m: 25, corner: "C1", delta_s: 0.05, speed: [125, 126], throttle: [0, 0], brake: [60, 70] });
    expect(readingAt(CMP, CORNERS, 10).corner).toBe("C2");          // 50 m starts C2's part of the lap
    expect(readingAt(CMP, CORNERS, 20).corner).toBe("C2");          // the line closes the last corner
    expect(cornerAt(CORNERS, 49.9)).toBe("C1");
    const gap = { ...CMP, channels: { ...CMP.channels, speed_kph: null } };
    expect(readingAt(gap, CORNERS, 3).speed).toEqual([null, 116]);
  });
  it("adds the corners' parts up to the lap difference", () => {
    expect(cornerParts(CMP.corners)).toEqual({ sum: 0.06, n: 2, missing: 0 });
    expect(partsAddUp(CMP)).toBe(true);
    expect(partsAddUp({ ...CMP, lap_delta_s: 0.07 })).toBe(false);
    expect(cornerParts([{ delta_s: 0.1 }, { delta_s: null }])).toEqual({ sum: 0.1, n: 1, missing: 1 });
    expect(partsAddUp({ ...CMP, corners: [CMP.corners[0], { ...CMP.corners[1], delta_s: null }] })).toBe(false);
    // 0.1 + 0.2 in floating point is 0.30000000000000004: the sum is rounded to 0.1 ms
    expect(cornerParts([{ delta_s: 0.1 }, { delta_s: 0.2 }]).sum).toBe(0.3);
  });
  it("formats distances, channel pairs, deltas and medians with their n", () => {
    expect(fmtMetres(1805)).toBe("1,805 m");
    expect(fmtMetres(null)).toBe("–");
    expect(fmtPair([142.26, 145], "km/h")).toBe("142.3 / 145.0 km/h");
    expect(fmtPair([null, 3], "bar")).toBe("– / 3.0 bar");
    expect(deltaWords(0.0872)).toBe("+0.087 s lost");
    expect(deltaWords(-0.05)).toBe("−0.050 s gained");
    expect(deltaWords(null)).toBe("–");
    expect(fmtMedian({ value: 812.4, lo: 805, hi: 820.2, n: 9 }, "m")).toBe("812 m (95% CI 805 to 820, n=9)");
    expect(fmtMedian({ value: null, n: 2, note: "not enough laps (2 < 5)" }, "m")).toBe("n/a: not enough laps (2 < 5), n=2");
  });
  it("colours the outline by the running delta at each stretch's middle", () => {
    const p = deltaPieces(d, delta, 100, 4, 0.1);
    expect(p.map((x) => [x.from, x.to])).toEqual([[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1]]);
    expect(p.map((x) => x.value)).toEqual([delta[indexAt(d, 12.5)], delta[indexAt(d, 37.5)], delta[indexAt(d, 62.5)], delta[indexAt(d, 87.5)]]);
    expect(p[1].value).toBe(0.07);
    expect(p[1].colour).toBe(diverging(0.07, 0.1));
    expect(deltaPieces([], [], 100)).toEqual([]);
  });
  it("puts a crowding corner name on the second row", () => {
    expect(labelRows([10, 100, 110, 200], ["C1", "C2", "C3", "C4"], 8)).toEqual([0, 0, 1, 0]);
  });
  it("reads the reference from the URL", () => {
    expect(refOf(undefined, "27", "11")).toEqual({ kind: "fastest" });
    expect(refOf("own", "27", "11")).toEqual({ kind: "own" });
    expect(refOf("5", "27", "11")).toEqual({ kind: "car", car: "5" });
    expect(refOf("27", "27", "11")).toEqual({ kind: "own" });
    expect(refOf(undefined, "11", "11")).toEqual({ kind: "own" });     // the fastest car against itself: its own best
  });
});
