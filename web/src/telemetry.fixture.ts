// A synthetic comparison the Telemetry tests share (hand-computed values).
import type { TelemetryComparison } from "./api/client";

// A 100 m lap on a 5 m grid: two corners, C1 owning [0, 50) and C2 [50, 100].
export const CORNERS = [{ corner: "C1", distance_m: 30, segment_m: [0, 50] }, { corner: "C2", distance_m: 70, segment_m: [50, 100] }];
export const d = Array.from({ length: 21 }, (_, i) => i * 5);
// the car loses 0.01 s per 5 m up to 50 m (0.10 s), then gains 0.004 s per 5 m (0.04 s): +0.06 s at the line
export const delta = d.map((x) => Math.round((x <= 50 ? x * 0.002 : 0.1 - (x - 50) * 0.0008) * 10000) / 10000);
export const CMP: TelemetryComparison = {
  run_id: "r", race_id: "t-r1", car: "27", reference_car: "11", own_best: false, lap: 14, lap_kind: "best", reference_lap: 7, lap_time_s: 99.734,
  reference_lap_time_s: 99.674, duration_s: 99.734, reference_duration_s: 99.674, lap_delta_s: 0.06, corner_delta_sum_s: 0.06,
  step_m: 5, distance_m: d, delta_s: delta,
  channels: { speed_kph: d.map((x) => 100 + x), throttle_pct: d.map((x) => (x < 20 || x > 40 ? 100 : 0)), brake_bar: d.map((x) => (x >= 20 && x <= 30 ? 60 : 0)) },
  reference_channels: { speed_kph: d.map((x) => 101 + x), throttle_pct: d.map((x) => (x < 25 || x > 40 ? 100 : 0)), brake_bar: d.map((x) => (x >= 25 && x <= 30 ? 70 : 0)) },
  corners: [
    { corner: "C1", distance_m: 30, segment_m: [0, 50], delta_s: 0.1, brake_m: 20, ref_brake_m: 25, brake_m_diff: -5, min_kph: 88.3, ref_min_kph: 88.6, min_kph_diff: -0.3, exit_kph: 128.5, ref_exit_kph: 129.4, exit_kph_diff: -0.9 },
    { corner: "C2", distance_m: 70, segment_m: [50, 100], delta_s: -0.04, brake_m: 60, ref_brake_m: 61, brake_m_diff: -1, min_kph: 102.1, ref_min_kph: 104.5, min_kph_diff: -2.4, exit_kph: 137.8, ref_exit_kph: 139.4, exit_kph_diff: -1.6 },
  ],
};

