import { useMemo, useState } from "react";
import type { Estimate } from "../api/client";
import { diverging, scaleMax } from "../colour";
import { fmtEst } from "../format";
import { pathD, pointAt, sectionRanges, SECTORS, SUBSECTIONS, type Pt } from "../geometry";

export type SectionValue = { section: string; value?: number | null; est?: Estimate | null; rank?: number | null };

type Props = {
  outline: Pt[];
  sectorFractions: number[];
  subShare?: Record<string, number>;
  values: SectionValue[];               // what colours the map (section loss to the composite)
  useSubsections: boolean;
  selected?: string;
  onSelect?: (section: string) => void;
  markers?: { f: number; label: string; colour: string }[];
  title: string;
  width?: number;
};

const SIZE = 520;
const PAD = 24;

export function TrackMap({ outline, sectorFractions, subShare, values, useSubsections, selected, onSelect, markers,
  title, width = SIZE }: Props) {
  const [hover, setHover] = useState<string | null>(null);
  const ranges = useMemo(() => sectionRanges(sectorFractions, subShare), [sectorFractions, subShare]);
  const names = useSubsections ? SUBSECTIONS : [...SECTORS];
  const byName = new Map(values.map((v) => [v.section, v]));
  const max = scaleMax(values.map((v) => v.value));
  const h = Math.max(...outline.map((p) => p.y));
  const scale = SIZE - 2 * PAD;
  const height = h * scale + 2 * PAD + 40;
  const hv = hover ? byName.get(hover) : undefined;
  const tip = hover ? pointAt(outline, (ranges[hover][0] + ranges[hover][1]) / 2) : null;
  return (
    <figure style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${SIZE + 30} ${height}`} width={width} role="group" aria-label={title} data-testid="track-map"
        style={{ maxWidth: "100%", height: "auto", display: "block" }}>
        <title>{title}</title>
        <path d={pathD([...outline, outline[0]], scale, PAD)} fill="none" stroke="#444" strokeWidth={14}
          strokeLinejoin="round" />
        {names.map((s) => {
          const v = byName.get(s);
          const [a, b] = ranges[s];
          const pts = [] as Pt[];
          const n = outline.length;
          pts.push(pointAt(outline, a));
          for (let i = Math.ceil(a * n); i < b * n; i++) pts.push(outline[i % n]);
          pts.push(b >= 1 ? outline[0] : pointAt(outline, b));
          const label = `${s.toUpperCase()}: ${v?.est ? fmtEst(v.est) : "no estimate"}`;
          return (
            <path key={s} d={pathD(pts, scale, PAD)} fill="none" data-section={s}
              data-colour={diverging(v?.value, max)}
              stroke={diverging(v?.value, max)} strokeWidth={selected === s ? 12 : hover === s ? 11 : 9}
              strokeLinecap="butt" strokeLinejoin="round" tabIndex={0} role="button" aria-label={label}
              aria-pressed={selected === s}
              style={{ cursor: "pointer", outline: "none" }}
              onMouseEnter={() => setHover(s)} onMouseLeave={() => setHover(null)}
              onFocus={() => setHover(s)} onBlur={() => setHover(null)}
              onClick={() => onSelect?.(s)}
              onKeyDown={(e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onSelect?.(s); } }} />
          );
        })}
        {/* sector boundaries (official timing lines) and sub-sector boundaries (approximate) */}
        {[0, ...sectorFractions].map((f, i) => {
          const p = pointAt(outline, f);
          return <circle key={`b${i}`} cx={p.x * scale + PAD} cy={p.y * scale + PAD} r={i === 0 ? 7 : 5}
            fill={i === 0 ? "#000" : "#fff"} stroke="#000" strokeWidth={2} />;
        })}
        {useSubsections && SECTORS.map((s) => {
          const p = pointAt(outline, ranges[s === "s1" ? "im1" : s === "s2" ? "im2" : "fl"][0]);
          return <circle key={`sb${s}`} cx={p.x * scale + PAD} cy={p.y * scale + PAD} r={4} fill="#fff" stroke="#000"
            strokeDasharray="2 2" strokeWidth={1.5} />;
        })}
        {names.map((s) => {
          const p = pointAt(outline, (ranges[s][0] + ranges[s][1]) / 2);
          return <text key={`t${s}`} x={p.x * scale + PAD + 10} y={p.y * scale + PAD - 10} fontSize={13}
            fill="#111" stroke="#fff" strokeWidth={3} paintOrder="stroke" pointerEvents="none">{s.toUpperCase()}</text>;
        })}
        {markers?.map((m) => {
          const p = pointAt(outline, m.f);
          return <g key={m.label} data-testid={`marker-${m.label}`}>
            <circle cx={p.x * scale + PAD} cy={p.y * scale + PAD} r={8} fill={m.colour} stroke="#fff" strokeWidth={2}
              opacity={m.label === "composite" ? 0.6 : 1} />
          </g>;
        })}
        {tip && hover && (
          <g pointerEvents="none" data-testid="map-tooltip">
            <rect x={Math.min(tip.x * scale + PAD + 12, SIZE - 330)} y={Math.max(tip.y * scale + PAD - 44, 2)}
              width={320} height={40} rx={4} fill="#fff" stroke="#333" />
            <text x={Math.min(tip.x * scale + PAD + 20, SIZE - 322)} y={Math.max(tip.y * scale + PAD - 20, 26)}
              fontSize={13} fill="#111">
              {hover.toUpperCase()}: {hv?.est ? fmtEst(hv.est) : "no estimate"}
            </text>
          </g>
        )}
        <Legend max={max} y={h * scale + 2 * PAD + 4} />
      </svg>
      <figcaption style={{ fontSize: 12, color: "#444" }}>
        {useSubsections ? "Sub-sector boundaries (dashed) placed by the field's median sub-section time shares: approximate. " : ""}
        Black dot: finish line; white dots: the official intermediate timing lines.
      </figcaption>
    </figure>
  );
}

export function Legend({ max, y }: { max: number; y: number }) {
  const stops = [-1, -0.5, 0, 0.5, 1];
  return (
    <g data-testid="map-legend" transform={`translate(${PAD}, ${y})`}>
      <text x={0} y={10} fontSize={11} fill="#111">section loss beyond the car's deficit (s/lap)</text>
      {stops.map((t, i) => (
        <g key={i}>
          <rect x={250 + i * 44} y={0} width={44} height={12} fill={diverging(t * max, max)} />
          <text x={250 + i * 44 + 22} y={26} fontSize={10} textAnchor="middle" fill="#111">
            {(t * max > 0 ? "+" : "") + (t * max).toFixed(2)}
          </text>
        </g>
      ))}
    </g>
  );
}
