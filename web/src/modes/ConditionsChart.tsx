import { useState, type MouseEvent } from "react";
import { Typography } from "@mui/material";
import type { S } from "../api/client";
import { extent, linear, nearest, segments, ticks } from "../charts";
import { fmtNum, fmtTime } from "../format";

type Series = S["WeatherSeries"];

const W = 600, ROW = 62, LEFT = 150, RIGHT = 12, TOP = 22, BOTTOM = 30;
const COLOURS: Record<string, string> = { air_temp_c: "#1f78b4", track_temp_c: "#e31a1c", humidity_pct: "#33a02c",
  wind_speed_kph: "#6a3d9a", pressure_hpa: "#b15928", pace: "#333" };

type Row = { key: string; label: string; n: number; xs: number[]; ys: (number | null)[]; fmt: (v: number) => string };

/** The rows drawn: the field's median clean lap per lap (on the crossing clock), then every sensor with readings. */
export function conditionRows(s: Series): Row[] {
  const rows: Row[] = [];
  const paced = (s.laps ?? []).filter((l) => l.field_median_s !== null && l.field_median_s !== undefined);
  if (paced.length) rows.push({ key: "pace", label: "field median clean lap", n: paced.reduce((a, l) => a + l.n_clean, 0),
    xs: paced.map((l) => l.minute), ys: paced.map((l) => l.field_median_s ?? null), fmt: fmtTime });
  for (const [key, v] of Object.entries(s.sensors)) {
    if (v.n > 0) rows.push({ key, label: v.label, n: v.n, xs: s.minutes, ys: v.values.map((x) => x ?? null), fmt: (x) => fmtNum(x, 1) });
  }
  return rows;
}

/** Conditions over the race as small multiples on one time axis (minutes since the start), with the lap
 *  numbers along the top; hover reads every row at the nearest reading. */
export function ConditionsChart({ series }: { series: Series }) {
  const rows = conditionRows(series);
  const laps = series.laps ?? [];
  const [at, setAt] = useState<number | null>(null);
  if (!rows.length) return <Typography>No readings during the race.</Typography>;
  const H = TOP + rows.length * ROW + BOTTOM;
  const xDom = extent([...series.minutes, ...laps.map((l) => l.minute), 0]);
  const x = linear(xDom, [LEFT, W - RIGHT]);
  const toMinute = linear([LEFT, W - RIGHT], xDom);
  const lapTicks = laps.filter((l) => l.lap === 1 || l.lap % 5 === 0);
  const onMove = (e: MouseEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    if (!box.width) return;
    setAt(toMinute(((e.clientX - box.left) / box.width) * W));
  };
  const readout = at === null ? null : rows.map((r) => {
    const i = nearest(r.xs, at);
    const y = i >= 0 ? r.ys[i] : null;
    return `${r.label} ${y === null ? "–" : r.fmt(y)}`;
  });
  const lapAt = at === null ? null : laps[nearest(laps.map((l) => l.minute), at)]?.lap;
  return (
    <figure style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} role="img" data-testid="conditions-chart"
        aria-label={`conditions over the race: ${rows.map((r) => r.label).join(", ")}`} onMouseMove={onMove} onMouseLeave={() => setAt(null)}>
        {lapTicks.map((l) => <g key={l.lap}><line x1={x(l.minute)} x2={x(l.minute)} y1={TOP - 4} y2={H - BOTTOM} stroke="#eee" />
          <text x={x(l.minute)} y={TOP - 8} fontSize={9} textAnchor="middle">L{l.lap}</text></g>)}
        {rows.map((r, k) => {
          const y0 = TOP + k * ROW, y1 = y0 + ROW - 14;
          const dom = extent(r.ys, 0.08);
          const y = linear(dom, [y1, y0]);
          const vals = r.ys.filter((v): v is number => v !== null && Number.isFinite(v));
          return (
            <g key={r.key} data-testid={`conditions-row-${r.key}`}>
              <text x={4} y={y0 + 14} fontSize={11}>{r.label}</text>
              <text x={4} y={y0 + 28} fontSize={10} fill="#555">{r.fmt(Math.min(...vals))}–{r.fmt(Math.max(...vals))}</text>
              <text x={4} y={y0 + 41} fontSize={10} fill="#555">n={r.n}{r.key === "pace" ? " laps" : " readings"}</text>
              <line x1={LEFT} x2={W - RIGHT} y1={y1} y2={y1} stroke="#ccc" />
              {segments(r.xs, r.ys).map((seg, i) => <polyline key={i} fill="none" stroke={COLOURS[r.key] ?? "#333"} strokeWidth={1.5}
                points={seg.map(([a, b]) => `${x(a)},${y(b)}`).join(" ")} />)}
            </g>
          );
        })}
        <line x1={LEFT} x2={W - RIGHT} y1={H - BOTTOM} y2={H - BOTTOM} stroke="#333" />
        {ticks(xDom[0], xDom[1], 6).map((t) => <text key={t} x={x(t)} y={H - BOTTOM + 13} fontSize={10} textAnchor="middle">{t}</text>)}
        <text x={(LEFT + W) / 2} y={H - 4} fontSize={11} textAnchor="middle">minutes since the race start</text>
        {at !== null && <line x1={x(at)} x2={x(at)} y1={TOP - 4} y2={H - BOTTOM} stroke="#000" strokeDasharray="3 3" />}
      </svg>
      <figcaption>
        <Typography variant="body2" aria-live="polite" data-testid="conditions-readout">
          {readout ? `${fmtNum(at, 1)} min${lapAt ? ` (about lap ${lapAt})` : ""}: ${readout.join("; ")}`
            : `${series.n} readings, ${series.start_basis}${series.note ? `; ${series.note}` : ""}. Hover to read values.`}
        </Typography>
      </figcaption>
    </figure>
  );
}
