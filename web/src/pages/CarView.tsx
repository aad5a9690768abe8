import { Suspense, memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { Alert, Box, Button, FormControl, InputLabel, MenuItem, Select, Stack, Switch, FormControlLabel, Typography } from "@mui/material";
import { Link as RouterLink } from "react-router-dom";
import { api, sectionTime, type CarDetail, type Composite, type Lap, type Quality, type Race, type Recommendation, type S, type Track } from "../api/client";
import { Async, useApi, type Result } from "../components/Async";
import { Panel } from "../components/Panel";
import { TrackMap } from "../components/TrackMap";
import { fmtTime } from "../format";
import { fractionAtTime, sectionRanges, SECTORS, SUBS, SUBSECTIONS } from "../geometry";
import type { ViewState } from "../urlState";
import { MEASURES, measureOf, type Measure } from "../measure";
import { SectionPanel } from "../modes/SectionPanel";
import { Comparison, RefPicker } from "../components/Compare";
import { lazyPage } from "../lazyPage";
import { useAfterPaint } from "../afterPaint";

type LapList = S["LapList"];

const SectionsMode = lazyPage(() => import("../modes/Sections"));
const SectionsView = memo(SectionsMode);
const WeatherMode = lazyPage(() => import("../modes/Weather"));
const PatternsMode = lazyPage(() => import("../modes/Patterns"));
const CoachingMode = lazyPage(() => import("../modes/Coaching"));
const TelemetryMode = lazyPage(() => import("../modes/Telemetry"));

/** The code a car view in ``mode`` needs, loaded ahead (a deep link's). */
export function preloadMode(mode: ViewState["mode"]): Promise<unknown> {
  return ({ sections: SectionsMode, weather: WeatherMode, patterns: PatternsMode, coaching: CoachingMode, telemetry: TelemetryMode })[mode].preload();
}

type Props = { race: Race; track: Track; comp?: Composite; quality?: Quality; state: ViewState; setState: (p: Partial<ViewState>, replace?: boolean) => void;
  /** Called once a car's view has been rendered with its data (its heading and map laid out), per car shown:
   *  the place to bring the view into sight, not before (the view then still grows, and the scroll is lost). */
  onShown?: (car: string) => void };

export function subShares(recs: Recommendation[]): Record<string, number> {
  const typ = new Map(recs.filter((r) => r.section_set === "subsections").map((r) => [r.section!, Number(r.field_typical_s)]));
  const out: Record<string, number> = {};
  for (const s of SECTORS) {
    const [a, b] = SUBS[s];
    const ta = typ.get(a), tb = typ.get(b);
    if (ta && tb) out[a] = ta / (ta + tb);
  }
  return out;
}

type BodyProps = Props & { detail: Result<CarDetail>; laps: Result<LapList> };

const NO_RECS: Recommendation[] = [];

export function CarView(props: Props) {
  const { race, state } = props;
  const car = state.car!;
  const detail = useApi(() => api.car(race.race_id, car), [race.race_id, car]);
  const laps = useApi(() => api.laps(race.race_id, car), [race.race_id, car]);
  useEffect(() => { if (detail.data) performance.mark("kaizenlap:car-ready"); }, [detail.data]);
  // While the next car's data loads, the view stays as it was (the previous car with its data) rather than
  // being rendered again with the previous car's data under the next car's number: one render per car switch,
  // once its data is here (a hovered row has usually fetched it already).
  const shown = useRef<BodyProps | null>(null);
  if (!detail.loading || shown.current === null) shown.current = { ...props, detail, laps };
  // the car whose view is on the screen with its data (or its error): a layout effect, so the view is scrolled
  // to before it is painted; the children's DOM (heading, map) is in place when a parent's layout effect runs
  const ready = shown.current.detail.loading ? undefined : shown.current.state.car;
  const { onShown } = props;
  useLayoutEffect(() => { if (ready) onShown?.(ready); }, [ready]); // eslint-disable-line react-hooks/exhaustive-deps
  return <CarBody {...shown.current} />;
}

const CarBody = memo(function CarBody({ race, track, comp, quality, state, setState, detail, laps }: BodyProps) {
  const car = state.car!;
  const recs = detail.data?.sections ?? NO_RECS;
  const hasSubs = recs.some((r) => r.section_set === "subsections" && r.available !== false);
  const useSubs = state.set ? state.set === "subsections" && hasSubs : false;
  const shares = useMemo(() => subShares(recs), [recs]);
  const measure: Measure = state.rel ? "relative" : "loss";
  const values = useMemo(() => recs.filter((r) => r.section_set === (useSubs ? "subsections" : "sectors") && r.section)
    .map((r) => {
      const e = measureOf(r, measure);
      return { section: r.section!, value: e?.value, est: e, rank: r.rank ?? undefined };
    }), [recs, useSubs, measure]);
  const selectSection = useCallback((s: string) => setState({ section: s }), [setState]);
  const later = useAfterPaint();

  return (
    <Async r={detail} what={`car ${car} in ${race.race_id}`}>
      {(d) => (
        <>
        <Stack direction={{ xs: "column", xl: "row" }} gap={2} alignItems="flex-start">
          <CarMap car={d.car} track={track} comp={comp} laps={laps.data?.items} values={values} measure={measure} useSubs={useSubs}
            hasSubs={hasSubs} shares={shares} lapNo={state.lap} section={state.section} telemetry={state.mode === "telemetry"}
            setState={setState} />
          <Box sx={{ flexGrow: 1, minWidth: { xs: 0, sm: 320 }, maxWidth: "100%" }}>
            <Suspense fallback={<Typography role="status">Loading…</Typography>}>
              {state.mode === "sections" && <SectionsView recs={recs} useSubs={useSubs} measure={measure} onSelect={selectSection} selected={state.section} />}
              {state.mode === "weather" && <WeatherMode raceId={race.race_id} />}
              {state.mode === "patterns" && <PatternsMode detail={d} laps={laps} selectedLap={state.lap} onLap={(l) => setState({ lap: l })} />}
              {state.mode === "coaching" && <CoachingMode raceId={race.race_id} car={car}
                onPin={state.coach ? undefined : () => setState({ coach: true })} />}
              {state.mode === "telemetry" && <TelemetryMode raceId={race.race_id} car={car} track={track} tref={state.tref}
                onRef={(tref) => setState({ tref, tlap: undefined })} tlap={state.tlap} onLap={(tlap) => setState({ tlap })} />}
            </Suspense>
          </Box>
          {state.coach && (
            <Panel id="coaching" title={`Coaching — car #${car}`} initial={{ x: Math.max(0, window.innerWidth - 450), y: 120 }} width={420}
              onClose={() => setState({ coach: undefined })}>
              <Suspense fallback={<Typography role="status">Loading…</Typography>}>
                <CoachingMode raceId={race.race_id} car={car} />
              </Suspense>
            </Panel>
          )}
          {state.section && (
            <Panel id="section" title={`Section ${state.section.toUpperCase()} — car #${car}`} initial={{ x: 24, y: 360 }} width={480}
              onClose={() => setState({ section: undefined })}>
              <SectionPanel section={state.section} laps={laps} comp={comp} car={car} recs={recs} />
            </Panel>
          )}
        </Stack>
        {later && <Box component="section" aria-label="car against car" sx={{ mt: 2, borderTop: "1px solid #ddd", pt: 1 }} data-testid="car-vs-car">
          <Stack direction="row" gap={2} alignItems="center" flexWrap="wrap" sx={{ mb: 1 }}>
            <Typography variant="h6" component="h2">Car against car</Typography>
            <Button size="small" variant="outlined" component={RouterLink} data-testid="open-debrief"
              to={`/race/${encodeURIComponent(race.race_id)}/print?car=${encodeURIComponent(car)}${state.ref ? `&ref=${encodeURIComponent(state.ref)}` : ""}`}>
              Printable debrief</Button>
          </Stack>
          <RefPicker cars={race.cars ?? []} quality={quality} car={car} value={state.ref}
            onChange={(ref) => setState({ ref: ref === car ? undefined : ref })} />
          {state.ref && state.ref !== car && (race.cars ?? []).some((c) => c.car === state.ref)
            ? <Comparison raceId={race.race_id} track={track} car={car} reference={state.ref} shares={shares} />
            : state.ref ? <Alert severity="warning" sx={{ mt: 1 }}>No car #{state.ref} in this race to compare with.</Alert>
            : <Typography variant="body2" sx={{ mt: 1 }}>Pick a reference car to see, section by section, where car #{car} gains and loses against it.</Typography>}
        </Box>}
        </>
      )}
    </Async>
  );
});

/** The car's heading, the map's switches and the map: memoised, so a reference switch or a mode's own state
 *  leaves them as they are. */
const CarMap = memo(function CarMap({ car, track, comp, laps, values, measure, useSubs, hasSubs, shares, lapNo, section, telemetry, setState }:
  { car: CarDetail["car"]; track: Track; comp?: Composite; laps?: Lap[]; values: { section: string; value?: number | null }[];
    measure: Measure; useSubs: boolean; hasSubs: boolean; shares: Record<string, number>; lapNo?: number; section?: string;
    telemetry: boolean; setState: Props["setState"] }) {
  return (
    <Box sx={{ maxWidth: "100%", minWidth: 0 }}>
      <h2 className="kl-h5" data-testid="car-heading">Car #{car.car} <span className="kl-body2">({car.class}) · best {fmtTime(car.best_lap_s)} · {car.clean_laps} clean laps of {car.laps}</span></h2>
      {telemetry ? null : track.outline?.length && track.sector_fractions ? (
        <>
          <MapSwitches useSubs={useSubs} hasSubs={hasSubs} measure={measure} setState={setState} />
          <p className="kl-body2" data-testid="measure-explain" style={{ maxWidth: 550 }}>{MEASURES[measure].explain}</p>
          <MapWithPlayback track={track} comp={comp} laps={laps} values={values} measure={measure} useSubs={useSubs}
            shares={shares} lapNo={lapNo} section={section} setState={setState} carLabel={car.car} />
        </>
      ) : <Alert severity="info">No traced map for {track.name}.</Alert>}
    </Box>
  );
});

/** The map's two switches: memoised, so a car switch (same settings) leaves their MUI components as they are. */
const MapSwitches = memo(function MapSwitches({ useSubs, hasSubs, measure, setState }:
  { useSubs: boolean; hasSubs: boolean; measure: Measure; setState: Props["setState"] }) {
  return (
    <Stack direction="row" flexWrap="wrap" columnGap={1}>
      <FormControlLabel control={<Switch checked={useSubs} disabled={!hasSubs}
        onChange={(e) => setState({ set: e.target.checked ? "subsections" : "sectors", section: undefined })} />}
        label="sub-sectors" />
      <FormControlLabel control={<Switch checked={measure === "relative"} data-testid="rel-toggle"
        onChange={(e) => setState({ rel: e.target.checked || undefined }, true)} />}
        label="relative to the car's overall pace" />
    </Stack>
  );
});

function lapTimes(l: Lap, useSubs: boolean): number[] {
  const names = useSubs ? SUBSECTIONS : [...SECTORS];
  return names.map((s) => Number(sectionTime(l, s)));
}

const MapWithPlayback = memo(function MapWithPlayback({ track, comp, laps, values, measure, useSubs, shares, lapNo, section, setState, carLabel }:
  { track: Track; comp?: Composite; laps?: Lap[]; values: { section: string; value?: number | null }[]; measure: Measure; useSubs: boolean;
    shares: Record<string, number>; lapNo?: number; section?: string; setState: Props["setState"]; carLabel: string }) {
  const [playing, setPlaying] = useState(false);
  const [t, setT] = useState(0);
  const raf = useRef<number>(0);
  const lap = laps?.find((l) => l.lap === lapNo);
  const ranges = useMemo(() => sectionRanges(track.sector_fractions!, shares), [track.sector_fractions, shares]);
  const names = useSubs ? SUBSECTIONS : [...SECTORS];
  const rs = names.map((s) => ranges[s]);
  const compTimes = useMemo(() => {
    const f = comp?.field?.find((x) => x.class === "all" && x.section_set === (useSubs ? "subsections" : "sectors") && x.available);
    const m = new Map((f?.components ?? []).map((c) => [c.section, c.time_s]));
    return names.map((s) => m.get(s) ?? NaN);
  }, [comp, useSubs]); // eslint-disable-line react-hooks/exhaustive-deps
  const times = lap ? lapTimes(lap, useSubs) : [];
  const ok = times.length > 0 && times.every((x) => x > 0);
  const total = ok ? times.reduce((a, b) => a + b, 0) : 0;
  const SPEED = 8;
  useEffect(() => {
    if (!playing || !ok) return;
    let last = performance.now();
    const step = (now: number) => {
      setT((old) => { const nt = old + ((now - last) / 1000) * SPEED; return nt >= total ? 0 : nt; });
      last = now;
      raf.current = requestAnimationFrame(step);
    };
    raf.current = requestAnimationFrame(step);
    return () => cancelAnimationFrame(raf.current);
  }, [playing, ok, total]);
  useEffect(() => { setT(0); }, [lapNo, useSubs]);
  useEffect(() => { performance.mark("kaizenlap:map-ready"); }, []);
  const markers = ok ? [
    ...(compTimes.every((x) => x > 0) ? [{ f: fractionAtTime(rs, compTimes, t), label: "composite", colour: "#555" }] : []),
    { f: fractionAtTime(rs, times, t), label: "car", colour: "#b00020" },
  ] : [];
  return (
    <>
      <TrackMap outline={track.outline!} sectorFractions={track.sector_fractions!} sectionLabels={track.section_labels} subShare={shares} values={values} measure={measure}
        useSubsections={useSubs} selected={section} onSelect={(s) => setState({ section: s })} markers={markers}
        title={`${track.name}: car ${carLabel}'s ${MEASURES[measure].title}`} />
      <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap" sx={{ mt: 1 }}>
        <FormControl size="small" sx={{ minWidth: 140 }}>
          <InputLabel id="lap-label">Lap</InputLabel>
          <Select labelId="lap-label" label="Lap" value={lapNo ?? ""} data-testid="lap-select"
            onChange={(e) => { const v = String(e.target.value); setState({ lap: v === "" ? undefined : Number(v) }); }}>
            <MenuItem value="">none</MenuItem>
            {(laps ?? []).map((l) => <MenuItem key={l.lap} value={l.lap}>{l.lap}: {fmtTime(l.lap_time_s)}{l.is_clean ? "" : " (excluded)"}</MenuItem>)}
          </Select>
        </FormControl>
        <Button variant="outlined" size="small" disabled={!ok} onClick={() => setPlaying((p) => !p)} data-testid="play">
          {playing ? "Pause" : "Play lap"}
        </Button>
        <Typography variant="body2" aria-live="polite">
          {ok ? `${fmtTime(t)} of ${fmtTime(total)} (×${SPEED}); grey ghost: the field's composite` : lap ? "this lap lacks section times" : "pick a lap to replay it"}
        </Typography>
      </Stack>
    </>
  );
});
