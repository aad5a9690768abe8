import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, waitFor } from "@testing-library/react";
import { useState } from "react";
import type { RaceTelemetry, Track } from "../api/client";
import Telemetry from "./Telemetry";
import { TrackMap } from "../components/TrackMap";
import { OwnBestCorners } from "./OwnBestCorners";
import { CMP, CORNERS } from "../telemetry.fixture";

afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const square = Array.from({ length: 40 }, (_, i) => {
  const t = i / 10, k = Math.floor(t), u = t - k;
  return [{ x: u, y: 0 }, { x: 1, y: u }, { x: 1 - u, y: 1 }, { x: 0, y: 1 - u }][k];
});
const TRACK = { track_id: "t", name: "Test Raceway", outline: square, sector_fractions: [0.3, 0.7] } as unknown as Track;
const est = (value: number | null, n: number, lo?: number, hi?: number) => ({ value, n, lo, hi, method: "", note: value === null ? "not enough laps (2 < 5)" : null });
const SUMMARY: RaceTelemetry = {
  run_id: "r", race_id: "t-r1", track_id: "t", available: true, length_m: 100, reference_car: "11", not_computed: 0,
  corners: CORNERS,
  cars: [
    { car: "27", vehicle_id: "GR86-010-27", n_laps_used: 9, reference: { lap: 14, time_s: 99.734 },
      corners: [{ corner: "C1", distance_m: 30, brake_m: est(20.4, 9, 18.2, 22.9), min_kph: est(88.31, 9, 87.9, 88.8), exit_kph: est(128, 9), delta_s: est(0.052, 9, 0.03, 0.08) },
        { corner: "C2", distance_m: 70, brake_m: est(null, 2), min_kph: est(null, 2), exit_kph: est(null, 2), delta_s: est(null, 2) }] },
    { car: "11", vehicle_id: "GR86-053-11", n_laps_used: 4, reference: { lap: 7, time_s: 99.674 }, corners: [] },
  ],
} as unknown as RaceTelemetry;

function serve(routes: Record<string, [number, unknown]>) {
  const calls: string[] = [];
  vi.stubGlobal("fetch", vi.fn(async (path: string) => {
    calls.push(path);
    const [status, body] = routes[path] ?? [404, { error: { code: "not_found", message: `no route ${path}` } }];
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  }));
  return calls;
}

