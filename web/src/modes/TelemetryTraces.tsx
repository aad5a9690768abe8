// Speed, throttle and brake against distance for the car's lap and the reference lap, stacked on one distance
// axis with the corners marked and named; the shared cursor is drawn through every panel.
import { useMemo } from "react";
import type { S } from "../api/client";
import { extent, linear, segments, ticks } from "../charts";
import { CAR_COLOUR, REF_COLOUR } from "../components/Compare";
import { CornerMarks, cursorHandlers, distanceScale, DistanceTicks, LEFT, RIGHT, useChartWidth, W, type CornerMark } from "./DistanceAxis";

type Channels = S["TelemetryChannels"];

export const PANELS = [
  { key: "speed_kph", label: "speed", unit: "km/h", h: 130 },
  { key: "throttle_pct", label: "throttle", unit: "%", h: 70 },
  { key: "brake_bar", label: "brake", unit: "bar", h: 70 },
] as const;

const TOP = 34, GAP = 12, BOTTOM = 30;

function line(xs: readonly number[], ys: readonly (number | null)[] | null | undefined, x: (v: number) => number,
  y: (v: number) => number) {
  return segments(xs, ys ?? []).map((seg) => seg.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(" "));
}

export function TelemetryTraces({ distance, channels, reference, corners, length, car, refLabel, cursor, onCursor }:
  { distance: number[]; channels: Channels; reference?: Channels; corners: readonly CornerMark[]; length: number;
    car: string; refLabel?: string; cursor: number | null; onCursor: (i: number | null) => void }) {
  const w = useChartWidth();
  const x = useMemo(() => distanceScale(length, w), [length, w]);
  const H = TOP + PANELS.reduce((a, p) => a + p.h + GAP, 0) + BOTTOM - GAP;
  // the lines are drawn once per lap pair and width, not at every cursor move
  const panels = useMemo(() => {
    let y0 = TOP;
    return PANELS.map((p) => {
      const top = y0, bottom = y0 + p.h;
      y0 += p.h + GAP;
      const ys = [...(channels[p.key] ?? []), ...(reference?.[p.key] ?? [])];
      const dom = p.key === "throttle_pct" ? [0, 100] as [number, number] : extent([0, ...ys], 0.04);
      const y = linear(dom, [bottom, top]);
      return (
        <g key={p.key} data-testid={`trace-${p.key}`}>
          <line x1={LEFT} x2={w - RIGHT} y1={bottom} y2={bottom} stroke="#999" />
          <text x={4} y={top + 12} fontSize={11} fill="#111">{p.label}</text>
          <text x={4} y={top + 25} fontSize={11} fill="#333">({p.unit})</text>
          {ticks(dom[0], dom[1], p.h > 100 ? 4 : 2).map((t) => <text key={t} x={LEFT - 4} y={y(t) + 4} fontSize={10}
            textAnchor="end" fill="#333">{t}</text>)}
          {reference && line(distance, reference[p.key], x, y).map((pts, i) => <polyline key={`r${i}`} points={pts}
            fill="none" stroke={REF_COLOUR} strokeWidth={1.4} data-who="reference" />)}
          {line(distance, channels[p.key], x, y).map((pts, i) => <polyline key={`c${i}`} points={pts} fill="none"
            stroke={CAR_COLOUR} strokeWidth={1.4} data-who="car" />)}
        </g>
      );
    });
  }, [distance, channels, reference, x, w]);
  const cx = cursor !== null && distance[cursor] !== undefined ? x(distance[cursor]) : null;
  return (
    <svg viewBox={`0 0 ${w} ${H}`} width="100%" style={{ maxWidth: W, display: "block", touchAction: "pan-y" }} role="img"
      data-testid="telemetry-traces" {...cursorHandlers(distance, length, cursor, onCursor, w)}
      aria-label={`speed, throttle and brake against distance: car ${car}${refLabel ? ` (red) and ${refLabel} (blue)` : ""}; `
        + "move the pointer, or focus and use the arrow keys, to read every channel at one distance"}>
      <CornerMarks corners={corners} x={x} y0={TOP - 2} y1={H - BOTTOM} labelsAt={TOP - 6} />
      {panels}
      <DistanceTicks length={length} x={x} y={H - BOTTOM + 14} w={w} />
      {cx !== null && <line data-testid="cursor-line" x1={cx} x2={cx} y1={TOP - 2} y2={H - BOTTOM} stroke="#000" strokeWidth={1} />}
    </svg>
  );
}
