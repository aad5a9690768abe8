// Small, pure helpers the SVG charts share: linear scales, nice ticks, and the bow-tie band of a slope's
// interval (two lines through one point).
export type Scale = (v: number) => number;

/** Maps the domain [d0, d1] linearly onto the range [r0, r1] (a flat domain maps to the range's middle). */
export function linear([d0, d1]: [number, number], [r0, r1]: [number, number]): Scale {
  const span = d1 - d0;
  return span === 0 ? () => (r0 + r1) / 2 : (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** [min, max] of the finite values, widened by `pad` of the span on each side; [-1, 1] around a lone value. */
export function extent(xs: readonly (number | null | undefined)[], pad = 0): [number, number] {
  const v = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  if (!v.length) return [0, 1];
  let lo = Math.min(...v), hi = Math.max(...v);
  if (lo === hi) return [lo - 1, hi + 1];
  const p = (hi - lo) * pad;
  lo -= p; hi += p;
  return [lo, hi];
}

/** About `count` round tick values (steps of 1, 2 or 5 × 10^k) inside [lo, hi]. */
export function ticks(lo: number, hi: number, count = 4): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

/** The region between the lines of slope `lo` and `hi` through `pivot`, from x0 to x1, in data space: a
 *  bow-tie (it pinches to the pivot), the picture of a slope's interval. */
export function slopeBand(pivot: { x: number; y: number }, lo: number, hi: number, x0: number, x1: number): [number, number][] {
  const at = (s: number, x: number): [number, number] => [x, pivot.y + s * (x - pivot.x)];
  return [at(lo, x0), [pivot.x, pivot.y], at(lo, x1), at(hi, x1), [pivot.x, pivot.y], at(hi, x0)];
}

/** Points of one series split where a value is missing, so a gap is drawn as a gap. */
export function segments(xs: readonly number[], ys: readonly (number | null | undefined)[]): [number, number][][] {
  const out: [number, number][][] = [];
  let cur: [number, number][] = [];
  xs.forEach((x, i) => {
    const y = ys[i];
    if (typeof y === "number" && Number.isFinite(y)) cur.push([x, y]);
    else if (cur.length) { out.push(cur); cur = []; }
  });
  if (cur.length) out.push(cur);
  return out;
}

/** Index of the value in the sorted `xs` nearest to `x` (-1 when empty). */
export function nearest(xs: readonly number[], x: number): number {
  let best = -1, d = Infinity;
  xs.forEach((v, i) => { const e = Math.abs(v - x); if (e < d) { d = e; best = i; } });
  return best;
}
