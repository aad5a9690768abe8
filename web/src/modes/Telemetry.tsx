// Telemetry mode: the car's best lap against a reference lap (the fastest car's, or any car's with telemetry), or
// against its own best: one of its laps (default its median clean lap) against its best lap — speed, throttle and brake against distance, the delta trace, the map coloured by the running
// delta and the corners' parts of the lap difference; one cursor reads every chart at one distance.
import { useEffect, useState } from "react";
import { Alert, Box, Button, FormControl, InputLabel, MenuItem, Select, Stack, Typography } from "@mui/material";
import { api, ApiError, type RaceTelemetry, type TelemetryComparison, type Track } from "../api/client";
import { Async, useApi } from "../components/Async";
import { fmtDelta, fmtTime } from "../format";
import { readingAt, refOf, type RefKind } from "../telemetry";
import { CornerParts } from "./CornerParts";
import { DeltaTrace } from "./DeltaTrace";
import { OwnBestCorners } from "./OwnBestCorners";
import { TelemetryMap } from "./TelemetryMap";
import { TelemetryReadout } from "./TelemetryReadout";
import { TelemetryTraces } from "./TelemetryTraces";

type Props = { raceId: string; car: string; track: Track; tref?: string; onRef: (tref: string | undefined) => void;
  tlap?: number; onLap: (lap: number | undefined) => void };

export default function Telemetry({ raceId, car, track, tref, onRef, tlap, onLap }: Props) {
  const summary = useApi(() => api.raceTelemetry(raceId), [raceId]);
  const e = summary.error;
  if (e instanceof ApiError && e.status === 404 && /no telemetry for this race/.test(e.message)) {
    return <Alert severity="info" data-testid="no-telemetry">No telemetry for this race: the car data was not supplied
      with its timing files, so there are no speed, throttle or brake traces here. The other modes work from the timing.</Alert>;
  }
  return (
    <Box data-testid="telemetry" sx={{ minWidth: 0 }}>
      <Async r={summary} what="the race's telemetry">
        {(s) => !s.available
          ? <Alert severity="info" data-testid="no-telemetry">No telemetry for this race{s.reason ? `: ${s.reason}` : ""}.</Alert>
          : <CarTelemetry s={s} raceId={raceId} car={car} track={track} tref={tref} onRef={onRef} tlap={tlap} onLap={onLap} />}
      </Async>
    </Box>
  );
}

