// The time-delta trace: the car's time minus the reference's at each distance (above zero: behind), with the
// corners marked and named; at the line it is the two laps' difference.
import { useMemo } from "react";
import { extent, linear, segments, ticks } from "../charts";
import { fmtDelta } from "../format";
import { CornerMarks, cursorHandlers, distanceScale, DistanceTicks, LEFT, RIGHT, useChartWidth, W, type CornerMark } from "./DistanceAxis";

const H = 190, TOP = 34, BOTTOM = 30;

export function DeltaTrace({ distance, delta, corners, length, car, reference, cursor, onCursor }:
  { distance: number[]; delta: number[]; corners: readonly CornerMark[]; length: number; car: string; reference: string;
    cursor: number | null; onCursor: (i: number | null) => void }) {
  const w = useChartWidth();
  const x = useMemo(() => distanceScale(length, w), [length, w]);
  const dom = useMemo(() => extent([0, ...delta], 0.08), [delta]);
  const y = useMemo(() => linear(dom, [H - BOTTOM, TOP]), [dom]);
  const lines = useMemo(() => segments(distance, delta).map((seg, i) => <polyline key={i} fill="none" stroke="#111"
    strokeWidth={1.6} points={seg.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(" ")} />), [distance, delta, x, y]);
  const last = delta.length ? delta[delta.length - 1] : null;
  const cx = cursor !== null && distance[cursor] !== undefined ? x(distance[cursor]) : null;
  return (
    <svg viewBox={`0 0 ${w} ${H}`} width="100%" style={{ maxWidth: W, display: "block", touchAction: "pan-y" }} role="img"
      data-testid="delta-trace" data-last={last ?? ""} {...cursorHandlers(distance, length, cursor, onCursor, w)}
      aria-label={`time delta of car ${car} to ${reference} along the lap (above zero: behind); at the line ${fmtDelta(last)} s`}>
      <CornerMarks corners={corners} x={x} y0={TOP - 2} y1={H - BOTTOM} labelsAt={TOP - 6} />
      <line x1={LEFT} x2={w - RIGHT} y1={y(0)} y2={y(0)} stroke="#666" />
      {ticks(dom[0], dom[1], 4).map((t) => <text key={t} x={LEFT - 4} y={y(t) + 4} fontSize={10} textAnchor="end" fill="#333">
        {fmtDelta(t, 1)}</text>)}
      <text x={4} y={TOP + 12} fontSize={11} fill="#111">delta</text>
      <text x={4} y={TOP + 25} fontSize={11} fill="#333">(s)</text>
      {lines}
      <DistanceTicks length={length} x={x} y={H - BOTTOM + 14} w={w} />
      {cx !== null && <line x1={cx} x2={cx} y1={TOP - 2} y2={H - BOTTOM} stroke="#000" strokeWidth={1} />}
    </svg>
  );
}
