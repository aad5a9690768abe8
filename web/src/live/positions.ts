// Where each car probably is between two timing points (a pure estimate for the live map): from the last timing
// point it crossed and when, and how long the next sub-section took it last time (else the field's fastest time
// there), it is placed that share of the way along that sub-section's stretch of the traced outline — never past
// the next timing point, which it has not crossed yet.
import { SUBSECTIONS } from "../geometry";
import type { LiveCar, LiveState } from "./feed";

export type CarSpot = { car: string; f: number; estimated: boolean; stale: boolean };

const CAP = 0.98;                 // short of the next timing point: the car has not crossed it yet

/** The sub-section a car is in after crossing ``point`` (the end of that sub-section; "fl" is the line). */
export function nextSection(point: string): string {
  const i = SUBSECTIONS.indexOf(point);
  return SUBSECTIONS[(i + 1) % SUBSECTIONS.length];
}

/** The field's median share of each sector's time in its first sub-section (for ``sectionRanges``), from the
 *  fastest sub-section times so far; a sector without both times is left out (then split in half). */
export function liveSubShares(state: LiveState | undefined): Record<string, number> {
  const secs = state?.field?.sections ?? {};
  const out: Record<string, number> = {};
  for (const [a, b] of [["im1a", "im1"], ["im2a", "im2"], ["im3a", "fl"]]) {
    const ta = secs[a]?.time_s as number | undefined, tb = secs[b]?.time_s as number | undefined;
    if (ta && tb && ta > 0 && tb > 0) out[a] = ta / (ta + tb);
  }
  return out;
}

/** A car's estimated fraction of the lap at race time ``clockS`` (null: it has crossed nothing yet). */
export function carFraction(car: LiveCar, clockS: number, ranges: Record<string, [number, number]>,
  fieldSections: Record<string, { time_s?: number | null } | undefined> = {}): { f: number; estimated: boolean; stale: boolean } | null {
  if (!car.point || car.t_s == null) return null;
  const next = nextSection(car.point);
  const [a, b] = ranges[next];
  const d = car.sections?.[next]?.last_s ?? fieldSections[next]?.time_s ?? null;
  const elapsed = Math.max(0, clockS - car.t_s);
  if (!d || !(d > 0)) return { f: a, estimated: false, stale: false };
  const share = Math.min(elapsed / d, CAP);
  return { f: (a + (b - a) * share) % 1, estimated: true, stale: elapsed > 3 * d };
}

/** The cars still running: crossed a timing point, and not yet at the line under the chequered flag. */
export function runningCars(state: LiveState | undefined): LiveCar[] {
  if (!state) return [];
  const ff = state.flag?.value === "FF" ? state.flag.since_t_s ?? null : null;
  return state.order.map((c) => state.cars[c]).filter((c): c is LiveCar => !!c && !!c.point && c.t_s != null
    && !(ff !== null && c.point === "fl" && c.t_s >= ff));
}

/** Every running car's estimated place on the map at the state's clock. */
export function carSpots(state: LiveState | undefined, ranges: Record<string, [number, number]>): CarSpot[] {
  if (!state || state.t_s == null) return [];
  const fieldSecs = state.field?.sections ?? {};
  const out: CarSpot[] = [];
  for (const c of runningCars(state)) {
    const p = carFraction(c, state.t_s, ranges, fieldSecs);
    if (p) out.push({ car: c.car, ...p });
  }
  return out;
}

/** The flag at the line, in words (the timing file records GF, FCY and FF at the finish line only). */
export function flagWords(flag: LiveState["flag"] | undefined): { words: string; caution: boolean } {
  switch (flag?.value) {
    case undefined: case null: return { words: "No flag reported yet", caution: false };
    case "GF": return { words: "Green flag", caution: false };
    case "FCY": return { words: `Full course yellow${flag?.since_lap ? ` since lap ${flag.since_lap}` : ""}`, caution: true };
    case "FF": return { words: "Chequered flag", caution: false };
    default: return { words: `Flag ${flag?.value}`, caution: true };
  }
}
