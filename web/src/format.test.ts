import { describe, expect, it } from "vitest";
import { fmtConsistency, fmtDelta, fmtEst, fmtTime, fmtTimeEst, lapTimesInText } from "./format";

describe("time formatting as the timing sheets write it", () => {
  it("m:ss.mmm above a minute, ss.mmm below", () => {
    expect(fmtTime(98.279)).toBe("1:38.279");
    expect(fmtTime(60)).toBe("1:00.000");
    expect(fmtTime(59.9996)).toBe("1:00.000");      // rounds to the millisecond first
    expect(fmtTime(119.9999)).toBe("2:00.000");     // never 1:60.000 (core/laptime.format_lap: the same rule)
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
  it("consistency in whole cars, saying what it ranks", () => {
    expect(fmtConsistency(42.857142857142854, 22)).toBe("more consistent than 9 of the other 21 cars");
    expect(fmtConsistency(30, 21)).toBe("more consistent than 6 of the other 20 cars");
    expect(fmtConsistency(100, 2)).toBe("more consistent than 1 of the other 1 car");
    expect(fmtConsistency(null, 21)).toBe("–");
  });
  it("lap times in server text become m:ss.mmm; section times and deltas stay", () => {
    expect(lapTimesInText("best clean lap 97.892 s")).toBe("best clean lap 1:37.892");
    expect(lapTimesInText("personal composite 97.389 s (95% CI 97.125 to 97.684, n=20)")).toBe("personal composite 1:37.389 (95% CI 97.125 to 97.684, n=20)");
    expect(lapTimesInText("IM2 median time: 14.440 s")).toBe("IM2 median time: 14.440 s");
    expect(lapTimesInText("0.503 s slower; 0.301 s/lap lost")).toBe("0.503 s slower; 0.301 s/lap lost");
    expect(lapTimesInText("trend -60.100 s/lap")).toBe("trend -60.100 s/lap");
  });
});
