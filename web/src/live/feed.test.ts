import { describe, expect, it } from "vitest";
import { due, EMPTY, fmtGap, nextDue, step, towerRows, type LiveEvent, type LiveState } from "./feed";

const state = { race_id: "r", track_id: "t", crossings: 0, leader_lap: 0, order: ["1", "2"], field: {},
  cars: { "1": { car: "1", position: 1, laps: 0, pit_in: false }, "2": { car: "2", position: 2, laps: 0, pit_in: false } } } as unknown as LiveState;
const init: LiveEvent = { id: 5, kind: "initial", data: { race_id: "r", state, ended: false }, at: 0 };
const upd = (id: number, at: number): LiveEvent => ({ id, kind: "update", at,
  data: { crossing: { car: "2", lap: 1, point: "fl", t_s: 100 }, patch: [{ op: "replace", path: "/order", value: ["2", "1"] },
    { op: "replace", path: "/leader_lap", value: 1 }] } });

describe("live feed model", () => {
  it("folds initial, update, end", () => {
    let m = step(EMPTY, init);
    expect(m.state?.order).toEqual(["1", "2"]);
    m = step(m, upd(6, 10));
    expect(m.state?.order).toEqual(["2", "1"]);
    expect(m.state?.leader_lap).toBe(1);
    expect(m.lastCrossing?.car).toBe("2");
    expect(step(m, upd(6, 10))).toBe(m);              // a repeat is ignored
    m = step(m, { id: 7, kind: "end", data: { reason: "the feed ended", crossings: 1 }, at: 20 });
    expect(m.ended).toBe(true);
    expect(m.applied).toBe(3);
  });

  it("an update before any state, or one that does not apply, changes nothing but the id", () => {
    expect(step(EMPTY, upd(6, 0))).toBe(EMPTY);
    const bad: LiveEvent = { id: 9, kind: "update", at: 0, data: { crossing: { car: "1", lap: 1, point: "fl", t_s: 1 },
      patch: [{ op: "remove", path: "/nope" }] } };
    const m = step(step(EMPTY, init), bad);
    expect(m.state).toBe(state);
    expect(m.lastId).toBe(9);
  });

  it("holds events for the delay and while paused", () => {
    const q = [upd(6, 1000), upd(7, 1500), upd(8, 3000)];
    expect(due(q, 1000, 0, false)).toBe(1);
    expect(due(q, 2000, 500, false)).toBe(2);
    expect(due(q, 2000, 2000, false)).toBe(0);
    expect(due(q, 9999, 0, true)).toBe(0);
    expect(nextDue(q, 1200, 500, false)).toBe(300);
    expect(nextDue(q, 1200, 500, true)).toBeNull();
    expect(nextDue([], 0, 0, false)).toBeNull();
  });

  it("formats gaps and builds rows in order", () => {
    expect(fmtGap(null, null, true)).toBe("Leader");
    expect(fmtGap(1.2345, 0, false)).toBe("+1.234");
    expect(fmtGap(90, 1, false)).toBe("+1 lap");
    expect(fmtGap(190, 2, false)).toBe("+2 laps");
    expect(fmtGap(null, null, false)).toBe("–");
    expect(towerRows(state).map((c) => c.car)).toEqual(["1", "2"]);
    expect(towerRows(undefined)).toEqual([]);
  });
});
