import { useId, useState } from "react";
import { Typography } from "@mui/material";
import type { S } from "../api/client";
import { extent, linear, slopeBand, ticks } from "../charts";
import { fmtDelta, fmtEst } from "../format";

const W = 480, H = 300, L = 52, R = 12, T = 12, B = 40;

/** The temperature model's evidence (added-variable view): each clean lap's time against its track
 *  temperature, both with every car's level and lap trend taken out. The line through the origin has the
 *  estimate's slope and the shaded fan its 95% interval, so the chart is the estimate, not a second one. */
export function PaceTempChart({ evidence, slope }: { evidence: S["WeatherEvidence"]; slope: S["Estimate"] }) {
  const [hover, setHover] = useState<number | null>(null);
  const xs = evidence.temp_resid_c, ys = evidence.time_resid_s;
  const xd = extent(xs, 0.05), yd = extent(ys, 0.05);
  const x = linear(xd, [L, W - R]), y = linear(yd, [H - B, T]);
  const b = slope.value ?? 0;
  const band = slope.lo !== null && slope.lo !== undefined && slope.hi !== null && slope.hi !== undefined
    ? slopeBand({ x: 0, y: 0 }, slope.lo, slope.hi, xd[0], xd[1]) : null;
  const clip = `pace-temp-clip-${useId().replace(/[^A-Za-z0-9_-]/g, "")}`;   // unique: the chart may be drawn twice
  return (
    <figure style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} role="img" data-testid="pace-temp-chart"
        aria-label={`lap time against track temperature, levels and lap trends removed: slope ${fmtEst(slope, "s per °C")}`}>
        <defs><clipPath id={clip}><rect x={L} y={T} width={W - L - R} height={H - T - B} /></clipPath></defs>
        <line x1={L} x2={W - R} y1={H - B} y2={H - B} stroke="#333" /><line x1={L} x2={L} y1={T} y2={H - B} stroke="#333" />
        {ticks(xd[0], xd[1], 5).map((t) => <text key={`x${t}`} x={x(t)} y={H - B + 13} fontSize={10} textAnchor="middle">{fmtDelta(t, 1)}</text>)}
        {ticks(yd[0], yd[1], 5).map((t) => <text key={`y${t}`} x={L - 4} y={y(t) + 3} fontSize={10} textAnchor="end">{fmtDelta(t, 2)}</text>)}
        <text x={(L + W) / 2} y={H - 6} fontSize={11} textAnchor="middle">track temperature vs the car's own level and trend (°C)</text>
        <text transform={`translate(12, ${(T + H - B) / 2}) rotate(-90)`} fontSize={11} textAnchor="middle">lap time vs the same (s)</text>
        <g clipPath={`url(#${clip})`}>
          {band && <polygon data-testid="slope-band" points={band.map(([a, c]) => `${x(a)},${y(c)}`).join(" ")} fill="#e31a1c" opacity={0.18} />}
          {xs.map((v, i) => <circle key={i} cx={x(v)} cy={y(ys[i])} r={hover === i ? 4 : 2} fill="#555" opacity={0.55}
            onMouseEnter={() => setHover(i)} onMouseLeave={() => setHover(null)} />)}
          <line data-testid="slope-line" x1={x(xd[0])} y1={y(b * xd[0])} x2={x(xd[1])} y2={y(b * xd[1])} stroke="#b00020" strokeWidth={2} />
        </g>
      </svg>
      <figcaption>
        <Typography variant="body2" data-testid="pace-temp-readout">
          {hover !== null ? `car ${evidence.car[hover]}, lap ${evidence.lap[hover]}: ${fmtDelta(xs[hover], 2)} °C, ${fmtDelta(ys[hover], 3)} s`
            : `Slope ${fmtEst(slope, "s per °C")}; shaded: its 95% interval. ${evidence.n} clean laps${evidence.thinned ? ` (${xs.length} drawn)` : ""}.`}
        </Typography>
      </figcaption>
    </figure>
  );
}
