import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import type { S } from "../api/client";
import { ConditionsChart, conditionRows, lapAt, readAt } from "./ConditionsChart";
import { PaceTempChart } from "./PaceTempChart";
import { TrendChart } from "./Patterns";

afterEach(cleanup);

const series: S["WeatherSeries"] = {
  start_utc: "2025-09-06T18:40:00+00:00", start_basis: "race start (earliest lap-1 crossing minus its lap time)", n: 4,
  minutes: [-2, 1, 4, 7],
  sensors: {
    air_temp_c: { label: "air temperature (°C)", values: [20, 21, null, 23], n: 3 },
    track_temp_c: { label: "track temperature (°C)", values: [30, 31, 32, 33], n: 4 },
    pressure_hpa: { label: "pressure (hPa)", values: [null, null, null, null], n: 0 },
  },
  laps: [{ lap: 1, minute: 1.7, field_median_s: 100.5, n_clean: 3 }, { lap: 2, minute: 3.4, field_median_s: 99.8, n_clean: 3 },
    { lap: 3, minute: 5.0, field_median_s: null, n_clean: 0 }],
};

describe("weather charts from given data", () => {
  it("draws the field's pace and every sensor with readings, each with its n; a gap stays a gap", () => {
    const rows = conditionRows(series);
    expect(rows.map((r) => r.key)).toEqual(["pace", "air_temp_c", "track_temp_c"]);   // pressure has no readings
    expect(rows[0].n).toBe(6);
    const { getByTestId } = render(<ConditionsChart series={series} />);
    const air = getByTestId("conditions-row-air_temp_c");
    expect(air.querySelectorAll("polyline")).toHaveLength(1);           // split at the missing reading:
    expect(air.querySelectorAll("circle")).toHaveLength(1);             // a line, then the lone last reading
    expect(air.textContent).toContain("n=3 readings");
    expect(air.textContent).toContain("20.0–23.0");
    expect(getByTestId("conditions-row-pace").textContent).toContain("1:39.800–1:40.500");
    expect(getByTestId("conditions-readout").textContent).toContain("4 readings");
  });
  it("reads each row at one moment, not across a gap or beyond the data; the lap is the one the field is on", () => {
    const [pace, air] = conditionRows(series);
    expect(readAt(air, 1.4)).toEqual({ minute: 1, value: 21, n: undefined });
    expect(readAt(air, 4)).toBeNull();                  // the reading at 4 min is missing
    expect(readAt(air, 30)).toBeNull();                 // far past the last reading
    expect(readAt(pace, 1.9)).toEqual({ minute: 1.7, value: 100.5, n: 3 });
    expect(lapAt(series.laps!, 1.8)).toBe(2);           // lap 1 ended at 1.7 min: the field is on lap 2
    expect(lapAt(series.laps!, 9)).toBeUndefined();
  });
  it("steps through the readings with the arrow keys", () => {
    const { getByTestId } = render(<ConditionsChart series={series} />);
    const svg = getByTestId("conditions-chart");
    fireEvent.keyDown(svg, { key: "ArrowRight" });
    expect(getByTestId("conditions-readout").textContent).toMatch(/^-2\.0 min \(field on lap 1\): field median clean lap –; air temperature \(°C\) 20\.0 at -2\.0 min/);
    fireEvent.keyDown(svg, { key: "ArrowRight" });
    expect(getByTestId("conditions-readout").textContent).toContain("air temperature (°C) 21.0 at 1.0 min");
    expect(getByTestId("conditions-readout").textContent).toContain("1:40.500 (n=3) at 1.7 min");
  });
  it("draws a lone reading as a dot", () => {
    const lone: S["WeatherSeries"] = { ...series, sensors: { air_temp_c: { label: "air", values: [20, null, 22, null], n: 2 } } };
    const { getByTestId } = render(<ConditionsChart series={lone} />);
    expect(getByTestId("conditions-row-air_temp_c").querySelectorAll("circle")).toHaveLength(2);
  });
  it("draws the evidence with the estimate's line and interval fan through the origin", () => {
    const evidence: S["WeatherEvidence"] = { n: 4, thinned: false, temp_resid_c: [-1, -0.5, 0.5, 1], time_resid_s: [-0.05, -0.02, 0.03, 0.04],
      car: ["1", "2", "1", "2"], lap: [3, 4, 5, 6] };
    const slope = { value: 0.045, lo: 0.02, hi: 0.07, n: 4, method: "OLS", note: null };
    const { getByTestId, container } = render(<PaceTempChart evidence={evidence} slope={slope} />);
    expect(container.querySelectorAll("circle")).toHaveLength(4);
    const line = getByTestId("slope-line");
    // the line passes through the origin: (x1,y1), (x2,y2) and the origin's pixel are collinear
    const [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map((a) => Number(line.getAttribute(a)));
    expect(y2).toBeLessThan(y1);                                        // a positive slope rises
    // the origin's pixel (the "±0.0" ticks give it) lies on the segment: cross product ~ 0
    const x0 = Number([...container.querySelectorAll("text")].find((t) => t.textContent === "±0.0")!.getAttribute("x"));
    const y0 = Number([...container.querySelectorAll("text")].find((t) => t.textContent === "±0.00")!.getAttribute("y")) - 3;
    expect(Math.abs((x2 - x1) * (y0 - y1) - (y2 - y1) * (x0 - x1)) / Math.hypot(x2 - x1, y2 - y1)).toBeLessThan(1e-6);
    expect(getByTestId("slope-band").getAttribute("points")!.split(" ")).toHaveLength(6);
    expect(getByTestId("pace-temp-readout").textContent).toBe("Slope +0.045 s per °C (95% CI +0.020 to +0.070, n=4); shaded: its 95% interval. 4 clean laps.");
    expect(Number.isFinite(x1 + x2)).toBe(true);
  });
  it("draws the trend line through its pivot inside the fan, on the lap axis", () => {
    const trend: S["PatternTrend"] = { label: "degrading", slope_s_per_lap: { value: 0.05, lo: 0.02, hi: 0.08, n: 5, method: "", note: null },
      intercept_s: -0.2, pivot: { lap: 4, pace_s: 0 }, points: { lap: [2, 3, 4, 5, 6], field_pace_s: [-0.1, -0.05, 0, 0.05, 0.1] } };
    const { getByTestId, container } = render(<TrendChart trend={trend} nLaps={7} />);
    expect(container.querySelectorAll("circle")).toHaveLength(5);
    const line = getByTestId("trend-line");
    const y1 = Number(line.getAttribute("y1")), y2 = Number(line.getAttribute("y2"));
    expect(y2).toBeLessThan(y1);                                        // degrading: later laps slower = higher
    const band = getByTestId("trend-band").getAttribute("points")!.split(" ").map((p) => p.split(",").map(Number));
    const lastX = Number(line.getAttribute("x2"));
    const edges = band.filter(([bx]) => Math.abs(bx - lastX) < 1e-9).map(([, by]) => by);
    expect(Math.min(...edges)).toBeLessThan(y2);
    expect(Math.max(...edges)).toBeGreaterThan(y2);
  });
  it("draws nothing without a fitted trend", () => {
    const { container } = render(<TrendChart trend={{ label: "not enough clean laps" }} nLaps={7} />);
    expect(container.querySelector("svg")).toBeNull();
  });
});
