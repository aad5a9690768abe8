import { memo, useEffect, useRef, useState, type KeyboardEvent, type MouseEvent } from "react";
import { linear, ticks } from "../charts";
import { fmtDelta, fmtTime } from "../format";
import { atLap, cautionSpans, cautionWords, fastestMarks, gapMax, progressSeries, CHART_MODES,
  type ChartMode, type RaceProgress } from "../progress";

const H = 300, LEFT = 46, RIGHT = 44, TOP = 12, BOTTOM = 40, FONT = 12;
const SELECTED = "#b00020", CAUTION = "#fdd835";
// eight categorical colours (Okabe–Ito and Tableau's darker hues): cars cycle through them in classification order
const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#6a3d9a", "#7f7f7f"];
const MODE_WORDS: Record<ChartMode, string> = { gap: "gap to leader", position: "position" };

/** The width the chart is drawn at: its box's, so its text is drawn at its own size (12 px) on a phone too. */
function useWidth(initial = 560): [React.RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(initial);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const read = () => { const v = Math.round(el.getBoundingClientRect().width); if (v > 0) setW(v); };
    read();
    if (typeof ResizeObserver !== "function") return;
    const ro = new ResizeObserver(read);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, w];
}

/** The race lap by lap: every car's gap to the leader (s) or its position at the finish line after each lap, the
 *  caution laps shaded, each car's fastest lap marked (the race's fastest larger), the selected car highlighted.
 *  A tap on a line picks that car; hover, or the arrow keys once focused, read one lap. */
