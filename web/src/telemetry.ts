// Pure helpers of the Telemetry mode: the reading under the cursor, the corners' parts of the lap difference,
// the map's colouring by the running delta, and the words for the reference lap.
import type { TelemetryComparison } from "./api/client";
import { diverging, scaleMax } from "./colour";
import { fmtDelta, fmtNum } from "./format";

type Corner = { corner: string; distance_m: number; segment_m?: number[] | null };

/** Index of the grid distance nearest to `d` in the ascending `distance` (binary search; -1 when empty);
 *  a distance off either end reads the first or last point. */
export function indexAt(distance: readonly number[], d: number): number {
  const n = distance.length;
  if (!n || !Number.isFinite(d)) return n ? 0 : -1;
  let lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (distance[mid] <= d) lo = mid; else hi = mid;
  }
  return Math.abs(distance[hi] - d) < Math.abs(d - distance[lo]) ? hi : lo;
}

/** The corner whose part of the lap (its segment, [from, to) m) holds distance `d`. */
export function cornerAt(corners: readonly Corner[], d: number): string | undefined {
  const c = corners.find((x, i) => {
    const [a, b] = x.segment_m ?? [];
    return a !== undefined && b !== undefined && d >= a && (d < b || (i === corners.length - 1 && d <= b));
  });
  return c?.corner;
}

const at = (xs: readonly (number | null)[] | null | undefined, i: number): number | null => {
  const v = xs?.[i];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
};

export type Reading = {
  index: number; distance_m: number; corner?: string; delta_s: number | null;
  speed: [number | null, number | null]; throttle: [number | null, number | null]; brake: [number | null, number | null];
};

/** Every channel of both laps at grid point `i` (car first, reference second). */
export function readingAt(c: TelemetryComparison, corners: readonly Corner[], i: number): Reading {
  const ch = c.channels, rc = c.reference_channels;
  return {
    index: i, distance_m: c.distance_m[i], corner: cornerAt(corners, c.distance_m[i]), delta_s: at(c.delta_s, i),
    speed: [at(ch.speed_kph, i), at(rc.speed_kph, i)],
    throttle: [at(ch.throttle_pct, i), at(rc.throttle_pct, i)],
    brake: [at(ch.brake_bar, i), at(rc.brake_bar, i)],
  };
}

/** A distance as the readout writes it: 1805 -> "1,805 m". */
export function fmtMetres(d: number | null | undefined): string {
  return d === null || d === undefined || !Number.isFinite(d) ? "–" : `${Math.round(d).toLocaleString("en-GB")} m`;
}

/** The readout of one channel for both laps: "142.3 / 145.0 km/h". */
export function fmtPair([a, b]: [number | null, number | null], unit: string, digits = 1): string {
  return `${fmtNum(a, digits)} / ${fmtNum(b, digits)} ${unit}`;
}

/** The corners' parts of the lap difference and their sum (parts without a value are counted, not added). */
export function cornerParts(corners: readonly { delta_s?: number | null }[]): { sum: number; n: number; missing: number } {
  let sum = 0, n = 0;
  for (const c of corners) {
    if (typeof c.delta_s === "number" && Number.isFinite(c.delta_s)) { sum += c.delta_s; n += 1; }
  }
  return { sum: Math.round(sum * 10000) / 10000, n, missing: corners.length - n };
}

/** Whether the parts add up to the lap difference (within 1 ms: each part is rounded to 0.1 ms). */
export function partsAddUp(c: Pick<TelemetryComparison, "corners" | "lap_delta_s">): boolean {
  const p = cornerParts(c.corners);
  return p.missing === 0 && Math.abs(p.sum - c.lap_delta_s) <= 0.001;
}

/** Gained (negative) or lost (positive) in words: "+0.087 s lost" / "−0.050 s gained". */
export function deltaWords(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  return `${fmtDelta(s)} s ${s > 0 ? "lost" : s < 0 ? "gained" : "even"}`;
}

export type Piece = { from: number; to: number; colour: string; value: number | null };

/** The outline in about `pieces` stretches (fractions of the lap: distance / length), each coloured by the
 *  running delta at its middle on a diverging scale of half-width `max` (red: behind the reference there). */
export function deltaPieces(distance: readonly number[], delta: readonly (number | null)[], length: number, pieces = 120,
  max = scaleMax([...delta])): Piece[] {
  if (!distance.length || !(length > 0)) return [];
  const out: Piece[] = [];
  for (let k = 0; k < pieces; k++) {
    const a = (k / pieces) * length, b = ((k + 1) / pieces) * length;
    const v = at(delta, indexAt(distance, (a + b) / 2));
    out.push({ from: a / length, to: b / length, colour: diverging(v, max), value: v });
  }
  return out;
}

/** Label rows for the corner names along a distance axis: a name goes one row down when it would overlap the
 *  previous name in its row (x in px, about `charPx` a character). */
export function labelRows(xs: readonly number[], names: readonly string[], charPx = 7, rows = 2): number[] {
  const end: number[] = Array(rows).fill(-Infinity);
  return xs.map((x, i) => {
    const half = (names[i].length * charPx) / 2 + 2;
    const r = end.findIndex((e) => x - half > e);
    const row = r < 0 ? end.indexOf(Math.min(...end)) : r;
    end[row] = x + half;
    return row;
  });
}

export type RefKind = { kind: "fastest" } | { kind: "own" } | { kind: "car"; car: string };

/** The URL's `tref` as a reference: none -> the fastest car's best, "own" -> the car's own best, else a car. A
 *  reference that is the car itself (chosen or the fastest) is its own best. */
export function refOf(tref: string | undefined, car: string, fastest: string | null | undefined): RefKind {
  if (tref === "own" || tref === car || (!tref && fastest === car)) return { kind: "own" };
  return tref ? { kind: "car", car: tref } : { kind: "fastest" };
}

type Est = { value?: number | null; lo?: number | null; hi?: number | null; n?: number | null; note?: string | null };

/** A median with its interval and n in the unit given: "812 m (95% CI 805 to 820, n=9)"; without a value, why
 *  ("n/a: not enough laps (2 < 5), n=2"). */
export function fmtMedian(e: Est | null | undefined, unit: string, digits = 0): string {
  if (!e) return "n/a";
  if (e.value === null || e.value === undefined || !Number.isFinite(e.value)) return `n/a${e.note ? `: ${e.note}` : ""}, n=${e.n ?? 0}`;
  const ci = typeof e.lo === "number" && typeof e.hi === "number" ? `95% CI ${fmtNum(e.lo, digits)} to ${fmtNum(e.hi, digits)}, ` : "";
  return `${fmtNum(e.value, digits)} ${unit} (${ci}n=${e.n ?? 0})`;
}
