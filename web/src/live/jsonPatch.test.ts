import { describe, expect, it } from "vitest";
import { applyPatch, parsePointer, PatchError, type PatchOp } from "./jsonPatch";

describe("applyPatch", () => {
  const doc = { order: ["1", "2"], cars: { "1": { position: 1, sections: { s1: { last_s: 27.1 } } }, "2": { position: 2 } }, n: 3 };

  it("adds, replaces and removes on nested paths", () => {
    const out = applyPatch(doc, [
      { op: "add", path: "/cars/1/sections/s2", value: { last_s: 30.2 } },
      { op: "replace", path: "/cars/1/sections/s1/last_s", value: 26.9 },
      { op: "remove", path: "/cars/2/position" },
      { op: "replace", path: "/n", value: 4 },
    ]);
    expect(out).toEqual({ order: ["1", "2"], cars: { "1": { position: 1, sections: { s1: { last_s: 26.9 }, s2: { last_s: 30.2 } } }, "2": {} }, n: 4 });
  });

  it("leaves the input alone and shares the untouched parts", () => {
    const before = JSON.stringify(doc);
    const out = applyPatch(doc, [{ op: "replace", path: "/cars/2/position", value: 1 }]);
    expect(JSON.stringify(doc)).toBe(before);
    expect(out.cars["1"]).toBe(doc.cars["1"]);
    expect(out.order).toBe(doc.order);
    expect(out.cars["2"]).not.toBe(doc.cars["2"]);
  });

  it("handles arrays: replace whole, index, insert, append with -, remove", () => {
    expect(applyPatch(doc, [{ op: "replace", path: "/order", value: ["2", "1"] }]).order).toEqual(["2", "1"]);
    expect(applyPatch(doc, [{ op: "replace", path: "/order/0", value: "9" }]).order).toEqual(["9", "2"]);
    expect(applyPatch(doc, [{ op: "add", path: "/order/1", value: "x" }]).order).toEqual(["1", "x", "2"]);
    expect(applyPatch(doc, [{ op: "add", path: "/order/-", value: "3" }]).order).toEqual(["1", "2", "3"]);
    expect(applyPatch(doc, [{ op: "remove", path: "/order/0" }]).order).toEqual(["2"]);
    expect(applyPatch({ a: [{ b: 1 }] }, [{ op: "replace", path: "/a/0/b", value: 2 }])).toEqual({ a: [{ b: 2 }] });
  });

  it("escapes ~0 and ~1, adds null values, replaces the root", () => {
    expect(parsePointer("/a~1b/c~0d")).toEqual(["a/b", "c~d"]);
    expect(applyPatch({}, [{ op: "add", path: "/a~1b", value: null }])).toEqual({ "a/b": null });
    expect(applyPatch({ a: 1 }, [{ op: "replace", path: "", value: { b: 2 } }])).toEqual({ b: 2 });
  });

  it("move, copy and test", () => {
    expect(applyPatch({ a: 1 }, [{ op: "move", from: "/a", path: "/b" }])).toEqual({ b: 1 });
    expect(applyPatch({ a: [1] }, [{ op: "copy", from: "/a", path: "/b" }])).toEqual({ a: [1], b: [1] });
    expect(() => applyPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }])).toThrow(PatchError);
  });

  it("rejects what cannot apply", () => {
    const bad: PatchOp[][] = [
      [{ op: "remove", path: "/nope" }], [{ op: "replace", path: "/nope", value: 1 }],
      [{ op: "add", path: "/x/y", value: 1 }], [{ op: "remove", path: "/order/5" }],
      [{ op: "add", path: "/order/01", value: 1 }], [{ op: "add", path: "n", value: 1 }],
    ];
    for (const ops of bad) expect(() => applyPatch(doc, ops)).toThrow(PatchError);
  });

  it("agrees with the server's diff: a folded stream equals the final state", () => {
    let s: Record<string, unknown> = { cars: {}, order: [] };
    s = applyPatch(s, [{ op: "add", path: "/cars/7", value: { position: 1 } }, { op: "replace", path: "/order", value: ["7"] }]);
    s = applyPatch(s, [{ op: "add", path: "/cars/3", value: { position: 2 } }, { op: "replace", path: "/order", value: ["7", "3"] }]);
    s = applyPatch(s, [{ op: "replace", path: "/cars/3/position", value: 1 }, { op: "replace", path: "/cars/7/position", value: 2 },
      { op: "replace", path: "/order", value: ["3", "7"] }]);
    expect(s).toEqual({ cars: { "7": { position: 2 }, "3": { position: 1 } }, order: ["3", "7"] });
  });
});