export const GapPositionChart = memo(function GapPositionChart({ doc, mode, selected, onMode, onPick }:
  { doc: RaceProgress; mode: ChartMode; selected?: string; onMode: (m: ChartMode) => void; onPick: (car: string) => void }) {
  const [box, W] = useWidth();
  const [at, setAt] = useState<number | null>(null);
  const cars = doc.cars ?? [];
  const n = doc.leader_laps;
  const series = progressSeries(doc, mode);
  const marks = fastestMarks(doc, mode);
  const x = linear([0, Math.max(1, n)], [LEFT, W - RIGHT]);
  const toLap = linear([LEFT, W - RIGHT], [0, Math.max(1, n)]);
  const yMax = mode === "gap" ? gapMax(doc) * 1.05 : Math.max(2, cars.length);
  const y = linear(mode === "gap" ? [0, yMax] : [1, yMax], [TOP, H - BOTTOM]);
  const yTicks = mode === "gap" ? ticks(0, yMax, 5) : [1, ...ticks(1, yMax, 4).filter((t) => t > 1 && Number.isInteger(t))];
  const xTicks = ticks(1, Math.max(1, n), W < 480 ? 5 : 8).filter((t) => Number.isInteger(t));
  const colourOf = (i: number, car: string) => (car === selected ? SELECTED : selected ? "#c4c4c4" : PALETTE[i % PALETTE.length]);
  const order = series.map((s, i) => ({ s, i })).sort((a, b) => Number(a.s.car === selected) - Number(b.s.car === selected));
  const fastest = marks.find((m) => m.overall);
  const fastCar = fastest && cars.find((c) => c.car === fastest.car);
  const sel = cars.find((c) => c.car === selected);
  const first = cars[0];
  const clipId = `progress-clip-${mode}`;
  const onMove = (e: MouseEvent<SVGSVGElement>) => {
    const b = e.currentTarget.getBoundingClientRect();
    if (!b.width) return;
    const lap = Math.round(toLap(((e.clientX - b.left) / b.width) * W));
    setAt(lap >= 1 && lap <= n ? lap : null);
  };
  const onKey = (e: KeyboardEvent<SVGSVGElement>) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    e.preventDefault();
    setAt((a) => Math.max(1, Math.min(n, a === null ? (e.key === "ArrowRight" ? 1 : n) : a + (e.key === "ArrowRight" ? 1 : -1))));
  };
  const readCar = sel ?? first;
  const readX = at === null || !readCar ? undefined : atLap(readCar, at);
  const leaderAt = at === null ? undefined : cars.find((c) => atLap(c, at)?.position === 1);
  const unit = mode === "gap" ? "s behind the leader" : "position";
  return (
    <figure style={{ margin: 0 }} data-testid="progress-chart" data-mode={mode}>
      <div role="group" aria-label="chart" className="kl-modes">
        {CHART_MODES.map((m) => <button key={m} type="button" aria-pressed={m === mode} data-testid={`chart-${m}`}
          onClick={() => { if (m !== mode) onMode(m); }}>{MODE_WORDS[m]}</button>)}
      </div>
      <div ref={box} style={{ width: "100%" }}>
        <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} style={{ display: "block", maxWidth: "100%", height: "auto" }}
          role="img" tabIndex={0} data-testid="progress-svg"
          aria-label={`${mode === "gap" ? "gap to the leader" : "position"} at the line after each lap, ${cars.length} cars, ${n} laps; caution on ${cautionWords(doc.caution_laps ?? [])}; arrow keys step through the laps`}
          onMouseMove={onMove} onMouseLeave={() => setAt(null)} onKeyDown={onKey} onBlur={() => setAt(null)}>
          <defs><clipPath id={clipId}><rect x={LEFT} y={TOP - 4} width={W - LEFT - RIGHT + 4} height={H - TOP - BOTTOM + 8} /></clipPath></defs>
          {cautionSpans(doc.caution_laps ?? []).map(([a, b]) => <rect key={a} x={x(a)} y={TOP} width={x(b) - x(a)} height={H - TOP - BOTTOM}
            fill={CAUTION} opacity={0.45} data-testid="caution-span"><title>caution: {cautionWords(Array.from({ length: b - a }, (_, i) => a + i + 1))}</title></rect>)}
          {yTicks.map((t) => <g key={t}><line x1={LEFT} x2={W - RIGHT} y1={y(t)} y2={y(t)} stroke="#eee" />
            <text x={LEFT - 4} y={y(t) + 4} fontSize={FONT} textAnchor="end">{mode === "gap" ? t : `P${t}`}</text></g>)}
          <line x1={LEFT} x2={W - RIGHT} y1={H - BOTTOM} y2={H - BOTTOM} stroke="#333" />
          {xTicks.map((t) => <text key={t} x={x(t)} y={H - BOTTOM + 15} fontSize={FONT} textAnchor="middle">{t}</text>)}
          <text x={(LEFT + W - RIGHT) / 2} y={H - 6} fontSize={FONT} textAnchor="middle">lap · {unit}</text>
          <g clipPath={`url(#${clipId})`}>
            {order.map(({ s, i }) => {
              const pts = s.points.map(([a, b]) => `${x(a)},${y(b)}`).join(" ");
              const on = s.car === selected;
              return <polyline key={s.car} points={pts} fill="none" stroke={colourOf(i, s.car)} strokeWidth={on ? 3 : 1.5}
                strokeLinejoin="round" data-testid={`progress-line-${s.car}`} data-selected={on || undefined}
                style={{ cursor: "pointer" }} onClick={() => onPick(s.car)}><title>#{s.car}</title></polyline>;
            })}
            {marks.map((m) => {
              const i = series.findIndex((s) => s.car === m.car);
              const r = m.overall ? 6 : 3.5;
              return <rect key={m.car} x={x(m.lap) - r} y={y(m.y) - r} width={2 * r} height={2 * r}
                transform={`rotate(45 ${x(m.lap)} ${y(m.y)})`} fill={m.overall ? "#000" : colourOf(i, m.car)}
                stroke="#fff" strokeWidth={1} data-testid={m.overall ? "fastest-lap-overall" : `fastest-mark-${m.car}`}
                style={{ cursor: "pointer" }} onClick={() => onPick(m.car)}>
                <title>#{m.car} fastest lap {fmtTime(m.time_s)} (lap {m.lap}){m.overall ? ", the race's fastest" : ""}</title></rect>;
            })}
          </g>
          {sel && (() => {
            const last = sel.by_lap?.[sel.by_lap.length - 1];
            if (!last) return null;
            const v = mode === "gap" ? last.gap_s : last.position;
            return <text x={Math.min(x(last.lap) + 4, W - RIGHT + 4)} y={Math.min(y(Math.min(v, yMax)), H - BOTTOM) + 4} fontSize={FONT}
              fontWeight={700} fill={SELECTED} data-testid="progress-selected-label">#{sel.car}</text>;
          })()}
          {at !== null && <line x1={x(at)} x2={x(at)} y1={TOP} y2={H - BOTTOM} stroke="#000" strokeDasharray="3 3" />}
        </svg>
      </div>
      <figcaption className="kl-body2" data-testid="progress-caption" style={{ fontSize: 13 }}>
        {at !== null && readCar ? <span data-testid="progress-readout">Lap {at}: {leaderAt ? `#${leaderAt.car} leads` : ""}{readX
          ? `; #${readCar.car} P${readX.position}, ${readX.gap_s === 0 ? "leading" : `${fmtDelta(readX.gap_s)} s`}${readX.laps_down > 0 ? ` (${readX.laps_down} lap${readX.laps_down === 1 ? "" : "s"} down)` : ""}`
          : `; #${readCar.car} did not complete it`}.</span>
          : <span>{mode === "gap" ? "Gap to the leader at the finish line after each lap, in seconds (a lapped car's line runs off the bottom)" : "Position at the finish line after each lap"};
            {" "}{cars.length} cars, {n} laps. Shaded: caution ({cautionWords(doc.caution_laps ?? [])}). ◆ each car's fastest lap
            {fastest && fastCar ? `; ◆ large: the race's fastest, #${fastest.car} ${fmtTime(fastest.time_s)} on lap ${fastest.lap}` : ""}.
            {" "}Tap a line to open that car.</span>}
        {sel && <span data-testid="progress-selected"> #{sel.car}: P{sel.final_position} on the road at the flag{sel.official_position
          ? ` (official P${sel.official_position})` : " (not classified)"}, {sel.laps} laps{sel.laps_down ? `, ${sel.laps_down} down` : sel.gap_s ? `, ${fmtDelta(sel.gap_s)} s` : ""}; fastest lap {fmtTime(sel.best_lap_s)}{sel.best_lap ? ` (lap ${sel.best_lap})` : ""}.</span>}
      </figcaption>
    </figure>
  );
});
