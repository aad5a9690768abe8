// The race lap by lap (GET /races/{id}/progress): the pure helpers the gap/position chart draws from — one
// series per car, the y range, the caution laps as spans, each car's fastest lap as a mark.
import type { paths } from "./api/schema";

export type RaceProgress = paths["/races/{race_id}/progress"]["get"]["responses"][200]["content"]["application/json"];
export type CarProgress = NonNullable<RaceProgress["cars"]>[number];
export type ChartMode = "gap" | "position";
export const CHART_MODES: readonly ChartMode[] = ["gap", "position"];

export type Series = { car: string; points: [number, number][]; lapped: boolean[] };

/** One series per car, in the document's (classification) order: x the lap, y its gap to the leader at that line
 *  (s) or its position there; ``lapped`` marks the points where the car was a lap or more down. */
export function progressSeries(doc: RaceProgress, mode: ChartMode): Series[] {
  return (doc.cars ?? []).map((c) => ({
    car: c.car,
    points: (c.by_lap ?? []).map((x) => [x.lap, mode === "gap" ? x.gap_s : x.position] as [number, number]),
    lapped: (c.by_lap ?? []).map((x) => x.laps_down > 0),
  }));
}

/** The gap axis' extent: 0 to the largest gap of a car still on the leader's lap (a lapped car's gap holds the
 *  laps it is down and would flatten everyone else: its line runs off the bottom, clipped), at least 1 s. */
export function gapMax(doc: RaceProgress): number {
  let m = 0;
  for (const c of doc.cars ?? []) for (const x of c.by_lap ?? []) if (x.laps_down === 0 && x.gap_s > m) m = x.gap_s;
  return Math.max(1, m);
}

/** The caution laps as spans of the lap axis: lap k runs from k − 1 to k; consecutive laps join. */
export function cautionSpans(laps: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const k of [...laps].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && last[1] === k - 1) last[1] = k;
    else out.push([k - 1, k]);
  }
  return out;
}

export type FastMark = { car: string; lap: number; time_s: number; y: number; overall: boolean };

/** Each car's fastest lap at its point of the series (the lap it was set on), and which is the race's fastest
 *  (the earlier car in the classification on a tie). */
export function fastestMarks(doc: RaceProgress, mode: ChartMode): FastMark[] {
  const marks: FastMark[] = [];
  for (const c of doc.cars ?? []) {
    if (c.best_lap_s === null || c.best_lap_s === undefined || c.best_lap === null || c.best_lap === undefined) continue;
    const at = (c.by_lap ?? []).find((x) => x.lap === c.best_lap);
    if (!at) continue;
    marks.push({ car: c.car, lap: at.lap, time_s: c.best_lap_s, y: mode === "gap" ? at.gap_s : at.position, overall: false });
  }
  let best: FastMark | undefined;
  for (const m of marks) if (!best || m.time_s < best.time_s) best = m;
  if (best) best.overall = true;
  return marks;
}

/** The caution laps in words: [1, 2, 12, 13] -> "laps 1–2 and 12–13". */
export function cautionWords(laps: readonly number[]): string {
  const spans = cautionSpans(laps).map(([a, b]) => (b - a === 1 ? `${b}` : `${a + 1}–${b}`));
  if (!spans.length) return "no caution laps";
  const one = laps.length === 1;
  return `${one ? "lap" : "laps"} ${spans.length > 1 ? `${spans.slice(0, -1).join(", ")} and ${spans[spans.length - 1]}` : spans[0]}`;
}

/** A car's line at lap ``lap``: its position and gap there, or undefined (it did not complete that lap). */
export function atLap(c: CarProgress, lap: number) {
  return (c.by_lap ?? []).find((x) => x.lap === lap);
}

/** Each car's time behind ``winner`` at the line (s), for the cars that completed as many laps: the race clock at
 *  their last line, before any penalty the officials added (the road's gap). */
export function timeGaps(doc: RaceProgress | undefined, winner: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const cars = doc?.cars ?? [];
  const w = cars.find((c) => c.car === winner);
  if (!w || typeof w.race_time_s !== "number") return out;
  for (const c of cars) {
    if (c.laps === w.laps && typeof c.race_time_s === "number") out.set(c.car, c.race_time_s - w.race_time_s);
  }
  return out;
}
