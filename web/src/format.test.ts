import { describe, expect, it } from "vitest";
import { fmtDelta, fmtEst, fmtTime, fmtTimeEst } from "./format";

describe("time formatting as the timing sheets write it", () => {
  it("m:ss.mmm above a minute, ss.mmm below", () => {
    expect(fmtTime(98.279)).toBe("1:38.279");
    expect(fmtTime(60)).toBe("1:00.000");
    expect(fmtTime(59.9996)).toBe("1:00.000");      // rounds to the millisecond first
    expect(fmtTime(27.9)).toBe("27.900");
    expect(fmtTime(3725.5)).toBe("62:05.500");
    expect(fmtTime(null)).toBe("–");
    expect(fmtTime(NaN)).toBe("–");
  });
  it("signed deltas and estimates carry their interval and n", () => {
    expect(fmtDelta(0.1234)).toBe("+0.123");
    expect(fmtDelta(-0.05)).toBe("−0.050");
    expect(fmtEst({ value: 0.176, lo: 0.114, hi: 0.229, n: 20 })).toBe("+0.176 s (95% CI +0.114 to +0.229, n=20)");
    expect(fmtEst({ value: 0.2, n: 3 })).toBe("+0.200 s (n=3)");
    expect(fmtEst(null)).toBe("n/a");
    expect(fmtTimeEst({ value: 98.5, lo: 98.1, hi: 99.0, n: 12 })).toBe("1:38.500 (95% CI 1:38.100 to 1:39.000, n=12)");
  });
});
