// Car against car: the reference picker, the cumulative delta over the sections, the map coloured by who is
// faster where, and both cars' laps on one chart.
import { useMemo } from "react";
import { Alert, Box, Button, FormControl, InputLabel, MenuItem, Select, Stack, Table, TableBody, TableCell, TableHead,
  TableRow, Typography } from "@mui/material";
import { api, type Car, type Quality, type Track } from "../api/client";
import { Async, useApi } from "./Async";
import { TrackMap, type SectionValue } from "./TrackMap";
import { compareCars, fasterIn, lapDomain, lapPoints, referenceChoices, type CumulativeDelta, type DeltaStep, type LapPoint,
  type Verdict } from "../compare";
import { fmtDelta, fmtTime, fmtTimeEst } from "../format";
import { extent, linear, ticks } from "../charts";

export const CAR_COLOUR = "#b00020";
export const REF_COLOUR = "#1d6fb8";
// the same hues, pale: faster on the medians, but the two cars' intervals overlap there
export const CAR_PALE = "#e8a3ad";
export const REF_PALE = "#a9c9e8";
const EVEN = "rgb(160, 160, 160)";

export function verdictWords(v: Verdict, car: string, ref: string): string {
  switch (v) {
    case "clear-car": return `clear: #${car}'s interval is wholly below #${ref}'s`;
    case "clear-ref": return `clear: #${ref}'s interval is wholly below #${car}'s`;
    case "overlap": return "within the intervals (they overlap)";
    case "no-interval": return "no interval to judge by";
    default: return "no estimate for one car";
  }
}

