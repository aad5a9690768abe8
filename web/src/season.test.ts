import { describe, expect, it } from "vitest";
import type { SeasonRace } from "./api/client";
import { consistencyText, findingText, finishText, paceText, previousText, recurring } from "./season";

const est = (value: number | null, lo: number | null, hi: number | null, n: number) => ({ value, lo, hi, n, method: "" });
const finish = { position: 4, class_position: 2, laps: 24, laps_down: 0, winner_laps: 24, status: "lead lap", dnf: false, field_size: 21 };

describe("a car's season in words", () => {
  it("finish: position of the field, class position, status and laps; unclassified said so", () => {
    expect(finishText(finish)).toBe("P4 of 21 (class P2) · lead lap · 24 laps");
    expect(finishText({ ...finish, position: null, class_position: null, laps: 1, status: "DNF (1 lap)", dnf: true }))
      .toBe("not classified · DNF (1 lap) · 1 lap");
  });
  it("pace gap: signed, with its interval and n, and what the interval says", () => {
    expect(paceText(est(-0.8145, -0.937, -0.434, 20))).toBe(
      "−0.815 s/lap (95% CI −0.937 to −0.434, n=20 clean laps): faster than the field's median lap");
    expect(paceText(est(0.668, 0.286, 0.851, 14))).toContain("slower than the field's median lap");
    expect(paceText(est(0.1, -0.2, 0.3, 9))).toContain("level with the field's median lap (the interval includes zero)");
    expect(paceText(est(0.1, null, null, 4))).toBe("+0.100 s/lap (n=4 clean laps): too few laps for an interval");
    expect(paceText(est(null, null, null, 0))).toContain("no pace figure");
  });
  it("consistency and the weakest section carry n and the interval", () => {
    expect(consistencyText(est(0.21594, 0.16317, 0.31933, 20))).toBe(
      "lap-to-lap spread 0.216 s around its own trend (95% CI 0.163 to 0.319, n=20)");
    expect(findingText({ section: "im2", set: "subsections", section_loss: est(0.1783, 0.081, 0.2122, 20) })).toBe(
      "IM2: 0.178 s/lap slower there than the car's overall pace predicts (95% CI +0.081 to +0.212, n=20)");
    expect(findingText(null)).toBe("no section clearly weaker than the car's overall pace");
  });
  it("last race's finding: held, did not hold, nothing to check, first race here", () => {
    const finding = { section: "im3a", set: "subsections", section_loss: est(0.303, 0.239, 0.337, 20) };
    expect(previousText({ race_id: "barber-r1", finding, held: true, now: est(0.296, 0.269, 0.315, 24), chance: 1 / 3 }, "Race 1"))
      .toBe("Held: Race 1's weakest section IM3A (0.303 s/lap, n=20) lost 0.296 s/lap here (95% CI +0.269 to +0.315, n=24) again. "
        + "A section picked at random would have held with a chance of 33%.");
    expect(previousText({ race_id: "barber-r1", finding, held: false, now: est(0.02, -0.05, 0.09, 24), chance: 0 }, "Race 1"))
      .toMatch(/^Did not hold: .* not clearly slower than the car's overall pace predicts\. .* chance of 0%\.$/);
    expect(previousText({ race_id: "barber-r1", finding: null, held: null, now: null, chance: null }, "Race 1"))
      .toBe("Race 1 showed no section clearly weaker than the car's overall pace: nothing to check.");
    expect(previousText(null)).toBe("First race at this track this season: no earlier finding to check.");
  });
  it("a weakest section at two races of one track recurs; one at two tracks does not", () => {
    const r = (race_id: string, track_id: string, section?: string) => ({ race_id, track_id,
      finding: section ? { section, set: "subsections", section_loss: est(0.2, 0.1, 0.3, 20) } : null }) as unknown as SeasonRace;
    const tracks = [{ track_id: "barber", name: "Barber" }] as never;
    expect(recurring([r("b1", "barber", "im3a"), r("b2", "barber", "im3a"), r("c1", "cota", "im3a"), r("c2", "cota")], tracks))
      .toEqual(["IM3A at Barber (2 races)"]);
  });
  it("a section is named in official turns where the track serves its labels (the tracks endpoint's section_labels)", () => {
    const cota = { track_id: "cota", name: "COTA", section_labels: { im3a: "IM3A (Turns 12–15)", im2: "IM2 (Turns 10–11)" } } as never;
    const finding = { section: "im3a", set: "subsections", section_loss: est(0.303, 0.239, 0.337, 20) };
    expect(findingText(finding, cota)).toMatch(/^IM3A \(Turns 12–15\): 0\.303 s\/lap slower/);
    expect(previousText({ race_id: "cota-r1", finding, held: true, now: est(0.296, 0.269, 0.315, 24), chance: null }, "Race 1", cota))
      .toContain("weakest section IM3A (Turns 12–15) (0.303 s/lap");
    const r = (race_id: string, track_id: string, section?: string) => ({ race_id, track_id,
      finding: section ? { section, set: "subsections", section_loss: est(0.2, 0.1, 0.3, 20) } : null }) as unknown as SeasonRace;
    expect(recurring([r("c1", "cota", "im2"), r("c2", "cota", "im2")], [cota])).toEqual(["IM2 (Turns 10–11) at COTA (2 races)"]);
  });
});
