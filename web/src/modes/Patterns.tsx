import { useId } from "react";
import { Alert, Typography } from "@mui/material";
import type { CarDetail, Lap, PatternTrend, Recommendation } from "../api/client";
import { extent, linear, slopeBand, ticks } from "../charts";
import { Async, type Result } from "../components/Async";
import { flagLabel } from "../labels";
import { fmtConsistency, fmtDelta, fmtEst, fmtTime } from "../format";

const MARKS: [string, string, string][] = [["pit_in", "pit", "#6a3d9a"], ["pit_out", "pit", "#6a3d9a"], ["caution", "caution", "#e6a100"],
  ["deleted", "deleted", "#000"], ["first_lap", "first lap", "#1f78b4"]];

const W = 560, P = 44;
/** The lap axis the lap chart and the trend chart share (lap 1 .. the car's last lap). */
export const lapX = (n: number) => (lap: number) => P + ((lap - 1) / Math.max(1, n - 1)) * (W - P - 10);

export function LapChart({ laps, selected, onLap }: { laps: Lap[]; selected?: number; onLap: (l: number) => void }) {
  const H = 256;
  const ts = laps.map((l) => l.lap_time_s ?? NaN).filter(Number.isFinite);
  if (!ts.length) return <Typography>No lap times.</Typography>;
  const sorted = [...ts].sort((a, b) => a - b);
  const lo = sorted[0] - 0.5, hi = Math.min(sorted[sorted.length - 1], sorted[Math.floor(sorted.length * 0.5)] * 1.08) + 0.5;
  const n = Math.max(...laps.map((l) => l.lap));
  const x = lapX(n);
  const y = (t: number) => H - P - ((Math.min(t, hi) - lo) / (hi - lo)) * (H - P - 10);   // slower = higher
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} role="img" aria-label="lap chart" data-testid="lap-chart">
      <line x1={P} x2={W - 10} y1={H - P} y2={H - P} stroke="#333" /><line x1={P} x2={P} y1={10} y2={H - P} stroke="#333" />
      {[lo + 0.5, (lo + hi) / 2, hi - 0.5].map((t) => <text key={t} x={P - 4} y={y(t) + 4} fontSize={10} textAnchor="end">{fmtTime(t)}</text>)}
      {ticks(1, n, 6).map((t) => <g key={t} data-testid="lap-tick"><line x1={x(t)} x2={x(t)} y1={H - P} y2={H - P + 4} stroke="#333" />
        <text x={x(t)} y={H - P + 14} fontSize={10} textAnchor="middle">{t}</text></g>)}
      <text x={W / 2} y={H - 4} fontSize={11} textAnchor="middle">lap (off-scale laps drawn at the top edge)</text>
      <polyline fill="none" stroke="#999" points={laps.filter((l) => l.lap_time_s).map((l) => `${x(l.lap)},${y(l.lap_time_s!)}`).join(" ")} />
      {laps.filter((l) => l.lap_time_s).map((l) => {
        const f = l.flags ?? {};
        const m = MARKS.find(([k]) => f[k]);
        return <circle key={l.lap} cx={x(l.lap)} cy={y(l.lap_time_s!)} r={l.lap === selected ? 6 : 4}
          fill={l.is_clean ? "#b00020" : m ? m[2] : "#fff"} stroke={m ? m[2] : "#b00020"} strokeWidth={1.5}
          style={{ cursor: "pointer" }} onClick={() => onLap(l.lap)}>
          <title>{`lap ${l.lap}: ${fmtTime(l.lap_time_s)}${l.is_clean ? " clean" : ` excluded: ${(l.exclusion_reasons ?? []).map(flagLabel).join(", ")}`}`}</title>
        </circle>;
      })}
      <g transform={`translate(${P + 8}, ${H - P + 28})`} fontSize={10}>
        <circle cx={0} cy={0} r={4} fill="#b00020" /><text x={7} y={3}>clean</text>
        {MARKS.filter((m, i) => i !== 1).map(([k, label, c], i) => <g key={k} transform={`translate(${50 + i * 70}, 0)`}><circle r={4} fill={c} /><text x={7} y={3}>{label}</text></g>)}
      </g>
    </svg>
  );
}

/** The trend under the lap chart, on the same lap axis: the car's clean laps relative to the field (the
 *  field's median clean lap on that lap number), the Theil–Sen line through its pivot, and the slope's 95%
 *  interval as the fan of lines through the pivot. */
