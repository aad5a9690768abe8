// What the car view's map and tables measure. One meaning of "composite" on every screen: the field's
// fastest clean time in each section (all classes), the same reference the leaderboard's best-case lap sums.
import type { Estimate, Recommendation } from "./api/client";

export type Measure = "loss" | "relative";

export const COMPOSITE_DEF = "composite: the field's fastest clean time in each section (all classes); summed, the best-case lap";

export const MEASURES: Record<Measure, { legend: string; explain: string; title: string }> = {
  loss: {
    legend: "seconds lost per lap to the composite",
    title: "seconds lost per lap to the composite",
    explain: "Red: time lost per lap to the composite in the section (the car's median clean lap there minus the composite); the strongest red loses most.",
  },
  relative: {
    legend: "slower than the car's overall pace predicts (s/lap)",
    title: "section loss relative to the car's overall pace",
    explain: "Relative: the loss left after spreading the car's whole-lap deficit over the sections by their length; red = weaker here than elsewhere, blue = relatively stronger (it may still lose time).",
  },
};

/** The estimate one section's row contributes to the map under ``m``. */
export function measureOf(r: Recommendation, m: Measure): Estimate | null | undefined {
  return m === "relative" ? r.section_loss : r.loss;
}

/** The section losing most per lap to the composite (the map's strongest red), or undefined. */
export function mostLost(recs: Recommendation[], set: string): string | undefined {
  let best: string | undefined, v = -Infinity;
  for (const r of recs) {
    const x = r.section_set === set && r.section ? r.loss?.value : undefined;
    if (typeof x === "number" && x > v) { v = x; best = r.section!; }
  }
  return best;
}
