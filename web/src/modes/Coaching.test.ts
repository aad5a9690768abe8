import { describe, expect, it } from "vitest";
import { evidenceFor, factLine, isRange, measureText, sectionName, type Fact } from "./Coaching";

describe("coaching facts", () => {
  const range: Fact = { fact_id: "weather.track_temp_range", text: "track temperature 31.2 to 44.8 °C through the race",
    value: 13.6, unit: "°C", n: 40, lo: 31.2, hi: 44.8, digits: 1 };
  const est: Fact = { fact_id: "sections.im3a.pace_gap", text: "IM3A pace gap 0.466 s/lap", value: 0.466, unit: "s/lap", n: 20,
    lo: 0.414, hi: 0.525, digits: 3 };
  it("a min-max range is labelled a range, never a 95% CI; an estimate keeps its CI", () => {
    expect(isRange(range)).toBe(true);
    expect(factLine(range)).toBe("track temperature 31.2 to 44.8 °C through the race (n=40, range 31.2 to 44.8 °C)");
    expect(factLine(range)).not.toContain("CI");
    expect(isRange(est)).toBe(false);
    expect(factLine(est)).toBe("IM3A pace gap 0.466 s/lap (n=20, 95% CI 0.414 to 0.525)");
  });
  it("lap times in a fact are m:ss.mmm", () => {
    expect(factLine({ fact_id: "composite.best_clean_lap", text: "best clean lap 97.892 s", value: 97.892, unit: "s", n: 20 }))
      .toBe("best clean lap 1:37.892 (n=20)");
  });
});

describe("coaching as advice", () => {
  const d = {
    facts: [{ fact_id: "sections.im3a.section_loss", text: "IM3A (rank 1): 0.303 s/lap lost", n: 20, lo: 0.239, hi: 0.337, value: 0.303, digits: 3 },
      { fact_id: "sections.im3a.best_k", text: "IM3A best 11.140 s", n: 20, value: 11.14 },
      { fact_id: "sections.im1.section_loss", text: "IM1 -0.017 s/lap", n: 20, value: -0.017 },
      { fact_id: "limit.potential_gain", text: "no gain", missing: true }],
    actions: [{ section: "im3a", action: "In IM3A, repeat the car's own best", measure: { metric: "median_section_time_s", target: 11.177, over_laps: 5 },
      evidence: ["sections.im3a.best_k", "sections.im3a.section_loss", "limit.potential_gain"] }],
  };
  it("the objective's target in words, no metric ids", () => {
    expect(measureText(d.actions[0])).toBe("target: median IM3A time 11.177 s over the next 5 laps");
    expect(measureText({ action: "x", section: "s1", measure: { metric: "median_section_time_s", target: 71.5, over_laps: 1 } }))
      .toBe("target: median S1 time 1:11.500 over the next 1 lap");
    expect(measureText({ action: "x", section: "im3a", measure: { metric: "median_section_delta_to_field_s", target: 0.364, over_laps: 5 } }))
      .toBe("target: median IM3A time 0.364 s slower than the field's median there over the next 5 laps");
    expect(measureText({ action: "x", section: "im2", measure: { metric: "median_section_delta_to_field_s", target: -0.05, over_laps: 5 } }))
      .toBe("target: median IM2 time 0.050 s faster than the field's median there over the next 5 laps");
    expect(measureText({ action: "x", section: "im2", measure: { metric: "section_time_iqr_s", target: 0.12, over_laps: 5 } }))
      .toBe("target: spread of the middle half of IM2 times 0.120 s or less over the next 5 laps");
  });
  it("the evidence is the facts the objective cites, in the document's order, missing ones left out", () => {
    expect(evidenceFor(d, d.actions[0]).map((f) => f.fact_id)).toEqual(["sections.im3a.section_loss", "sections.im3a.best_k"]);
    expect(evidenceFor(d, { action: "x", section: "im1" }).map((f) => f.fact_id)).toEqual(["sections.im1.section_loss"]);
  });
});

describe("sections in official turns", () => {
  it("the objective's served place, else the track's label, else the code", () => {
    const track = { track_id: "road-america", name: "Road America", section_labels: { s3: "S3 (Turns 12–14, Canada Corner)" } } as never;
    const d = { track_id: "road-america", objective: { section: "im2", place: "IM2 (Turns 8–11, Carousel, The Kink)" } };
    expect(sectionName(d, "im2", track)).toBe("IM2 (Turns 8–11, Carousel, The Kink)");
    expect(sectionName(d, "s3", track)).toBe("S3 (Turns 12–14, Canada Corner)");
    expect(sectionName(d, "fl", track)).toBe("FL");
    expect(sectionName({}, "im1a")).toBe("IM1A");
  });
});