function RefPicker({ s, car, ref, onRef }: { s: RaceTelemetry; car: string; ref: RefKind; onRef: Props["onRef"] }) {
  const others = s.cars.map((c) => c.car).filter((c): c is string => !!c && c !== car);
  const fastest = s.reference_car;
  return (
    <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap" data-testid="telemetry-ref">
      <Typography variant="body2">Reference lap:</Typography>
      {fastest && fastest !== car && <Button size="small" variant={ref.kind === "fastest" ? "contained" : "outlined"}
        onClick={() => onRef(undefined)} data-testid="tref-fastest">fastest car (#{fastest})</Button>}
      <Button size="small" variant={ref.kind === "own" ? "contained" : "outlined"} onClick={() => onRef("own")}
        data-testid="tref-own">its own best</Button>
      <FormControl size="small" sx={{ minWidth: 130 }}>
        <InputLabel id="tref-label">Any car</InputLabel>
        <Select labelId="tref-label" label="Any car" value={ref.kind === "car" && others.includes(ref.car) ? ref.car : ""}
          data-testid="tref-select" onChange={(ev) => onRef(String(ev.target.value) || undefined)}>
          <MenuItem value="">fastest car</MenuItem>
          {others.map((c) => <MenuItem key={c} value={c}>#{c}</MenuItem>)}
        </Select>
      </FormControl>
    </Stack>
  );
}

function CarTelemetry({ s, raceId, car, track, tref, onRef, tlap, onLap }: Props & { s: RaceTelemetry }) {
  const mine = s.cars.find((c) => c.car === car);
  const ref = refOf(tref, car, s.reference_car);
  const refCar = ref.kind === "car" ? ref.car : ref.kind === "own" ? car : undefined;
  // the lap compared with its own best lives in the URL (&tlap=); only read against its own best (default: the API's, its median lap)
  const lap = ref.kind === "own" && tlap !== undefined ? String(tlap) : undefined;
  const setLap = (l: string | undefined) => onLap(l === undefined ? undefined : Number(l));
  const cmp = useApi(() => (mine ? api.carTelemetry(raceId, car, refCar, lap) : Promise.resolve(undefined)), [raceId, car, refCar, lap, !!mine]);
  if (!mine) {
    const with_ = s.cars.map((c) => `#${c.car}`).join(", ");
    return <Alert severity="info" data-testid="no-telemetry-car">No telemetry for car #{car} in this race. Cars with
      telemetry: {with_ || "none"}.</Alert>;
  }
  return (
    <>
      <RefPicker s={s} car={car} ref={ref} onRef={onRef} />
      {ref.kind === "car" && !s.cars.some((c) => c.car === ref.car)
        ? <Alert severity="warning" sx={{ mt: 1 }}>No telemetry for car #{ref.car} in this race to compare with.</Alert>
        : <Async r={cmp} what={`telemetry of car ${car}`}>
          {(c) => c ? <>
            {ref.kind === "own" && <LapPicker c={c} onLap={setLap} />}
            <Comparison c={c} s={s} own={ref.kind === "own"} fastest={ref.kind === "fastest"} track={track} />
          </> : null}
        </Async>}
      {ref.kind === "own" && <Box sx={{ mt: 2 }}><OwnBestCorners car={mine} /></Box>}
    </>
  );
}

/** Against its own best: which of the car's complete laps to compare with its best (default its median clean lap). */
function LapPicker({ c, onLap }: { c: TelemetryComparison; onLap: (lap: string | undefined) => void }) {
  const laps = (c.laps ?? []).filter((x) => x.role !== "best");
  if (!laps.length) return null;
  const role = (r?: string | null) => (r === "median" ? ", its median clean lap" : "");
  return (
    <FormControl size="small" sx={{ mt: 1, minWidth: 260 }}>
      <InputLabel id="tlap-label">Lap against its best</InputLabel>
      <Select labelId="tlap-label" label="Lap against its best" value={String(c.lap ?? "")} data-testid="tlap-select"
        onChange={(ev) => onLap(String(ev.target.value) || undefined)}>
        {laps.map((x) => <MenuItem key={String(x.lap)} value={String(x.lap)} data-testid={`tlap-${x.lap}`}>
          lap {x.lap}, {fmtTime(x.lap_time_s ?? x.duration_s)}{x.is_clean === false ? " (not clean)" : ""}{role(x.role)}</MenuItem>)}
      </Select>
    </FormControl>
  );
}

function Comparison({ c, s, own, fastest, track }:
  { c: TelemetryComparison; s: RaceTelemetry; own: boolean; fastest: boolean; track: Track }) {
  const [cursor, setCursor] = useState<number | null>(null);
  useEffect(() => setCursor(null), [c]);
  const length = s.length_m ?? c.distance_m[c.distance_m.length - 1] ?? 1;
  const corners = s.corners;
  const refLabel = own ? `its best lap (lap ${c.reference_lap ?? "–"})` : `car #${c.reference_car}`;
  const refShort = own ? "its best lap" : `car ${c.reference_car}`;
  const reading = cursor === null ? null : readingAt(c, corners, cursor);
  const lap = `lap ${c.lap ?? "–"}, ${fmtTime(c.lap_time_s ?? c.duration_s)}`;
  const refLap = `lap ${c.reference_lap ?? "–"}, ${fmtTime(c.reference_lap_time_s ?? c.reference_duration_s)}`;
  const median = c.lap_kind === "median" && c.typical ? `, the median of its ${c.typical.n ?? "–"} clean laps with telemetry` : "";
  const noChannels = !c.channels.speed_kph && !c.channels.throttle_pct && !c.channels.brake_bar;
  return (
    <Box sx={{ mt: 1 }}>
      <Typography variant="body1" data-testid="telemetry-heading">
        {own ? <>Car #{c.car}'s lap {c.lap ?? "–"} ({fmtTime(c.lap_time_s ?? c.duration_s)}{median}) against its best lap
            with telemetry ({refLap}): <b data-testid="lap-difference">{fmtDelta(c.lap_delta_s)} s</b>.</>
          : <>Car #{c.car}'s best lap with telemetry ({lap}) against car #{c.reference_car}'s ({refLap}{fastest ? ", the fastest lap with telemetry" : ""}):
            {" "}<b data-testid="lap-difference">{fmtDelta(c.lap_delta_s)} s</b>.</>}
      </Typography>
      <Box sx={{ position: "sticky", top: 0, zIndex: 2, bgcolor: "background.paper", py: 0.5 }}>
        <TelemetryReadout r={reading} car={c.car} refLabel={refLabel} />
      </Box>
      <TelemetryTraces distance={c.distance_m} channels={c.channels} reference={c.reference_channels}
        corners={corners} length={length} car={c.car} refLabel={refLabel} cursor={cursor} onCursor={setCursor} />
      <Typography variant="caption" component="p">Red: car #{c.car}{own ? `, lap ${c.lap ?? "–"}` : ""}; blue: {own ? `its best lap (lap ${c.reference_lap ?? "–"})` : `car #${c.reference_car}`}; on the map, the yellow dot is the cursor. Every {c.step_m} m
        from the line. Corners C1, C2, … are numbered in lap order from the line (not the official turn numbers).</Typography>
      {noChannels && <Typography variant="body2" data-testid="no-lap-channels" sx={{ mt: 0.5 }}>Speed, throttle and brake are
        kept for each car's best and median clean laps only, so lap {c.lap ?? "–"} is drawn as its time difference alone
        (from its trace every {c.delta_step_m ?? 10} m).</Typography>}
      <Typography variant="h6" component="h3" sx={{ mt: 1 }}>Time gained and lost along the lap</Typography>
      <DeltaTrace distance={c.distance_m} delta={c.delta_s} corners={corners} length={length} car={c.car}
        reference={refShort} cursor={cursor} onCursor={setCursor} />
      <Typography variant="caption" component="p" data-testid="delta-at-line">Above zero: car #{c.car} is behind
        {own ? " its best lap" : ""} at that distance. At the line: {fmtDelta(c.delta_s[c.delta_s.length - 1])} s, the difference of the two laps.</Typography>
      {track.outline?.length && track.sector_fractions
        ? <Box sx={{ mt: 1, maxWidth: 420 }}><TelemetryMap track={track} distance={c.distance_m} delta={c.delta_s} length={length}
            cursorM={reading?.distance_m ?? null} car={c.car} reference={refShort} /></Box>
        : null}
      <Typography variant="h6" component="h3" sx={{ mt: 1 }}>Per corner</Typography>
      <CornerParts c={c} />
    </Box>
  );
}
