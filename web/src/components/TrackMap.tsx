import { useMemo, useState, type ReactNode } from "react";
import type { Estimate } from "../api/client";
import { diverging, scaleMax, sequential } from "../colour";
import { MEASURES, type Measure } from "../measure";
import { fmtEst } from "../format";
import { pathD, pointAt, sectionRanges, slice, SECTORS, SUBSECTIONS, type Pt } from "../geometry";

export type SectionValue = { section: string; value?: number | null; est?: Estimate | null; rank?: number | null };

type Props = {
  outline: Pt[];
  sectorFractions: number[];
  subShare?: Record<string, number>;
  values: SectionValue[];               // what colours the map (per ``measure``)
  measure?: Measure;                    // loss: s/lap lost to the composite (one-sided); relative: diverging
  useSubsections: boolean;
  selected?: string;
  onSelect?: (section: string) => void;
  markers?: { f: number; label: string; colour: string }[];
  title: string;
  width?: number;
  colourOf?: (v: SectionValue | undefined) => string;   // overrides the measure's scale (e.g. who is faster where)
  labelOf?: (s: string, v: SectionValue | undefined) => string;   // the section's words for screen readers and the tooltip
  legend?: ReactNode;                                 // replaces the measure's legend
  sectionLabels?: Record<string, string> | null;      // the track's sections in official turns (tracks endpoint)
  along?: { from: number; to: number; colour: string }[];   // colours the outline stretch by stretch (fractions of the
                                                      // lap, e.g. by the running delta) instead of by section; the
                                                      // sections are then not drawn as buttons (``legend`` says the scale)
};

const SIZE = 520;
const PAD = 24;

export function TrackMap({ outline, sectorFractions, subShare, values, measure = "loss", useSubsections, selected, onSelect,
  markers, title, width = SIZE, colourOf, labelOf, legend, along, sectionLabels }: Props) {
  const scaleColour = measure === "relative" ? diverging : sequential;
  const [hover, setHover] = useState<string | null>(null);
  const ranges = useMemo(() => sectionRanges(sectorFractions, subShare), [sectorFractions, subShare]);
  const names = useSubsections ? SUBSECTIONS : [...SECTORS];
  const byName = new Map(values.map((v) => [v.section, v]));
  const max = scaleMax(values.map((v) => (measure === "relative" ? v.value : Math.max(0, v.value ?? 0))));
  const h = Math.max(...outline.map((p) => p.y));
  const scale = SIZE - 2 * PAD;
  const height = h * scale + 2 * PAD;
  const hv = hover ? byName.get(hover) : undefined;
  const colour = (v: SectionValue | undefined) => (colourOf ? colourOf(v) : scaleColour(v?.value, max));
  const words = (s: string, v: SectionValue | undefined) => (labelOf ? labelOf(s, v) : `${sectionLabels?.[s] ?? s.toUpperCase()}: ${v?.est ? fmtEst(v.est) : "no estimate"}`);
  const tipW = hover ? Math.min(SIZE, Math.max(320, words(hover, hv).length * 7 + 16)) : 320;   // about 7 px a character at 13 px
  const tip = hover ? pointAt(outline, (ranges[hover][0] + ranges[hover][1]) / 2) : null;
  return (
    <figure style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${SIZE + 30} ${height}`} width={width} role="group" aria-label={title} data-testid="track-map"
        style={{ maxWidth: "100%", height: "auto", display: "block" }}>
        <title>{title}</title>
        <path d={pathD([...outline, outline[0]], scale, PAD)} fill="none" stroke="#444" strokeWidth={14}
          strokeLinejoin="round" />
        {along && <g data-testid="map-along" aria-hidden="true" pointerEvents="none">
          {along.map((p, i) => <path key={i} d={pathD(slice(outline, p.from, Math.min(1, p.to)), scale, PAD)} fill="none"
            stroke={p.colour} data-colour={p.colour} strokeWidth={9} strokeLinecap="butt" strokeLinejoin="round" />)}
        </g>}
        {!along && names.map((s) => {
          const v = byName.get(s);
          const [a, b] = ranges[s];
          const pts = [] as Pt[];
          const n = outline.length;
          pts.push(pointAt(outline, a));
          for (let i = Math.ceil(a * n); i < b * n; i++) pts.push(outline[i % n]);
          pts.push(b >= 1 ? outline[0] : pointAt(outline, b));
          const label = words(s, v);
          return (
            <path key={s} d={pathD(pts, scale, PAD)} fill="none" data-section={s}
              data-colour={colour(v)} data-value={v?.value ?? ""}
              stroke={colour(v)} strokeWidth={selected === s ? 12 : hover === s ? 11 : 9}
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
            <rect x={Math.min(tip.x * scale + PAD + 12, SIZE - 10 - tipW)} y={Math.max(tip.y * scale + PAD - 44, 2)}
              width={tipW} height={40} rx={4} fill="#fff" stroke="#333" />
            <text x={Math.min(tip.x * scale + PAD + 20, SIZE - 2 - tipW)} y={Math.max(tip.y * scale + PAD - 20, 26)}
              fontSize={13} fill="#111">
              {words(hover, hv)}
            </text>
          </g>
        )}
      </svg>
      {legend ?? <Legend max={max} measure={measure} />}
      <figcaption style={{ fontSize: 12, color: "#444" }}>
        {useSubsections ? "Sub-sector boundaries (dashed) placed by the field's median sub-section time shares: approximate. " : ""}
        Black dot: finish line; white dots: the official intermediate timing lines.
      </figcaption>
    </figure>
  );
}

export function Legend({ max, measure = "loss" }: { max: number; measure?: Measure }) {
  const rel = measure === "relative";
  const stops = rel ? [-1, -0.5, 0, 0.5, 1] : [0, 0.25, 0.5, 0.75, 1];
  const colour = rel ? diverging : sequential;
  return (
    <div data-testid="map-legend" style={{ display: "flex", flexWrap: "wrap", alignItems: "center", gap: "4px 12px", fontSize: 12, color: "#111", margin: "4px 0" }}>
      <span>{MEASURES[measure].legend}{rel ? "" : " (s)"}</span>
      <span style={{ display: "inline-flex" }}>
        {stops.map((t, i) => (
          <span key={i} style={{ display: "inline-flex", flexDirection: "column", alignItems: "center", width: 44 }}>
            <span style={{ display: "block", width: 44, height: 12, background: colour(t * max, max) }} />
            <span>{(t * max > 0 ? "+" : "") + (t * max).toFixed(2)}</span>
          </span>
        ))}
      </span>
    </div>
  );
}
