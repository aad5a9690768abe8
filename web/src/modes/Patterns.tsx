import { Alert, Typography } from "@mui/material";
import type { CarDetail, Lap } from "../api/client";
import { Async, type Result } from "../components/Async";
import { fmtEst, fmtTime } from "../format";

const MARKS: [string, string, string][] = [["pit_in", "pit", "#6a3d9a"], ["pit_out", "pit", "#6a3d9a"], ["caution", "caution", "#e6a100"],
  ["deleted", "deleted", "#000"], ["first_lap", "first lap", "#1f78b4"]];

export function LapChart({ laps, selected, onLap }: { laps: Lap[]; selected?: number; onLap: (l: number) => void }) {
  const W = 560, H = 240, P = 44;
  const ts = laps.map((l) => l.lap_time_s ?? NaN).filter(Number.isFinite);
  if (!ts.length) return <Typography>No lap times.</Typography>;
  const sorted = [...ts].sort((a, b) => a - b);
  const lo = sorted[0] - 0.5, hi = Math.min(sorted[sorted.length - 1], sorted[Math.floor(sorted.length * 0.5)] * 1.08) + 0.5;
  const n = Math.max(...laps.map((l) => l.lap));
  const x = (lap: number) => P + ((lap - 1) / Math.max(1, n - 1)) * (W - P - 10);
  const y = (t: number) => H - P - ((Math.min(t, hi) - lo) / (hi - lo)) * (H - P - 10);   // slower = higher
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} role="img" aria-label="lap chart" data-testid="lap-chart">
      <line x1={P} x2={W - 10} y1={H - P} y2={H - P} stroke="#333" /><line x1={P} x2={P} y1={10} y2={H - P} stroke="#333" />
      {[lo + 0.5, (lo + hi) / 2, hi - 0.5].map((t) => <text key={t} x={P - 4} y={y(t) + 4} fontSize={10} textAnchor="end">{fmtTime(t)}</text>)}
      <text x={W / 2} y={H - 8} fontSize={11} textAnchor="middle">lap (off-scale laps drawn at the top edge)</text>
      <polyline fill="none" stroke="#999" points={laps.filter((l) => l.lap_time_s).map((l) => `${x(l.lap)},${y(l.lap_time_s!)}`).join(" ")} />
      {laps.filter((l) => l.lap_time_s).map((l) => {
        const f = (l.flags ?? {}) as Record<string, boolean>;
        const m = MARKS.find(([k]) => f[k]);
        return <circle key={l.lap} cx={x(l.lap)} cy={y(l.lap_time_s!)} r={l.lap === selected ? 6 : 4}
          fill={l.is_clean ? "#b00020" : m ? m[2] : "#fff"} stroke={m ? m[2] : "#b00020"} strokeWidth={1.5}
          style={{ cursor: "pointer" }} onClick={() => onLap(l.lap)}>
          <title>{`lap ${l.lap}: ${fmtTime(l.lap_time_s)}${l.is_clean ? " clean" : ` excluded: ${(l.exclusion_reasons ?? []).join(", ")}`}`}</title>
        </circle>;
      })}
      <g transform={`translate(${P + 8}, ${H - P + 14})`} fontSize={10}>
        <circle cx={0} cy={0} r={4} fill="#b00020" /><text x={7} y={3}>clean</text>
        {MARKS.filter((m, i) => i !== 1).map(([k, label, c], i) => <g key={k} transform={`translate(${50 + i * 70}, 0)`}><circle r={4} fill={c} /><text x={7} y={3}>{label}</text></g>)}
      </g>
    </svg>
  );
}

export default function Patterns({ detail, laps, selectedLap, onLap }:
  { detail: CarDetail; laps: Result<{ items: Lap[] }>; selectedLap?: number; onLap: (l: number) => void }) {
  const p = (detail.pattern ?? {}) as Record<string, unknown>;
  const st = p.stats as Record<string, number> | undefined;
  const tr = p.trend as { slope_s_per_lap?: never; label?: string } | undefined;
  return (
    <div data-testid="patterns">
      <Typography variant="h6" component="h3">Lap chart</Typography>
      <Async r={laps} what="laps" empty={(d) => (d.items.length ? null : "No laps for this car.")}>
        {(d) => <LapChart laps={d.items} selected={selectedLap} onLap={onLap} />}
      </Async>
      {p.available && st ? (
        <>
          <Typography>Trend (relative to the field): {tr?.label ?? "n/a"} — {fmtEst(tr?.slope_s_per_lap, "s per lap")}</Typography>
          <Typography>Consistency: lap-to-lap SD {typeof p.residual_sd_s === "number" ? p.residual_sd_s.toFixed(3) : "–"} s around the car's own trend over n={st.n} clean laps (median {fmtTime(st.median_s)}); percentile {String(p.consistency_percentile ?? "–")} of {String(p.field_size ?? "–")} cars in the field</Typography>
          {p.inconsistency_driver ? <Typography>Most of the lap-time variance comes from {String(p.inconsistency_driver).toUpperCase()}.</Typography> : null}
        </>
      ) : <Alert severity="info">{String(p.reason ?? p.message ?? "No pattern analysis for this car.")}</Alert>}
    </div>
  );
}
