// Number formatting as the timing sheets write it, and estimates with their interval and n.
export type Est = { value?: number | null; lo?: number | null; hi?: number | null; n?: number | null };

/** 98.279 -> "1:38.279"; 27.9 -> "27.900"; null -> "–". Negative keeps its sign. */
export function fmtTime(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  const neg = s < 0;
  const ms = Math.round(Math.abs(s) * 1000);
  const m = Math.floor(ms / 60000);
  const rest = (ms - m * 60000) / 1000;
  const body = m > 0 ? `${m}:${rest.toFixed(3).padStart(6, "0")}` : rest.toFixed(3);
  return (neg ? "-" : "") + body;
}

/** A signed delta in seconds: +0.123 / -0.045. */
export function fmtDelta(s: number | null | undefined, digits = 3): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  return (s > 0 ? "+" : s < 0 ? "−" : "±") + Math.abs(s).toFixed(digits);
}

/** "+0.123 s (95% CI +0.05 to +0.20, n=20)" */
export function fmtEst(e: Est | null | undefined, unit = "s", digits = 3): string {
  if (!e || e.value === null || e.value === undefined) return "n/a";
  const ci = e.lo !== null && e.lo !== undefined && e.hi !== null && e.hi !== undefined
    ? `95% CI ${fmtDelta(e.lo, digits)} to ${fmtDelta(e.hi, digits)}, ` : "";
  return `${fmtDelta(e.value, digits)} ${unit} (${ci}n=${e.n ?? 0})`;
}

/** An absolute time with its interval: "28.580 s (95% CI 28.527 to 28.675, n=20)" */
export function fmtTimeEst(e: Est | null | undefined): string {
  if (!e || e.value === null || e.value === undefined) return "n/a";
  const ci = e.lo !== null && e.lo !== undefined && e.hi !== null && e.hi !== undefined
    ? `95% CI ${fmtTime(e.lo)} to ${fmtTime(e.hi)}, ` : "";
  return `${fmtTime(e.value)} (${ci}n=${e.n ?? 0})`;
}

export function fmtNum(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
}

/** The pattern engine's consistency percentile (the share of the other cars with a larger lap-to-lap SD) in
 *  words: 30 of a field of 21 -> "more consistent than 6 of the other 20 cars". */
export function fmtConsistency(pct: number | null | undefined, fieldSize: number | null | undefined): string {
  if (pct === null || pct === undefined || !Number.isFinite(pct) || !fieldSize || fieldSize < 2) return "–";
  const others = fieldSize - 1;
  const k = Math.round((pct / 100) * others);
  return `more consistent than ${k} of the other ${others} car${others === 1 ? "" : "s"}`;
}

/** Lap times written into server text as seconds ("97.892 s", 60 s or more) rewritten as m:ss.mmm. */
export function lapTimesInText(text: string): string {
  return text.replace(/(?<![\d.:+\-−])(\d{2,4}\.\d{1,3})( ?s)(?![\w/])/g, (all, num: string) => {
    const v = Number(num);
    return v >= 60 ? fmtTime(v) : all;
  });
}
