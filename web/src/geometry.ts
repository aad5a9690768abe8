// Outline geometry: the outline is evenly resampled by arc length from the finish line in the direction
// of travel, so a point's fraction of the lap is its index / n.
export type Pt = { x: number; y: number };

export function pointAt(outline: Pt[], f: number): Pt {
  const n = outline.length;
  const t = (((f % 1) + 1) % 1) * n;
  const i = Math.floor(t) % n;
  const j = (i + 1) % n;
  const u = t - Math.floor(t);
  return { x: outline[i].x + (outline[j].x - outline[i].x) * u, y: outline[i].y + (outline[j].y - outline[i].y) * u };
}

/** The polyline from fraction a to b (a < b <= 1), boundary points interpolated. */
export function slice(outline: Pt[], a: number, b: number): Pt[] {
  const n = outline.length;
  const out = [pointAt(outline, a)];
  for (let i = Math.ceil(a * n); i < b * n; i++) if (i / n > a) out.push(outline[i % n]);
  out.push(pointAt(outline, b >= 1 ? 0.999999 : b));
  if (b >= 1) out.push(outline[0]);
  return out;
}

export const SECTORS = ["s1", "s2", "s3"] as const;
export const SUBS: Record<string, [string, string]> = { s1: ["im1a", "im1"], s2: ["im2a", "im2"], s3: ["im3a", "fl"] };
export const SUBSECTIONS = ["im1a", "im1", "im2a", "im2", "im3a", "fl"];

/** Section -> [start, end] fractions. Sub-sectors split each sector by ``subShare[first sub]`` (the field's
 * median share of the sector's time in its first sub-section), drawn as approximate. */
export function sectionRanges(sectorFractions: number[], subShare?: Record<string, number>): Record<string, [number, number]> {
  const [f1, f2] = sectorFractions;
  const sec: Record<string, [number, number]> = { s1: [0, f1], s2: [f1, f2], s3: [f2, 1] };
  const out: Record<string, [number, number]> = { ...sec };
  for (const s of SECTORS) {
    const [a, b] = sec[s];
    const [p, q] = SUBS[s];
    const share = subShare?.[p];
    const m = share !== undefined && share > 0 && share < 1 ? a + (b - a) * share : (a + b) / 2;
    out[p] = [a, m];
    out[q] = [m, b];
  }
  return out;
}

/** Fraction of the lap at ``elapsed`` seconds into a lap whose sections (in order) took ``times``,
 * moving evenly within each section's stretch of the outline. */
export function fractionAtTime(ranges: [number, number][], times: number[], elapsed: number): number {
  let t = elapsed;
  for (let k = 0; k < times.length; k++) {
    const d = times[k];
    if (!(d > 0)) continue;
    if (t <= d) return ranges[k][0] + (ranges[k][1] - ranges[k][0]) * (t / d);
    t -= d;
  }
  return 0;
}

export function pathD(pts: Pt[], scale: number, pad: number): string {
  return pts.map((p, i) => `${i ? "L" : "M"}${(p.x * scale + pad).toFixed(1)},${(p.y * scale + pad).toFixed(1)}`).join("");
}
