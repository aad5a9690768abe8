import { describe, expect, it } from "vitest";
import { step, EMPTY, type LiveCar, type LiveEvent, type LiveState } from "./feed";
import { carFraction, carSpots, flagWords, liveSubShares, nextSection, runningCars } from "./positions";
import { sectionRanges } from "../geometry";

// sectors at 0.3 and 0.7 of the outline; IM1a is 40% of S1's time, IM2a 50%, IM3a 25% (hand-picked)
const ranges = sectionRanges([0.3, 0.7], { im1a: 0.4, im2a: 0.5, im3a: 0.25 });
const car = (over: Partial<LiveCar>): LiveCar => ({ car: "7", position: 1, laps: 1, pit_in: false, sections: {}, ...over } as LiveCar);

describe("live car positions", () => {
  it("the sub-section after a timing point", () => {
    expect(nextSection("im1a")).toBe("im1");
    expect(nextSection("im3a")).toBe("fl");
    expect(nextSection("fl")).toBe("im1a");
  });

  it("a car 5 s into IM2 that took 10 s there last time is half way along IM2's stretch", () => {
    // IM2 runs from 0.3 + 0.4 * 0.5 = 0.5 to 0.7: half way = 0.6
    const c = car({ point: "im2a", t_s: 100, sections: { im2: { last_s: 10, lap: 1, best_s: 10, colour: "none" } } as LiveCar["sections"] });
    expect(carFraction(c, 105, ranges)!.f).toBeCloseTo(0.6, 10);
    expect(carFraction(c, 105, ranges)!.estimated).toBe(true);
    // never past the next timing point it has not crossed: capped at 98% of the stretch
    expect(carFraction(c, 130, ranges)!.f).toBeCloseTo(0.5 + 0.2 * 0.98, 10);
    expect(carFraction(c, 150, ranges)!.stale).toBe(true);
  });

  it("no time of its own there: the field's fastest; after the line: into IM1a; nothing crossed: no spot", () => {
    const c = car({ point: "fl", t_s: 50 });
    // IM1a: 0 to 0.12; the field's fastest there 8 s; 2 s after the line -> 0.12 * 2 / 8 = 0.03
    expect(carFraction(c, 52, ranges, { im1a: { time_s: 8 } })!.f).toBeCloseTo(0.03, 10);
    expect(carFraction(c, 52, ranges)).toEqual({ f: 0, estimated: false, stale: false });
    expect(carFraction(car({}), 52, ranges)).toBeNull();
  });

  it("the map's cars: those running; at the chequered flag a car at the line is done", () => {
    const state = { race_id: "r", track_id: "t", crossings: 3, leader_lap: 10, order: ["1", "2", "3"], t_s: 1000,
      flag: { value: "FF", since_t_s: 990 }, field: { sections: {} },
      cars: { "1": car({ car: "1", point: "fl", t_s: 990 }), "2": car({ car: "2", point: "im3a", t_s: 985 }),
        "3": car({ car: "3" }) } } as unknown as LiveState;
    expect(runningCars(state).map((c) => c.car)).toEqual(["2"]);
    expect(carSpots(state, ranges).map((s) => s.car)).toEqual(["2"]);
    expect(flagWords(state.flag).words).toBe("Chequered flag");
    expect(flagWords({ value: "FCY", since_lap: 4 })).toEqual({ words: "Full course yellow since lap 4", caution: true });
    expect(flagWords(null).caution).toBe(false);
  });

  it("sub-section shares from the field's fastest times", () => {
    const st = { field: { sections: { im1a: { time_s: 10 }, im1: { time_s: 30 }, im2a: { time_s: 5 } } } } as unknown as LiveState;
    expect(liveSubShares(st)).toEqual({ im1a: 0.25 });
  });
});

describe("the end event", () => {
  it("applies its patch (the engines over every lap); an end without one leaves the state", () => {
    const state = { race_id: "r", order: ["1"], cars: { "1": { car: "1", note: null } } } as unknown as LiveState;
    const init: LiveEvent = { id: 1, kind: "initial", data: { race_id: "r", state, ended: false }, at: 0 };
    const end: LiveEvent = { id: 2, kind: "end", at: 0, data: { reason: "the feed ended", crossings: 0,
      patch: [{ op: "replace", path: "/cars/1/note", value: { text: "Car 1: …", n_clean: 5, n_laps: 6 } }] } };
    const m = step(step(EMPTY, init), end);
    expect(m.ended).toBe(true);
    expect(m.state?.cars["1"].note?.text).toBe("Car 1: …");
    const plain = step(step(EMPTY, init), { ...end, data: { reason: "x", crossings: 0 } } as LiveEvent);
    expect(plain.state).toBe(state);
  });
});

describe("the note as a sentence", () => {
  it("one full stop", async () => {
    const { sentence } = await import("./components");
    expect(sentence("Car 7: only 3 clean laps; no coaching beyond that can be grounded in this race.")).toMatch(/race\.$/);
    expect(sentence("Car 7: IM2 is where the most section-specific time goes")).toBe("Car 7: IM2 is where the most section-specific time goes.");
  });
});