describe("Telemetry mode from given API answers", () => {
  it("says there is no telemetry when the API says so", async () => {
    serve({ "/races/none-r1/telemetry": [404, { error: { code: "not_found", message: "no telemetry for this race (none-r1)" } }] });
    const { findByTestId } = render(<Telemetry raceId="none-r1" car="27" track={TRACK} onRef={() => undefined} onLap={() => undefined} />);
    expect((await findByTestId("no-telemetry")).textContent).toContain("No telemetry for this race");
  });
  it("draws the traces with the corners named, the delta ending at the lap difference, and one cursor reading every channel", async () => {
    const calls = serve({ "/races/t-r1/telemetry": [200, SUMMARY], "/races/t-r1/cars/27/telemetry": [200, CMP] });
    const { findByTestId, getByTestId, container } = render(<Telemetry raceId="t-r1" car="27" track={TRACK} onRef={() => undefined} onLap={() => undefined} />);
    const traces = await findByTestId("telemetry-traces");
    expect(calls).toContain("/races/t-r1/cars/27/telemetry");          // no tref: the API's default, the fastest car
    for (const k of ["speed_kph", "throttle_pct", "brake_bar"]) {
      const g = getByTestId(`trace-${k}`);
      expect(g.querySelectorAll("polyline[data-who=car]")).toHaveLength(1);
      expect(g.querySelectorAll("polyline[data-who=reference]")).toHaveLength(1);
    }
    const names = [...getByTestId("telemetry-traces").querySelectorAll("[data-corner]")].map((t) => t.textContent);
    expect(names).toEqual(["C1", "C2"]);
    expect(Number(getByTestId("delta-trace").getAttribute("data-last"))).toBe(0.06);
    expect(getByTestId("telemetry-heading").textContent).toContain("1:39.734");
    expect(getByTestId("telemetry-heading").textContent).toContain("1:39.674");
    expect(getByTestId("lap-difference").textContent).toBe("+0.060 s");
    expect(getByTestId("corner-parts-sum").textContent).toContain("+0.060 s");
    expect(getByTestId("corner-part-C1").textContent).toContain("+0.100 s lost");
    expect(getByTestId("corner-part-C2").textContent).toContain("−0.040 s gained");
    // the map is coloured along the outline, not by section buttons
    expect(container.querySelectorAll("[data-testid=map-along] path")).toHaveLength(120);
    expect(container.querySelectorAll("path[data-section]")).toHaveLength(0);
    // the cursor: six steps right is 25 m
    for (let i = 0; i < 6; i++) fireEvent.keyDown(traces, { key: "ArrowRight" });
    const out = getByTestId("telemetry-readout");
    expect(out.getAttribute("data-distance")).toBe("25");
    expect(out.textContent).toContain("25 m (C1)");
    expect(getByTestId("read-speed").textContent).toBe("speed 125.0 / 126.0 km/h");
    expect(getByTestId("read-throttle").textContent).toBe("throttle 0.0 / 0.0 %");
    expect(getByTestId("read-brake").textContent).toBe("brake 60.0 / 70.0 bar");
    expect(getByTestId("read-delta").textContent).toBe("delta +0.050 s");
    expect(getByTestId("cursor-line")).toBeTruthy();
    expect(getByTestId("marker-cursor")).toBeTruthy();
    // the delta trace moves the same cursor
    fireEvent.keyDown(getByTestId("delta-trace"), { key: "End" });
    expect(getByTestId("telemetry-readout").textContent).toContain("100 m (C2)");
    expect(getByTestId("read-delta").textContent).toBe("delta +0.060 s");
  });
  it("asks for the chosen car and says which cars have telemetry when this one has none", async () => {
    const calls = serve({ "/races/t-r1/telemetry": [200, SUMMARY], "/races/t-r1/cars/27/telemetry?ref=11": [200, CMP] });
    const a = render(<Telemetry raceId="t-r1" car="27" track={TRACK} tref="11" onRef={() => undefined} onLap={() => undefined} />);
    await a.findByTestId("telemetry-traces");
    expect(calls).toContain("/races/t-r1/cars/27/telemetry?ref=11");
    cleanup();
    const b = render(<Telemetry raceId="t-r1" car="5" track={TRACK} onRef={() => undefined} onLap={() => undefined} />);
    expect((await b.findByTestId("no-telemetry-car")).textContent).toContain("Cars with telemetry: #27, #11");
  });
  it("against its own best: its median lap against its best lap, another lap on demand, and per corner the medians with their interval and n", async () => {
    const laps = [{ lap: 12, lap_time_s: 99.9, duration_s: 99.9, is_clean: true, role: null },
      { lap: 13, lap_time_s: 99.794, duration_s: 99.794, is_clean: true, role: "median" },
      { lap: 14, lap_time_s: 99.734, duration_s: 99.734, is_clean: true, role: "best" }];
    const own = { ...CMP, reference_car: "27", own_best: true, lap: 13, lap_kind: "median", reference_lap: 14, lap_time_s: 99.794,
      reference_lap_time_s: 99.734, laps, typical: { lap: 13, n: 9, basis: "median clean lap" } };
    const chosen = { ...own, lap: 12, lap_kind: "chosen", lap_time_s: 99.9, delta_step_m: 10,
      channels: { speed_kph: null, throttle_pct: null, brake_bar: null } };
    const calls = serve({ "/races/t-r1/telemetry": [200, SUMMARY], "/races/t-r1/cars/27/telemetry?ref=27": [200, own],
      "/races/t-r1/cars/27/telemetry?ref=27&lap=12": [200, chosen] });
    const onRef = vi.fn();
    const onLap = vi.fn();
    // the lap picked lives in the URL: the page passes it back as tlap
    function Page() {
      const [tlap, setTlap] = useState<number | undefined>();
      return <Telemetry raceId="t-r1" car="27" track={TRACK} tref="own" onRef={onRef} tlap={tlap} onLap={(l) => { onLap(l); setTlap(l); }} />;
    }
    const { findByTestId, getByTestId, queryByTestId, findByText } = render(<Page />);
    await findByTestId("telemetry-traces");
    expect(getByTestId("trace-speed_kph").querySelectorAll("polyline[data-who=reference]")).toHaveLength(1);
    expect(getByTestId("trace-speed_kph").querySelectorAll("polyline[data-who=car]")).toHaveLength(1);
    expect(getByTestId("telemetry-heading").textContent).toBe(
      "Car #27's lap 13 (1:39.794, the median of its 9 clean laps with telemetry) against its best lap with telemetry (lap 14, 1:39.734): +0.060 s.");
    expect(Number(getByTestId("delta-trace").getAttribute("data-last"))).toBe(0.06);
    expect(getByTestId("corner-parts-sum").textContent).toContain("+0.060 s");
    expect(queryByTestId("no-lap-channels")).toBeNull();
    // another lap: its delta alone, said so
    fireEvent.mouseDown(getByTestId("tlap-select").querySelector("[role=combobox]")!);
    fireEvent.click(await findByText(/lap 12, 1:39.900/));
    await findByTestId("no-lap-channels");
    expect(onLap).toHaveBeenCalledWith(12);
    expect(calls).toContain("/races/t-r1/cars/27/telemetry?ref=27&lap=12");
    expect(getByTestId("trace-speed_kph").querySelectorAll("polyline[data-who=car]")).toHaveLength(0);
    expect(getByTestId("telemetry-heading").textContent).toContain("Car #27's lap 12 (1:39.900) against its best lap");
    const t = await waitFor(() => getByTestId("own-best-corners"));
    expect(t.textContent).toContain("+0.052 s (95% CI +0.030 to +0.080, n=9)");
    expect(t.textContent).toContain("20 m (95% CI 18 to 23, n=9)");
    expect(t.textContent).toContain("n/a: not enough laps (2 < 5), n=2");
    fireEvent.click(getByTestId("tref-fastest"));
    expect(onRef).toHaveBeenCalledWith(undefined);
  });
});

