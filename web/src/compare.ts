// Car against car: one car's median clean section times against a reference car's, accumulated around the
// lap; who is faster where; which reference cars to offer; both cars' laps for one chart. Pure functions.
import type { Car, Lap, Quality, Recommendation } from "./api/client";
import { SECTORS, SUBSECTIONS } from "./geometry";
import { results } from "./results";

export type Est = { value?: number | null; lo?: number | null; hi?: number | null; n?: number | null };

/** clear-car: the car's whole 95% interval is below the reference's (the car is clearly faster there);
 *  clear-ref: the reverse; overlap: the intervals overlap (the difference is within them); no-interval: a
 *  median lacks an interval; missing: a median is missing. */
export type Verdict = "clear-car" | "clear-ref" | "overlap" | "no-interval" | "missing";
export type DeltaStep = { section: string; car?: number; ref?: number; diff?: number; cum?: number; verdict: Verdict;
  carEst?: Est; refEst?: Est };
export type CumulativeDelta = { steps: DeltaStep[]; total: number; complete: boolean; set: "sectors" | "subsections" };

const num = (x: number | null | undefined): x is number => typeof x === "number" && Number.isFinite(x);

/** Section -> the car's median clean time there (with its interval), for one section set. */
export function medians(recs: Recommendation[], set: "sectors" | "subsections"): Map<string, Est> {
  const out = new Map<string, Est>();
  for (const r of recs) {
    if (r.section_set === set && r.section && r.available !== false && num(r.median?.value)) out.set(r.section, r.median!);
  }
  return out;
}

export function verdict(c?: Est, r?: Est): Verdict {
  if (!c || !r || !num(c.value) || !num(r.value)) return "missing";
  if (!num(c.lo) || !num(c.hi) || !num(r.lo) || !num(r.hi)) return "no-interval";
  if (c.hi < r.lo) return "clear-car";
  if (c.lo > r.hi) return "clear-ref";
  return "overlap";
}

/** The car's median minus the reference's in each section, in lap order, and the running sum (negative: the
 *  car is ahead). A section either car lacks adds nothing and leaves ``complete`` false. */
export function cumulativeDelta(car: Map<string, Est>, ref: Map<string, Est>, names: readonly string[],
  set: "sectors" | "subsections" = "subsections"): CumulativeDelta {
  let cum = 0, complete = true;
  const steps = names.map((s): DeltaStep => {
    const c = car.get(s), r = ref.get(s);
    const v = verdict(c, r);
    if (v === "missing") { complete = false; return { section: s, verdict: v, carEst: c, refEst: r, cum }; }
    const diff = c!.value! - r!.value!;
    cum += diff;
    return { section: s, car: c!.value!, ref: r!.value!, diff, cum, verdict: v, carEst: c, refEst: r };
  });
  return { steps, total: cum, complete, set };
}

/** The comparison over the sub-sectors where both cars have them, else over the three sectors. */
export function compareCars(carRecs: Recommendation[], refRecs: Recommendation[]): CumulativeDelta {
  const cs = medians(carRecs, "subsections"), rs = medians(refRecs, "subsections");
  if (SUBSECTIONS.every((s) => cs.has(s) && rs.has(s))) return cumulativeDelta(cs, rs, SUBSECTIONS, "subsections");
  return cumulativeDelta(medians(carRecs, "sectors"), medians(refRecs, "sectors"), SECTORS, "sectors");
}

/** Who is faster in a section: "car", "ref", "even" (equal medians) or undefined (a median missing). */
export function fasterIn(step: DeltaStep): "car" | "ref" | "even" | undefined {
  if (!num(step.diff)) return undefined;
  return step.diff < 0 ? "car" : step.diff > 0 ? "ref" : "even";
}

export type RefChoices = { ahead?: string; behind?: string; winner?: string; classBest?: string };

/** The reference cars worth a shortcut for ``car``: the car one place ahead at the flag (the one behind for
 *  the winner), the winner, and the best-placed other car of its class. */
export function referenceChoices(cars: Car[], quality: Quality | undefined, car: string): RefChoices {
  const res = results(cars, quality);
  const me = res.get(car);
  const byPos = (p?: number) => (p === undefined ? undefined : [...res.values()].find((r) => r.position === p)?.car);
  const winner = [...res.values()].find((r) => r.status === "winner")?.car;
  const cls = cars.find((c) => c.car === car)?.class;
  const classBest = cars.filter((c) => c.car !== car && c.class === cls)
    .map((c) => ({ car: c.car, pos: res.get(c.car)?.position ?? Infinity, best: c.best_lap_s ?? Infinity }))
    .sort((a, b) => a.pos - b.pos || a.best - b.best)[0]?.car;
  const ahead = me?.position !== undefined && me.position > 1 ? byPos(me.position - 1) : undefined;
  const behind = me?.position !== undefined ? byPos(me.position + 1) : undefined;
  return { ahead, behind: ahead ? undefined : behind, winner: winner === car ? undefined : winner, classBest };
}

/** The reference a debrief uses when none is named: the car ahead at the flag, else the one behind. */
export function defaultReference(ch: RefChoices): string | undefined {
  return ch.ahead ?? ch.behind ?? ch.winner ?? ch.classBest;
}

export type LapPoint = { lap: number; t: number; clean: boolean };

/** A car's timed laps in lap order. */
export function lapPoints(laps: readonly Lap[]): LapPoint[] {
  return laps.filter((l) => num(l.lap_time_s) && l.lap_time_s! > 0)
    .map((l) => ({ lap: l.lap, t: l.lap_time_s!, clean: !!l.is_clean })).sort((a, b) => a.lap - b.lap);
}

/** The lap-time axis: the clean laps of both cars with a margin (slow excluded laps are drawn at the top edge). */
export function lapDomain(series: LapPoint[][]): [number, number] {
  const ts = series.flat().filter((p) => p.clean).map((p) => p.t);
  const all = ts.length ? ts : series.flat().map((p) => p.t);
  if (!all.length) return [0, 1];
  const lo = Math.min(...all), hi = Math.max(...all);
  const pad = Math.max(0.2, (hi - lo) * 0.08);
  return [lo - pad, hi + pad];
}
