// Diverging scale for section loss (s per lap): blue = gains, grey = par, red = loses time.
const NEG = [33, 102, 172];
const MID = [235, 235, 235];
const POS = [178, 24, 43];

function mix(a: number[], b: number[], t: number): string {
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** Colour of ``v`` on a symmetric scale of half-width ``max`` (clamped). */
export function diverging(v: number | null | undefined, max: number): string {
  if (v === null || v === undefined || !Number.isFinite(v) || !(max > 0)) return "rgb(160, 160, 160)";
  const t = Math.max(-1, Math.min(1, v / max));
  return t >= 0 ? mix(MID, POS, t) : mix(MID, NEG, -t);
}

/** A symmetric domain: the largest |value|, rounded up to a readable step. */
export function scaleMax(values: (number | null | undefined)[]): number {
  const m = Math.max(0, ...values.filter((v): v is number => typeof v === "number" && Number.isFinite(v)).map(Math.abs));
  if (m === 0) return 0.1;
  const steps = [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5];
  return steps.find((s) => s >= m) ?? Math.ceil(m);
}

/** Colour of a loss ``v`` (s per lap, >= 0) on a one-sided scale: light grey at 0, full red at ``max``
 *  (a gain, below 0, stays at the light end). The larger the loss, the stronger the red. */
export function sequential(v: number | null | undefined, max: number): string {
  if (v === null || v === undefined || !Number.isFinite(v) || !(max > 0)) return "rgb(160, 160, 160)";
  return mix(MID, POS, Math.max(0, Math.min(1, v / max)));
}

/** How red a colour this module wrote is (0 = the light end, 1 = full red), for tests and tooltips. */
export function redness(rgb: string): number {
  const m = /rgb\((\d+), (\d+), (\d+)\)/.exec(rgb);
  if (!m) return NaN;
  return (MID[1] - Number(m[2])) / (MID[1] - POS[1]);
}
