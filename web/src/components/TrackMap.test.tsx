import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import { TrackMap } from "./TrackMap";
import { diverging, redness, scaleMax, sequential } from "../colour";
import { measureOf, mostLost } from "../measure";
import { orderRows } from "../modes/Sections";
import type { Recommendation } from "../api/client";
import { fractionAtTime, sectionRanges } from "../geometry";

afterEach(cleanup);

// A square outline of 40 evenly spaced points, clockwise from the top-left corner.
const square = Array.from({ length: 40 }, (_, i) => {
  const t = i / 10, k = Math.floor(t), u = t - k;
  return [{ x: u, y: 0 }, { x: 1, y: u }, { x: 1 - u, y: 1 }, { x: 0, y: 1 - u }][k];
});

describe("map colouring and legend from given data", () => {
  const values = [
    { section: "s1", value: 0.2, est: { value: 0.2, lo: 0.1, hi: 0.3, n: 18, method: "", note: null } },
    { section: "s2", value: -0.1, est: { value: -0.1, lo: -0.2, hi: 0.0, n: 18, method: "", note: null } },
    { section: "s3", value: null, est: null },
  ];
  it("colours each sector on the diverging scale; missing values are grey", () => {
    const { container } = render(<TrackMap outline={square} sectorFractions={[0.25, 0.5]} values={values}
      measure="relative" useSubsections={false} title="test" />);
    const col = (s: string) => container.querySelector(`path[data-section=${s}]`)!.getAttribute("stroke");
    expect(scaleMax([0.2, -0.1, null])).toBe(0.2);
    expect(col("s1")).toBe("rgb(178, 24, 43)");            // +max: full red
    expect(col("s2")).toBe(diverging(-0.1, 0.2));          // half-way to blue
    expect(col("s2")).toBe("rgb(134, 169, 204)");
    expect(col("s3")).toBe("rgb(160, 160, 160)");
    const legend = container.querySelector("[data-testid=map-legend]")!;
    expect(legend.textContent).toContain("-0.20");
    expect(legend.textContent).toContain("+0.20");
    expect(legend.textContent).toContain("0.00");
  });
  it("names each section in official turns where the track serves its labels", () => {
    const { container } = render(<TrackMap outline={square} sectorFractions={[0.25, 0.5]} values={values}
      measure="relative" useSubsections={false} title="test" sectionLabels={{ s1: "S1 (Turns 1–4)" }} />);
    const aria = (s: string) => container.querySelector(`path[data-section=${s}]`)!.getAttribute("aria-label");
    expect(aria("s1")).toMatch(/^S1 \(Turns 1–4\): /);
    expect(aria("s2")).toMatch(/^S2: /);                   // no label served: the code
  });
  it("by default colours seconds lost to the composite: the most-lost section is the strongest red", () => {
    const est = (value: number, lo = value - 0.05, hi = value + 0.05) => ({ value, lo, hi, n: 20, method: "", note: null });
    // the winner's case: S3 loses most to the composite, yet less than its overall deficit predicts
    const recs = [
      { id: "a", type: "section", section: "s1", section_set: "sectors", rank: 1, significant: true, loss: est(0.12), section_loss: est(0.06) },
      { id: "b", type: "section", section: "s2", section_set: "sectors", rank: 2, significant: false, loss: est(0.2), section_loss: est(0.01) },
      { id: "c", type: "section", section: "s3", section_set: "sectors", rank: 3, significant: false, loss: est(0.324), section_loss: est(-0.07, -0.1, -0.03) },
    ] as Recommendation[];
    expect(mostLost(recs, "sectors")).toBe("s3");
    const vals = (m: "loss" | "relative") => recs.map((r) => ({ section: r.section!, value: measureOf(r, m)?.value, est: measureOf(r, m) }));
    const { container, getByTestId, rerender } = render(<TrackMap outline={square} sectorFractions={[0.25, 0.5]} values={vals("loss")}
      useSubsections={false} title="test" />);
    const col = (s: string) => container.querySelector(`path[data-section=${s}]`)!.getAttribute("stroke")!;
    const reddest = () => ["s1", "s2", "s3"].reduce((a, b) => (redness(col(b)) > redness(col(a)) ? b : a));
    expect(reddest()).toBe("s3");
    expect(col("s3")).toBe(sequential(0.324, 0.5));
    expect(redness(col("s1"))).toBeLessThan(redness(col("s2")));
    expect(getByTestId("map-legend").textContent).toContain("seconds lost per lap to the composite");
    expect(orderRows(recs, "sectors", "loss").map((r) => r.section)).toEqual(["s3", "s2", "s1"]);
    // the relative measure is the option: there S3 is a relative strength (blue)
    rerender(<TrackMap outline={square} sectorFractions={[0.25, 0.5]} values={vals("relative")} measure="relative"
      useSubsections={false} title="test" />);
    expect(reddest()).toBe("s1");
    expect(col("s3")).toBe(diverging(-0.07, 0.1));
    expect(getByTestId("map-legend").textContent).toContain("slower than the car's overall pace predicts");
    expect(orderRows(recs, "sectors", "relative").map((r) => r.section)).toEqual(["s1", "s2", "s3"]);
    expect(sequential(-0.1, 0.5)).toBe("rgb(235, 235, 235)");          // a gain is not painted as a loss
  });
  it("hover shows the value with its interval and n; click selects", () => {
    let picked = "";
    const { container, getByTestId } = render(<TrackMap outline={square} sectorFractions={[0.25, 0.5]} values={values}
      useSubsections={false} title="test" onSelect={(s) => (picked = s)} />);
    const p = container.querySelector("path[data-section=s1]")!;
    fireEvent.mouseEnter(p);
    expect(getByTestId("map-tooltip").textContent).toBe("S1: +0.200 s (95% CI +0.100 to +0.300, n=18)");
    fireEvent.click(p);
    expect(picked).toBe("s1");
  });
  it("sub-sectors split each sector by the field's median share; playback follows the section times", () => {
    const r = sectionRanges([0.3, 0.6], { im1a: 0.25, im2a: 0.5, im3a: 0.75 });
    expect(r.im1a).toEqual([0, 0.075]);
    expect(r.im1[0]).toBeCloseTo(0.075);
    expect(r.im2a[1]).toBeCloseTo(0.45);
    expect(r.fl[0]).toBeCloseTo(0.9);
    expect(r.fl[1]).toBe(1);
    const ranges: [number, number][] = [[0, 0.3], [0.3, 0.6], [0.6, 1]];
    expect(fractionAtTime(ranges, [30, 40, 30], 15)).toBeCloseTo(0.15);
    expect(fractionAtTime(ranges, [30, 40, 30], 50)).toBeCloseTo(0.45);
  });
});
