// The live map: the traced track (components/TrackMap, as the car view draws it) with every running car at its
// estimated place (positions.ts), the flag at the line, and a click on a car (or Enter on its label) picks it.
// The car numbers are drawn in an overlay with TrackMap's own geometry (viewBox and padding), on top of its markers.
import { useMemo, type KeyboardEvent, type MouseEvent } from "react";
import { Box, Chip, Typography } from "@mui/material";
import { TrackMap } from "../components/TrackMap";
import { pointAt, sectionRanges } from "../geometry";
import type { LiveState } from "./feed";
import { carSpots, flagWords, liveSubShares } from "./positions";

const SIZE = 520;                 // TrackMap's drawing box and padding (its viewBox), for the overlay
const PAD = 24;
const COLOUR = { car: "#1565c0", selected: "#d32f2f", pit: "#757575" };

export function LiveFlag({ state }: { state?: LiveState }) {
  const f = flagWords(state?.flag);
  return (
    <Chip data-testid="live-flag" data-flag={state?.flag?.value ?? "none"} label={f.words}
      sx={f.caution ? { bgcolor: "#fdd835", color: "#000", fontWeight: 700 } : state?.flag?.value === "GF"
        ? { bgcolor: "#2e7d32", color: "#fff" } : undefined} />
  );
}

export function LiveMap({ state, selected, onPick, width = 420 }:
  { state?: LiveState; selected?: string; onPick: (car: string) => void; width?: number }) {
  const track = state?.track;
  const shares = useMemo(() => liveSubShares(state), [state?.field?.sections]);   // the fastest times: they change rarely
  const ranges = useMemo(() => track ? sectionRanges(track.sector_fractions, shares) : null, [track, shares]);
  if (!state || !track || !ranges) {
    return <Typography variant="body2" data-testid="live-map-none">No traced map for this track: positions are in the tower only.</Typography>;
  }
  const spots = carSpots(state, ranges);
  const colourOf = (car: string) => car === selected ? COLOUR.selected : state.cars[car]?.pit_in ? COLOUR.pit : COLOUR.car;
  const markers = spots.map((s) => ({ f: s.f, label: s.car, colour: colourOf(s.car) }));
  const h = Math.max(...track.outline.map((p) => p.y));
  const scale = SIZE - 2 * PAD;
  const height = h * scale + 2 * PAD;
  const fromMarker = (e: MouseEvent) => {          // a click on one of TrackMap's markers
    const g = (e.target as Element).closest?.("[data-testid^='marker-']");
    const car = g?.getAttribute("data-testid")?.slice("marker-".length);
    if (car && state.cars[car]) onPick(car);
  };
  const key = (car: string) => (e: KeyboardEvent) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onPick(car); } };
  const fcy = state.flag?.value === "FCY";
  return (
    <Box data-testid="live-map" sx={{ border: fcy ? "3px solid #fdd835" : "3px solid transparent", borderRadius: 1 }}>
      <Typography variant="caption" component="p" data-testid="live-map-flag" sx={{ mb: 0.5 }}>
        {flagWords(state.flag).words} (a yellow frame under a full course yellow). Flags as the timing line records
        them (green, full course yellow, chequered); the feed carries no local yellows.</Typography>
      <Box sx={{ position: "relative" }} onClick={fromMarker}>
        <TrackMap outline={track.outline} sectorFractions={track.sector_fractions} subShare={shares} values={[]}
          useSubsections={false} markers={markers} width={width}
          title={`${track.name ?? state.track_id}: ${spots.length} cars at their estimated positions`}
          colourOf={() => "#bdbdbd"} labelOf={(s) => s.toUpperCase()}
          legend={<Typography variant="caption" component="p" data-testid="live-map-legend">
            Each dot: a car where it probably is — its last timing point plus the share of the next sub-section its own
            last time there says it has covered (estimated; it never passes a timing point before crossing it).
            {" "}<Box component="span" sx={{ color: COLOUR.selected, fontWeight: 700 }}>Red</Box>: the car picked;
            {" "}<Box component="span" sx={{ color: COLOUR.pit, fontWeight: 700 }}>grey</Box>: came in to the pits.
            Click a car for its coaching note.</Typography>} />
        <svg viewBox={`0 0 ${SIZE + 30} ${height}`} width={width} aria-label="cars on the map" role="group"
          style={{ position: "absolute", top: 0, left: 0, maxWidth: "100%", height: "auto", pointerEvents: "none" }}>
          {spots.map((s) => {
            const p = pointAt(track.outline, s.f);
            const c = state.cars[s.car];
            const x = p.x * scale + PAD, y = p.y * scale + PAD;
            return (
              <g key={s.car} data-testid={`map-car-${s.car}`} data-f={s.f.toFixed(4)} role="button" tabIndex={0}
                aria-label={`car ${c?.number ?? s.car}, P${c?.position}: show its coaching note`} aria-pressed={s.car === selected}
                style={{ pointerEvents: "auto", cursor: "pointer" }} onClick={(e) => { e.stopPropagation(); onPick(s.car); }}
                onKeyDown={key(s.car)}>
                <circle cx={x} cy={y} r={11} fill="transparent" />
                <text x={x + 9} y={y - 7} fontSize={12} fontWeight={700} fill={colourOf(s.car)} stroke="#fff" strokeWidth={3}
                  paintOrder="stroke">{c?.number ?? s.car}</text>
              </g>
            );
          })}
        </svg>
      </Box>
    </Box>
  );
}
