import { describe, expect, it } from "vitest";
import { extent, linear, nearest, segments, slopeBand, ticks } from "./charts";

describe("chart helpers", () => {
  it("maps linearly, and a flat domain to the middle", () => {
    const s = linear([10, 20], [0, 100]);
    expect(s(10)).toBe(0);
    expect(s(15)).toBe(50);
    expect(s(25)).toBe(150);
    expect(linear([3, 3], [0, 10])(3)).toBe(5);
  });
  it("takes the extent of finite values only, padded", () => {
    expect(extent([3, null, 1, NaN, 2])).toEqual([1, 3]);
    expect(extent([0, 10], 0.1)).toEqual([-1, 11]);
    expect(extent([4])).toEqual([3, 5]);
    expect(extent([])).toEqual([0, 1]);
  });
  it("gives round ticks inside the range", () => {
    expect(ticks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(ticks(-0.23, 0.41, 4)).toEqual([-0.2, 0, 0.2, 0.4]);
    expect(ticks(1, 23, 6)).toEqual([5, 10, 15, 20]);
  });
  it("draws a slope's interval as the bow-tie through the pivot", () => {
    // lines of slope 0.1 and 0.3 through (5, 1), from x = 1 to x = 11
    const b = slopeBand({ x: 5, y: 1 }, 0.1, 0.3, 1, 11);
    expect(b[0][0]).toBe(1);
    expect(b[0][1]).toBeCloseTo(0.6);
    expect(b[1]).toEqual([5, 1]);
    expect(b[2][1]).toBeCloseTo(1.6);
    expect(b[3][1]).toBeCloseTo(2.8);
    expect(b[5][1]).toBeCloseTo(-0.2);
    // at every x the fitted line (slope 0.2) lies between the band's edges
    for (const x of [1, 11]) {
      const edges = b.filter(([bx]) => bx === x).map(([, by]) => by);
      const yFit = 1 + 0.2 * (x - 5);
      expect(Math.min(...edges)).toBeLessThanOrEqual(yFit);
      expect(Math.max(...edges)).toBeGreaterThanOrEqual(yFit);
    }
  });
  it("splits a series at its gaps and finds the nearest reading", () => {
    expect(segments([0, 1, 2, 3, 4], [1, 2, null, 4, 5])).toEqual([[[0, 1], [1, 2]], [[3, 4], [4, 5]]]);
    expect(segments([0, 1], [null, null])).toEqual([]);
    expect(nearest([0, 1, 2.5, 4], 2.1)).toBe(2);
    expect(nearest([], 1)).toBe(-1);
  });
});
