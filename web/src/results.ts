// The race's result per car from the published documents: the official position and laps (the quality
// document's reconciliation with the results file), the gap to the winner in laps, and a status. The
// documents carry no race time per car, so the gap is in laps only.
import type { Car, Quality } from "./api/client";

export type Result = { car: string; position?: number; laps: number; lapsDown: number; status: string; dnf: boolean };

/** A car this many laps (or more) down on the winner stopped early: DNF, not lapped. */
export function dnfLaps(winnerLaps: number): number {
  return Math.max(3, Math.ceil(winnerLaps * 0.1));
}

/** Each car's result; the winner is official position 1 (else the car with the most laps). */
export function results(cars: Car[], quality?: Quality): Map<string, Result> {
  const rec = new Map((quality?.reconciliation ?? []).map((r) => [r.car, r]));
  const lapsOf = (c: Car) => rec.get(c.car)?.official_laps ?? rec.get(c.car)?.laps ?? c.laps;
  const winner = cars.find((c) => rec.get(c.car)?.official_position === 1)
    ?? [...cars].sort((a, b) => lapsOf(b) - lapsOf(a))[0];
  const wl = winner ? lapsOf(winner) : 0;
  const out = new Map<string, Result>();
  for (const c of cars) {
    const laps = lapsOf(c);
    const position = rec.get(c.car)?.official_position ?? undefined;
    const down = Math.max(0, wl - laps);
    const dnf = laps < wl && (down >= dnfLaps(wl) || (quality !== undefined && position === undefined));
    const status = c === winner ? "winner" : dnf ? `DNF (${laps} lap${laps === 1 ? "" : "s"})` : down > 0 ? `+${down} lap${down === 1 ? "" : "s"}` : "lead lap";
    out.set(c.car, { car: c.car, position, laps, lapsDown: down, status, dnf });
  }
  return out;
}