/** Shortcuts to the usual reference cars, and any car of the race. */
export function RefPicker({ cars, quality, car, value, onChange }:
  { cars: Car[]; quality?: Quality; car: string; value?: string; onChange: (ref: string | undefined) => void }) {
  const ch = useMemo(() => referenceChoices(cars, quality, car), [cars, quality, car]);
  const shortcuts: [string, string | undefined][] = [
    ["car ahead at the flag", ch.ahead], ["car behind at the flag", ch.behind], ["winner", ch.winner], ["class best", ch.classBest]];
  return (
    <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap" className="no-print" data-testid="ref-picker">
      <Typography variant="body2">Compare with:</Typography>
      {shortcuts.filter(([, c]) => c).map(([label, c]) => (
        <Button key={label} size="small" variant={value === c ? "contained" : "outlined"} onClick={() => onChange(c)}
          data-testid={`ref-${label.split(" ")[0]}`}>{label} (#{c})</Button>
      ))}
      <FormControl size="small" sx={{ minWidth: 130 }}>
        <InputLabel id="ref-label">Any car</InputLabel>
        <Select labelId="ref-label" label="Any car" value={value ?? ""} data-testid="ref-select"
          onChange={(e) => onChange(String(e.target.value) || undefined)}>
          <MenuItem value="">none</MenuItem>
          {cars.filter((c) => c.car !== car).map((c) => <MenuItem key={c.car} value={c.car}>#{c.car} ({c.class ?? "–"})</MenuItem>)}
        </Select>
      </FormControl>
    </Stack>
  );
}

/** The comparison of ``car`` against ``reference``, from the two cars' section documents and laps. */
export function Comparison({ raceId, track, car, reference, shares, mapWidth = 420, compact = false }:
  { raceId: string; track?: Track; car: string; reference: string; shares?: Record<string, number>; mapWidth?: number; compact?: boolean }) {
  const a = useApi(() => api.car(raceId, car), [raceId, car]);
  const b = useApi(() => api.car(raceId, reference), [raceId, reference]);
  const la = useApi(() => api.laps(raceId, car), [raceId, car]);
  const lb = useApi(() => api.laps(raceId, reference), [raceId, reference]);
  const both = { loading: a.loading || b.loading, error: a.error ?? b.error, data: a.data && b.data ? [a.data, b.data] as const : undefined };
  return (
    <Box data-testid="comparison">
      <Typography variant="h6" component="h3">Car #{car} against car #{reference}</Typography>
      <Async r={both} what={`cars ${car} and ${reference}`}>
        {([d, r]) => {
          const delta = compareCars(d.sections ?? [], r.sections ?? []);
          return (
            <>
              <DeltaTable delta={delta} car={car} ref_={reference} compact={compact} />
              <Stack direction={compact ? "row" : { xs: "column", md: "row" }} flexWrap="wrap" gap={1} alignItems="flex-start" sx={{ mt: 1 }}>
                {track?.outline?.length && track.sector_fractions
                  ? <FasterMap track={track} delta={delta} car={car} ref_={reference} shares={shares} width={mapWidth} />
                  : <Alert severity="info">No traced map for this track.</Alert>}
                {la.data && lb.data
                  ? <LapsChart car={car} ref_={reference} a={lapPoints(la.data.items)} b={lapPoints(lb.data.items)} />
                  : <Typography variant="body2" role="status">Loading laps…</Typography>}
              </Stack>
            </>
          );
        }}
      </Async>
    </Box>
  );
}

function DeltaTable({ delta, car, ref_, compact }: { delta: CumulativeDelta; car: string; ref_: string; compact: boolean }) {
  const names = delta.set === "subsections" ? "sub-sectors" : "sectors";
  const lead = delta.total < 0 ? `#${car} is ${Math.abs(delta.total).toFixed(3)} s a lap quicker than #${ref_}`
    : delta.total > 0 ? `#${car} is ${delta.total.toFixed(3)} s a lap slower than #${ref_}` : `#${car} and #${ref_} are level`;
  return (
    <>
      <Typography variant="body2" data-testid="cum-delta-summary">
        Summed over the {names}, on median clean section times: {lead}
        {delta.complete ? "" : " (a section without an estimate for one car is left out)"}.
      </Typography>
      <Box sx={{ overflowX: "auto" }}>
        <Table size="small" aria-label={`cumulative delta of car ${car} against car ${ref_}`} data-testid="cum-delta"
          sx={compact ? { "& td, & th": { py: 0.25, fontSize: 12 } } : undefined}>
          <TableHead><TableRow>
            <TableCell>Section</TableCell><TableCell align="right">#{car} median</TableCell><TableCell align="right">#{ref_} median</TableCell>
            <TableCell align="right">Difference</TableCell><TableCell align="right">Running total</TableCell><TableCell>Against the intervals</TableCell>
          </TableRow></TableHead>
          <TableBody>
            {delta.steps.map((s: DeltaStep) => (
              <TableRow key={s.section} data-testid={`cum-step-${s.section}`}>
                <TableCell>{s.section.toUpperCase()}</TableCell>
                <TableCell align="right" title={fmtTimeEst(s.carEst)}>{fmtTimeEst(s.carEst)}</TableCell>
                <TableCell align="right" title={fmtTimeEst(s.refEst)}>{fmtTimeEst(s.refEst)}</TableCell>
                <TableCell align="right" sx={{ color: s.diff === undefined ? undefined : s.diff < 0 ? CAR_COLOUR : s.diff > 0 ? REF_COLOUR : undefined }}>
                  {fmtDelta(s.diff)}</TableCell>
                <TableCell align="right">{fmtDelta(s.cum)}</TableCell>
                <TableCell>{verdictWords(s.verdict, car, ref_)}</TableCell>
              </TableRow>
            ))}
            <TableRow>
              <TableCell colSpan={4} sx={{ fontWeight: 600 }}>Cumulative delta over the lap (s, #{car} − #{ref_})</TableCell>
              <TableCell align="right" sx={{ fontWeight: 600 }} data-testid="cum-delta-total" data-value={delta.total}>{fmtDelta(delta.total)}</TableCell>
              <TableCell />
            </TableRow>
          </TableBody>
        </Table>
      </Box>
      <Typography variant="caption" component="p">Each difference: #{car}'s median clean time in the section minus #{ref_}'s (negative: #{car} gains there); the running total accumulates them around the lap from the finish line. Medians with their 95% intervals (n = clean laps); "clear" when the two cars' intervals do not overlap.</Typography>
    </>
  );
}

function FasterMap({ track, delta, car, ref_, shares, width }:
  { track: Track; delta: CumulativeDelta; car: string; ref_: string; shares?: Record<string, number>; width: number }) {
  const values: SectionValue[] = delta.steps.map((s) => ({ section: s.section, value: s.diff }));
  const by = new Map(delta.steps.map((s) => [s.section, s]));
  const colourOf = (v?: SectionValue) => {
    const s = v && by.get(v.section);
    const w = s && fasterIn(s);
    const clear = s?.verdict === "clear-car" || s?.verdict === "clear-ref";
    return w === "car" ? (clear ? CAR_COLOUR : CAR_PALE) : w === "ref" ? (clear ? REF_COLOUR : REF_PALE) : EVEN;
  };
  const labelOf = (sec: string) => {
    const s = by.get(sec);
    const w = s && fasterIn(s);
    if (!s || !w) return `${sec.toUpperCase()}: no estimate for one car`;
    if (w === "even") return `${sec.toUpperCase()}: level`;
    const how = s.verdict === "clear-car" || s.verdict === "clear-ref" ? "clear of both intervals" : s.verdict === "overlap" ? "within the intervals" : "no interval";
    return `${sec.toUpperCase()}: #${w === "car" ? car : ref_} faster by ${Math.abs(s.diff!).toFixed(3)} s, ${how}`;
  };
  const legend = (
    <div data-testid="faster-legend" style={{ display: "flex", flexWrap: "wrap", gap: "4px 14px", fontSize: 12, color: "#111", margin: "4px 0" }}>
      <span><Swatch c={CAR_COLOUR} /><Swatch c={CAR_PALE} />car #{car} faster</span><span><Swatch c={REF_COLOUR} /><Swatch c={REF_PALE} />car #{ref_} faster</span>
      <span>strong: clear of both cars' intervals; pale: within them</span>
      <span><Swatch c={EVEN} />level or no estimate</span>
    </div>
  );
  return (
    <Box data-testid="faster-map" sx={{ width: width, maxWidth: "100%", flex: "0 0 auto" }}>
      <TrackMap outline={track.outline!} sectorFractions={track.sector_fractions!} subShare={shares} values={values}
        useSubsections={delta.set === "subsections"} width={width} colourOf={colourOf} labelOf={labelOf} legend={legend}
        title={`${track.name}: where car ${car} and car ${ref_} are faster`} />
    </Box>
  );
}

/** A colour key drawn as a filled box (a print's black text leaves it as it is). */
function Swatch({ c }: { c: string }) {
  return <span aria-hidden style={{ display: "inline-block", width: 24, height: 10, background: c, marginRight: 4,
    printColorAdjust: "exact", WebkitPrintColorAdjust: "exact" }} />;
}

const W = 460, H = 240, L = 64, R = 10, T = 10, B = 36;

export function LapsChart({ car, ref_, a, b }: { car: string; ref_: string; a: LapPoint[]; b: LapPoint[] }) {
  const [y0, y1] = lapDomain([a, b]);
  const xd = extent([...a, ...b].map((p) => p.lap));
  const x = linear(xd, [L, W - R]), y = linear([y0, y1], [H - B, T]);
  const yc = (t: number) => y(Math.min(y1, Math.max(y0, t)));
  const series: [string, string, LapPoint[]][] = [[car, CAR_COLOUR, a], [ref_, REF_COLOUR, b]];
  return (
    <figure style={{ margin: 0, flex: "1 1 320px", minWidth: 0, maxWidth: W }} data-testid="laps-chart">
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} role="img"
        aria-label={`lap times of car ${car} (${a.length} laps) and car ${ref_} (${b.length} laps) by lap number`}>
        <line x1={L} x2={W - R} y1={H - B} y2={H - B} stroke="#333" /><line x1={L} x2={L} y1={T} y2={H - B} stroke="#333" />
        {ticks(xd[0], xd[1], 6).filter((t) => Number.isInteger(t)).map((t) => <text key={`x${t}`} x={x(t)} y={H - B + 13} fontSize={10} textAnchor="middle">{t}</text>)}
        {ticks(y0, y1, 5).map((t) => <text key={`y${t}`} x={L - 4} y={y(t) + 3} fontSize={10} textAnchor="end">{fmtTime(t)}</text>)}
        <text x={(L + W) / 2} y={H - 6} fontSize={11} textAnchor="middle">lap</text>
        <text transform={`translate(12, ${(T + H - B) / 2}) rotate(-90)`} fontSize={11} textAnchor="middle">lap time</text>
        {series.map(([c, col, pts]) => (
          <g key={c} data-testid={`laps-${c}`}>
            <polyline fill="none" stroke={col} strokeWidth={1.5} points={pts.map((p) => `${x(p.lap)},${yc(p.t)}`).join(" ")} />
            {pts.map((p) => <circle key={p.lap} cx={x(p.lap)} cy={yc(p.t)} r={3} fill={p.clean ? col : "#fff"} stroke={col}>
              <title>car {c}, lap {p.lap}: {fmtTime(p.t)}{p.clean ? "" : " (excluded)"}</title></circle>)}
          </g>
        ))}
      </svg>
      <figcaption style={{ fontSize: 12, color: "#111" }}>
        <Swatch c={CAR_COLOUR} />car #{car} &nbsp; <Swatch c={REF_COLOUR} />car #{ref_};
        hollow: a lap excluded from the analysis (pit, caution, first lap…), drawn at the top edge when slower than the axis.
      </figcaption>
    </figure>
  );
}
