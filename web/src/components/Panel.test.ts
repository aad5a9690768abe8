import { describe, expect, it } from "vitest";
import { clamp, escapeCloses } from "./Panel";

describe("panels stay inside the viewport", () => {
  it("clamps a position so the panel's bar stays on screen", () => {
    expect(clamp({ x: 1500, y: 900 }, 400, 100, 1200, 800)).toEqual({ x: 800, y: 700 });
    expect(clamp({ x: -30, y: -5 }, 400, 100, 1200, 800)).toEqual({ x: 0, y: 0 });
    expect(clamp({ x: 10, y: 20 }, 400, 100, 1200, 800)).toEqual({ x: 10, y: 20 });
    expect(clamp({ x: 50, y: 50 }, 900, 100, 600, 800)).toEqual({ x: 0, y: 50 });   // wider than the window
  });
  it("Escape closes the newest open panel only", () => {
    expect(escapeCloses("section", "Escape", ["coaching", "section"])).toBe(true);
    expect(escapeCloses("coaching", "Escape", ["coaching", "section"])).toBe(false);
    expect(escapeCloses("section", "Enter", ["section"])).toBe(false);
    expect(escapeCloses("section", "Escape", [])).toBe(false);
  });
});