describe("own-best medians", () => {
  it("says once why there are none instead of a table of n/a", () => {
    const none = { ...SUMMARY.cars[0], car: "11", corners: SUMMARY.cars[0].corners!.map((x) => ({ ...x, ...{ brake_m: est(null, 2), min_kph: est(null, 2), delta_s: est(null, 2) } })) };
    const { getByTestId } = render(<OwnBestCorners car={none} />);
    expect(getByTestId("own-best-corners").textContent).toBe("No per-corner medians for car #11: not enough laps (2 < 5) (n=2 clean complete laps with telemetry).");
  });
});

describe("map coloured along the outline", () => {
  it("draws the stretches in their colours instead of the section buttons", () => {
    const along = [{ from: 0, to: 0.5, colour: "rgb(1, 2, 3)" }, { from: 0.5, to: 1, colour: "rgb(4, 5, 6)" }];
    const { container } = render(<TrackMap outline={square} sectorFractions={[0.3, 0.7]} values={[]} useSubsections={false}
      along={along} title="t" legend={<span>legend</span>} />);
    expect([...container.querySelectorAll("[data-testid=map-along] path")].map((p) => p.getAttribute("stroke"))).toEqual(["rgb(1, 2, 3)", "rgb(4, 5, 6)"]);
    expect(container.querySelectorAll("path[data-section]")).toHaveLength(0);
  });
});
