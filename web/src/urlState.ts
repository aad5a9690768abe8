// Every view state lives in the URL: /race/<race>?car=&mode=&section=&lap=&ref=&tref=&tlap=&chart=
export const MODES = ["sections", "weather", "patterns", "coaching", "telemetry"] as const;
export type Mode = (typeof MODES)[number];
export type ViewState = { car?: string; mode: Mode; section?: string; lap?: number; set?: "sectors" | "subsections"; coach?: boolean;
  rel?: boolean; ref?: string; tref?: string; tlap?: number; chart?: "position" };   // chart: the race chart's mode (none: the gap to the leader)
   // ref: the car the car is compared against; tref: the Telemetry mode's reference lap ("own": the car's own best, a car: that car's best; none: the fastest car's)   // rel: colour by the loss relative to the car's overall pace instead of the loss to the composite

/** Every section name the map and the panels know (sectors, then sub-sections). */
export const SECTION_NAMES = ["s1", "s2", "s3", "im1a", "im1", "im2a", "im2", "im3a", "fl"] as const;

export function parseState(search: string): ViewState {
  const q = new URLSearchParams(search);
  const mode = q.get("mode");
  const lap = q.get("lap");
  const set = q.get("set");
  const tlap = q.get("tlap");
  return {
    car: q.get("car") || undefined,
    mode: (MODES as readonly string[]).includes(mode ?? "") ? (mode as Mode) : "sections",
    section: (SECTION_NAMES as readonly string[]).includes(q.get("section") ?? "") ? q.get("section")! : undefined,   // unknown: ignored
    lap: lap !== null && /^\d+$/.test(lap) ? Number(lap) : undefined,
    set: set === "subsections" ? "subsections" : set === "sectors" ? "sectors" : undefined,
    coach: q.get("coach") === "1" ? true : undefined,
    rel: q.get("rel") === "1" ? true : undefined,
    ref: q.get("ref") || undefined,
    tref: q.get("tref") || undefined,
    // the lap compared with the car's own best (Telemetry mode, tref=own); default: its median clean lap
    tlap: tlap !== null && /^\d+$/.test(tlap) ? Number(tlap) : undefined,
    chart: q.get("chart") === "position" ? "position" : undefined,
  };
}

export function stateToSearch(s: ViewState): string {
  const q = new URLSearchParams();
  if (s.car) q.set("car", s.car);
  if (s.mode && s.mode !== "sections") q.set("mode", s.mode);
  if (s.set) q.set("set", s.set);
  if (s.section) q.set("section", s.section);
  if (s.lap !== undefined) q.set("lap", String(s.lap));
  if (s.coach) q.set("coach", "1");
  if (s.rel) q.set("rel", "1");
  if (s.ref) q.set("ref", s.ref);
  if (s.tref) q.set("tref", s.tref);
  if (s.tlap !== undefined) q.set("tlap", String(s.tlap));
  if (s.chart) q.set("chart", s.chart);
  const t = q.toString();
  return t ? `?${t}` : "";
}
