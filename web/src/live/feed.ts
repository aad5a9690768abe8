// The live feed as a pure model: the events the stream sent, buffered, then applied in order (a display delay
// and a pause hold them in the buffer; nothing is dropped). The React hook in useLiveFeed.ts drives it.
import type { S } from "../api/client";
import { applyPatch, type PatchOp } from "./jsonPatch";

export type LiveState = S["LiveState"];
export type LiveCar = S["LiveCar"];
export type Crossing = { car: string; lap: number; point: string; time_utc?: string | null; t_s: number; sections?: Record<string, number | null> };

export type LiveEvent =
  | { id: number; kind: "initial"; data: { race_id: string; state: LiveState; ended: boolean }; at: number }
  | { id: number; kind: "update"; data: { crossing: Crossing; patch: PatchOp[] }; at: number }
  | { id: number; kind: "end"; data: { reason: string; crossings: number; patch?: PatchOp[] }; at: number };

export type LiveModel = {
  state?: LiveState;
  lastId: number;            // the id of the last event applied
  ended: boolean;
  endReason?: string;
  lastCrossing?: Crossing;
  applied: number;           // events applied since the page opened
};

export const EMPTY: LiveModel = { lastId: 0, ended: false, applied: 0 };

/** ``m`` after one event. An update that does not apply (a gap, another replay) is left out; the next
 *  ``initial`` (a reconnect after a new replay) resets the state. */
export function step(m: LiveModel, ev: LiveEvent): LiveModel {
  if (ev.id <= m.lastId && ev.kind !== "initial") return m;                 // seen already
  switch (ev.kind) {
    case "initial":
      return { state: ev.data.state, lastId: ev.id, ended: ev.data.ended, applied: m.applied + 1 };
    case "update":
      if (!m.state) return m;
      try {
        return { ...m, state: applyPatch(m.state, ev.data.patch), lastId: ev.id, lastCrossing: ev.data.crossing, applied: m.applied + 1 };
      } catch {
        return { ...m, lastId: ev.id };
      }
    case "end": {
      // the end may carry the engines over every lap (docs/DATA_REFERENCE.md 13)
      let state = m.state;
      if (state && ev.data.patch?.length) {
        try { state = applyPatch(state, ev.data.patch); } catch { /* keep the last update's state */ }
      }
      return { ...m, state, ended: true, endReason: ev.data.reason, lastId: ev.id, applied: m.applied + 1 };
    }
  }
}

/** How many events at the head of ``queue`` are due at ``now`` (ms) with a display delay of ``delayMs``. */
export function due(queue: readonly LiveEvent[], now: number, delayMs: number, paused: boolean): number {
  if (paused) return 0;
  let n = 0;
  while (n < queue.length && queue[n].at + delayMs <= now) n++;
  return n;
}

/** When the next held event becomes due (ms from ``now``), or null. */
export function nextDue(queue: readonly LiveEvent[], now: number, delayMs: number, paused: boolean): number | null {
  if (paused || queue.length === 0) return null;
  return Math.max(0, queue[0].at + delayMs - now);
}

/** "+1.234", "+2 laps", "Leader". */
export function fmtGap(s: number | null | undefined, lapsBehind: number | null | undefined, isLeader: boolean): string {
  if (isLeader) return "Leader";
  if (lapsBehind !== null && lapsBehind !== undefined && lapsBehind > 0) return `+${lapsBehind} lap${lapsBehind === 1 ? "" : "s"}`;
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  return `+${s.toFixed(3)}`;
}

/** The tower's rows: the state's order, each car's entry. */
export function towerRows(state: LiveState | undefined): LiveCar[] {
  if (!state) return [];
  return state.order.map((c) => state.cars[c]).filter((c): c is LiveCar => !!c);
}
