// Words for the pipeline's lap-flag codes (lib/kaizenlap/ingest/flags.py FLAG_CODES) and issue severities.
export const FLAG_LABELS: Record<string, string> = {
  first_lap: "first lap (start)",
  caution: "caution (not green)",
  deleted: "deleted by the officials",
  after_caution: "restart after a caution",
  pit_in: "pit in",
  pit_out: "pit out",
  missing_sectors: "missing sector times",
  sector_sum: "sectors don't sum to the lap",
  slow: "slow (over 107% of the class median)",
  glitch: "timing glitch",
  outlier: "outlier from the car's own trend",
};

/** A flag code in words; an unknown code is shown with its underscores as spaces. */
export function flagLabel(code: string): string {
  return FLAG_LABELS[code] ?? code.replace(/_/g, " ");
}

/** A section as a race engineer names it: the track's served label in official turns ("IM1A (Turns 1–3)",
 *  the tracks endpoint's `section_labels`, the same words coaching uses); the code in capitals where the track
 *  has none (its turns are not placed). */
export function sectionLabel(section: string, track?: { section_labels?: Record<string, string> | null } | null): string {
  return track?.section_labels?.[section.toLowerCase()] ?? section.toUpperCase();
}
