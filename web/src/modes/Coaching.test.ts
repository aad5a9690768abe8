import { describe, expect, it } from "vitest";
import { factLine, isRange, type Fact } from "./Coaching";

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
