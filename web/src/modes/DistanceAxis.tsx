// The distance axis the Telemetry mode's charts share: metres from the line with the corners marked and named,
// and the cursor every chart reads at (pointer, touch, or the arrow keys once a chart is focused).
import type { KeyboardEvent, PointerEvent } from "react";
import { useMediaQuery } from "@mui/material";
import { linear, ticks, type Scale } from "../charts";
import { indexAt, labelRows } from "../telemetry";

export const W = 600, PHONE_W = 400, LEFT = 56, RIGHT = 10;

/** The charts' viewBox width: narrower on a phone, so their text is drawn larger there. */
export function useChartWidth(): number {
  return useMediaQuery("(max-width:600px)") ? PHONE_W : W;
}

export type CornerMark = { corner: string; distance_m: number };

/** The x scale of a lap of `length` m on a chart `w` wide. */
export function distanceScale(length: number, w = W): Scale {
  return linear([0, length], [LEFT, w - RIGHT]);
}

/** Dashed lines at the corners through [y0, y1]; with `labelsAt`, their names above (two rows where they crowd). */
export function CornerMarks({ corners, x, y0, y1, labelsAt }:
  { corners: readonly CornerMark[]; x: Scale; y0: number; y1: number; labelsAt?: number }) {
  const xs = corners.map((c) => x(c.distance_m));
  const rows = labelRows(xs, corners.map((c) => c.corner), 8);
  return (
    <g data-testid={labelsAt !== undefined ? "corner-labels" : undefined}>
      {corners.map((c, i) => (
        <g key={c.corner}>
          <line x1={xs[i]} x2={xs[i]} y1={y0} y2={y1} stroke="#bbb" strokeDasharray="2 3" />
          {labelsAt !== undefined && <text x={xs[i]} y={labelsAt - (1 - rows[i]) * 12} fontSize={11} textAnchor="middle"
            fill="#333" data-corner={c.corner}>{c.corner}</text>}
        </g>
      ))}
    </g>
  );
}

/** The distance ticks (m) along the bottom at `y`. */
export function DistanceTicks({ length, x, y, w = W }: { length: number; x: Scale; y: number; w?: number }) {
  return (
    <g>
      {ticks(0, length, 4).map((t) => <text key={t} x={x(t)} y={y} fontSize={11} textAnchor="middle" fill="#333">{t}</text>)}
      <text x={w - RIGHT} y={y + 13} fontSize={11} textAnchor="end" fill="#333">m from the line</text>
    </g>
  );
}

/** Pointer and key handlers that move the shared cursor (a grid index) over a chart drawn on `distanceScale`. */
export function cursorHandlers(distance: readonly number[], length: number, cursor: number | null,
  onCursor: (i: number | null) => void, w = W) {
  const toMetres = linear([LEFT, w - RIGHT], [0, length]);
  const move = (e: PointerEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    if (!box.width) return;
    onCursor(indexAt(distance, toMetres(((e.clientX - box.left) / box.width) * w)));
  };
  const key = (e: KeyboardEvent<SVGSVGElement>) => {
    const last = distance.length - 1;
    const stepBy = e.shiftKey ? 20 : 1;
    const from = cursor ?? -1;
    const to = e.key === "ArrowRight" ? Math.min(last, from + stepBy) : e.key === "ArrowLeft" ? Math.max(0, (cursor ?? 1) - stepBy)
      : e.key === "Home" ? 0 : e.key === "End" ? last : null;
    if (to === null) return;
    e.preventDefault();
    onCursor(to);
  };
  return { onPointerMove: move, onPointerDown: move, onKeyDown: key, tabIndex: 0 };
}
