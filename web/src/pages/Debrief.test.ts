import { describe, expect, it } from "vitest";
import { debriefFacts } from "./Debrief";
import { factLine, type Doc } from "../modes/Coaching";

describe("the debrief's evidence", () => {
  const doc: Doc = {
    headline: "Car 7: IM2 is where the time goes",
    facts: [
      { fact_id: "pattern.residual_sd", text: "lap-to-lap SD 0.240 s over 20 clean laps", n: 20 },
      { fact_id: "limit.track_temp", text: "no track-temperature readings", n: 0 },
      { fact_id: "sections.im2.section_loss", text: "IM2: 0.2 s/lap lost", value: 0.2, lo: 0.1, hi: 0.3, n: 20, digits: 3 },
      { fact_id: "composite.best_clean_lap", text: "best clean lap 95.709 s", n: 20 },
      { fact_id: "sections.gone", text: "x", missing: true },
    ],
    actions: [{ section: "im2", action: "In IM2 …", evidence: ["sections.im2.section_loss"] }],
  };
  it("puts the facts the actions cite first, keeps limits apart, drops missing ones; lines carry n and intervals, no ids", () => {
    const { facts, limits } = debriefFacts(doc);
    expect(facts.map((f) => f.fact_id)).toEqual(["sections.im2.section_loss", "pattern.residual_sd", "composite.best_clean_lap"]);
    expect(limits.map((f) => f.fact_id)).toEqual(["limit.track_temp"]);
    const lines = facts.map(factLine);
    expect(lines[0]).toBe("IM2: 0.2 s/lap lost (n=20, 95% CI 0.100 to 0.300)");
    expect(lines[2]).toContain("1:35.709");                       // lap times as m:ss.mmm
    for (const l of lines) expect(l).not.toMatch(/sections\.|pattern\.|composite\./);
  });
});
