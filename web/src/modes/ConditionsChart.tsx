import { useState, type KeyboardEvent, type MouseEvent } from "react";
import { Typography } from "@mui/material";
import type { S } from "../api/client";
import { extent, linear, nearest, segments, ticks } from "../charts";
import { fmtNum, fmtTime } from "../format";

type Series = S["WeatherSeries"];

const W = 600, ROW = 62, LEFT = 150, RIGHT = 12, TOP = 22, BOTTOM = 30;
const COLOURS: Record<string, string> = { air_temp_c: "#1f78b4", track_temp_c: "#e31a1c", humidity_pct: "#33a02c",
  wind_speed_kph: "#6a3d9a", pressure_hpa: "#b15928", pace: "#333" };

type Row = { key: string; label: string; n: number; xs: number[]; ys: (number | null)[]; ns?: number[]; fmt: (v: number) => string };

/** The rows drawn: the field's median clean lap per lap (on the crossing clock), then every sensor with readings. */
export function conditionRows(s: Series): Row[] {
  const rows: Row[] = [];
  // every lap, so a lap without clean laps (a caution) breaks the line instead of being bridged
  const laps = s.laps ?? [];
  if (laps.some((l) => l.field_median_s !== null && l.field_median_s !== undefined)) rows.push({ key: "pace",
    label: "field median clean lap", n: laps.reduce((a, l) => a + l.n_clean, 0), xs: laps.map((l) => l.minute),
    ys: laps.map((l) => l.field_median_s ?? null), ns: laps.map((l) => l.n_clean), fmt: fmtTime });
  for (const [key, v] of Object.entries(s.sensors)) {
    if (v.n > 0) rows.push({ key, label: v.label, n: v.n, xs: s.minutes, ys: v.values.map((x) => x ?? null), fmt: (x) => fmtNum(x, 1) });
  }
  return rows;
}

/** The typical gap between consecutive values of the sorted `xs` (their median step; 0 for fewer than 2). */
export function typicalStep(xs: readonly number[]): number {
  const d = xs.slice(1).map((x, i) => x - xs[i]).filter((v) => v > 0).sort((a, b) => a - b);
  return d.length ? d[Math.floor(d.length / 2)] : 0;
}

/** What a row reads at minute `at`: its value at the nearest point with that point's minute, or null when the
 *  nearest point is more than one typical step away (outside the data, or across a gap). */
export function readAt(r: Row, at: number): { minute: number; value: number; n?: number } | null {
  const i = nearest(r.xs, at);
  if (i < 0) return null;
  const y = r.ys[i];
  const step = typicalStep(r.xs);
  if (y === null || !Number.isFinite(y) || (step > 0 && Math.abs(r.xs[i] - at) > step)) return null;
  return { minute: r.xs[i], value: y, n: r.ns?.[i] };
}

/** The lap the field is on at minute `at`: the first lap whose median crossing is at or after it. */
export function lapAt(laps: readonly { lap: number; minute: number }[], at: number): number | undefined {
  return laps.find((l) => l.minute >= at)?.lap;
}

/** Conditions over the race as small multiples on one time axis (minutes since the start), with the lap
 *  numbers along the top; hover (or the arrow keys, once focused) reads every row at one moment. */
export function ConditionsChart({ series }: { series: Series }) {
  const rows = conditionRows(series);
  const [at, setAt] = useState<number | null>(null);
  if (!rows.length) return <Typography>No readings during the race.</Typography>;
  const laps = series.laps ?? [];
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
  const moments = series.minutes.length ? series.minutes : laps.map((l) => l.minute);
  const onKey = (e: KeyboardEvent<SVGSVGElement>) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    e.preventDefault();
    const i = at === null ? (e.key === "ArrowRight" ? -1 : moments.length) : nearest(moments, at);
    const j = Math.max(0, Math.min(moments.length - 1, i + (e.key === "ArrowRight" ? 1 : -1)));
    setAt(moments[j]);
  };
  const readout = at === null ? null : rows.map((r) => {
    const v = readAt(r, at);
    return `${r.label} ${v === null ? "–" : `${r.fmt(v.value)}${v.n !== undefined ? ` (n=${v.n})` : ""} at ${fmtNum(v.minute, 1)} min`}`;
  });
  const lap = at === null ? undefined : lapAt(laps, at);
  return (
    <figure style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} role="img" data-testid="conditions-chart" tabIndex={0}
        aria-label={`conditions over the race: ${rows.map((r) => r.label).join(", ")}; arrow keys step through the readings`}
        onMouseMove={onMove} onMouseLeave={() => setAt(null)} onKeyDown={onKey} onBlur={() => setAt(null)}>
        {lapTicks.map((l) => <g key={l.lap}><line x1={x(l.minute)} x2={x(l.minute)} y1={TOP - 4} y2={H - BOTTOM} stroke="#eee" />
          <text x={x(l.minute)} y={TOP - 8} fontSize={9} textAnchor="middle">L{l.lap}</text></g>)}
        {rows.map((r, k) => {
          const y0 = TOP + k * ROW, y1 = y0 + ROW - 14;
          const y = linear(extent(r.ys, 0.08), [y1, y0]);
          const vals = r.ys.filter((v): v is number => v !== null && Number.isFinite(v));
          const colour = COLOURS[r.key] ?? "#333";
          return (
            <g key={r.key} data-testid={`conditions-row-${r.key}`}>
              <text x={4} y={y0 + 14} fontSize={11}>{r.label}</text>
              <text x={4} y={y0 + 28} fontSize={10} fill="#555">{r.fmt(Math.min(...vals))}–{r.fmt(Math.max(...vals))}</text>
              <text x={4} y={y0 + 41} fontSize={10} fill="#555">n={r.n}{r.key === "pace" ? " laps" : " readings"}</text>
              <line x1={LEFT} x2={W - RIGHT} y1={y1} y2={y1} stroke="#ccc" />
              {segments(r.xs, r.ys).map((seg, i) => seg.length === 1   // a lone reading is a dot, not an invisible line
                ? <circle key={i} cx={x(seg[0][0])} cy={y(seg[0][1])} r={2} fill={colour} />
                : <polyline key={i} fill="none" stroke={colour} strokeWidth={1.5} points={seg.map(([a, b]) => `${x(a)},${y(b)}`).join(" ")} />)}
            </g>
          );
        })}
        <line x1={LEFT} x2={W - RIGHT} y1={H - BOTTOM} y2={H - BOTTOM} stroke="#333" />
        {ticks(xDom[0], xDom[1], 6).map((t) => <text key={t} x={x(t)} y={H - BOTTOM + 13} fontSize={10} textAnchor="middle">{t}</text>)}
        <text x={(LEFT + W) / 2} y={H - 4} fontSize={11} textAnchor="middle">minutes since the race start</text>
        {at !== null && <line x1={x(at)} x2={x(at)} y1={TOP - 4} y2={H - BOTTOM} stroke="#000" strokeDasharray="3 3" />}
      </svg>
      <figcaption>
        <Typography variant="body2" data-testid="conditions-readout">
          {readout ? `${fmtNum(at, 1)} min${lap !== undefined ? ` (field on lap ${lap})` : ""}: ${readout.join("; ")}`
            : `${series.n} readings; minutes count from the ${series.start_basis}${series.note ? `; ${series.note}` : ""}. Hover, or focus and use the arrow keys, to read values.`}
        </Typography>
      </figcaption>
    </figure>
  );
}