export function TrendChart({ trend, nLaps }: { trend: PatternTrend; nLaps: number }) {
  const H = 170, T = 10, B = 30;
  const clip = `trend-clip-${useId().replace(/[^A-Za-z0-9_-]/g, "")}`;   // unique: the chart may be drawn twice
  const pts = trend.points, est = trend.slope_s_per_lap, pv = trend.pivot;
  if (!pts || !est || est.value === null || est.value === undefined || !pv) return null;
  const x = lapX(nLaps);
  const first = 1, last = nLaps;
  const band = est.lo !== null && est.lo !== undefined && est.hi !== null && est.hi !== undefined
    ? slopeBand({ x: pv.lap, y: pv.pace_s }, est.lo, est.hi, first, last) : null;
  const at = (lap: number) => pv.pace_s + est.value! * (lap - pv.lap);
  const yd = extent([...pts.field_pace_s, at(first), at(last), 0], 0.08);
  const y = linear(yd, [H - B, T]);   // slower (positive) = higher, as on the lap chart
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} role="img" data-testid="trend-chart"
      aria-label={`pace relative to the field by lap, with the trend ${fmtEst(est, "s per lap")}`}>
      <defs><clipPath id={clip}><rect x={P} y={T} width={W - P - 10} height={H - T - B} /></clipPath></defs>
      <line x1={P} x2={W - 10} y1={H - B} y2={H - B} stroke="#333" /><line x1={P} x2={P} y1={T} y2={H - B} stroke="#333" />
      <line x1={P} x2={W - 10} y1={y(0)} y2={y(0)} stroke="#999" strokeDasharray="4 3" />
      {ticks(yd[0], yd[1], 4).map((t) => <text key={t} x={P - 4} y={y(t) + 3} fontSize={10} textAnchor="end">{fmtDelta(t, 1)}</text>)}
      {ticks(first, last, 6).map((t) => <text key={t} x={x(t)} y={H - B + 12} fontSize={10} textAnchor="middle">{t}</text>)}
      <text x={W / 2} y={H - 4} fontSize={11} textAnchor="middle">lap: pace vs the field's median (s; dashed = the field)</text>
      <g clipPath={`url(#${clip})`}>
        {band && <polygon data-testid="trend-band" points={band.map(([a, b]) => `${x(a)},${y(b)}`).join(" ")} fill="#1f78b4" opacity={0.2} />}
        <line data-testid="trend-line" x1={x(first)} y1={y(at(first))} x2={x(last)} y2={y(at(last))} stroke="#1f78b4" strokeWidth={2} />
        {pts.lap.map((l, i) => <circle key={l} cx={x(l)} cy={y(pts.field_pace_s[i])} r={3} fill="#b00020">
          <title>{`lap ${l}: ${fmtDelta(pts.field_pace_s[i])} s vs the field`}</title></circle>)}
      </g>
    </svg>
  );
}

export default function Patterns({ detail, laps, selectedLap, onLap }:
  { detail: CarDetail; laps: Result<{ items: Lap[] }>; selectedLap?: number; onLap: (l: number) => void }) {
  const p: Partial<Recommendation> = detail.pattern ?? {};
  const st = p.stats;
  const tr = detail.pattern?.trend;
  return (
    <div data-testid="patterns">
      <Typography variant="h6" component="h3">Lap chart</Typography>
      <Async r={laps} what="laps" empty={(d) => (d.items.length ? null : "No laps for this car.")}>
        {(d) => <>
          <LapChart laps={d.items} selected={selectedLap} onLap={onLap} />
          {p.available && tr?.points ? <>
            <Typography variant="subtitle2" component="h4">Pace relative to the field, with its trend</Typography>
            <TrendChart trend={tr} nLaps={Math.max(...d.items.map((l) => l.lap))} />
          </> : null}
        </>}
      </Async>
      {p.available && st ? (
        <>
          <Typography data-testid="trend-text">Trend (relative to the field): {tr?.label ?? "n/a"} — {fmtEst(tr?.slope_s_per_lap, "s per lap")}{tr?.q_value !== undefined && tr?.q_value !== null ? `, q=${tr.q_value.toFixed(3)} (Benjamini–Hochberg)` : ""}; shaded: the slope's 95% interval (per car, unadjusted; the label uses q, adjusted over the race's cars), drawn through the median lap and pace</Typography>
          <Typography>Consistency: lap-to-lap SD {typeof p.residual_sd_s === "number" ? p.residual_sd_s.toFixed(3) : "–"} s around the car's own trend over n={st.n} clean laps (median {fmtTime(st.median_s)}); on that SD, <span data-testid="consistency-rank">{fmtConsistency(p.consistency_percentile, p.field_size)}</span> in the field</Typography>
          {p.inconsistency_driver ? <Typography>Most of the lap-time variance comes from {String(p.inconsistency_driver).toUpperCase()}.</Typography> : null}
        </>
      ) : <Alert severity="info">{String(p.reason ?? p.message ?? "No pattern analysis for this car.")}</Alert>}
    </div>
  );
}
