import { Suspense, memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { Link as RouterLink, useLocation, useNavigate, useParams } from "react-router-dom";
import { Alert, Box, Button, Chip, Link, Paper, Stack, Table, TableBody, TableHead,
  Typography, alpha, lighten, type SxProps, type Theme } from "@mui/material";
import { api, type Car, type Composite, type Quality, type Race } from "../api/client";
import { Async, useApi, type Result as AsyncResult } from "../components/Async";
import { fmtDelta, fmtTime } from "../format";
import { MODES, parseState, stateToSearch, type Mode, type ViewState } from "../urlState";
import { CarView, preloadMode } from "./CarView";
import { lazyPage } from "../lazyPage";
import { useAfterPaint } from "../afterPaint";
import { COMPOSITE_DEF } from "../measure";
import { flagLabel } from "../labels";
import { Crumbs } from "../components/Crumbs";
import { useTitle } from "../title";
import { dnfLaps, results, type Result as Standing } from "../results";
import { GapPositionChart } from "../components/GapPositionChart";
import { timeGaps, type ChartMode, type RaceProgress } from "../progress";

const ReportsList = lazyPage(() => import("./Reports"));

/** The code a deep link to ``state`` needs beyond this page's (main.tsx loads it before the first render). */
export function preloadRace(state: ViewState): Promise<unknown> {
  return Promise.all([ReportsList.preload(), state.car ? preloadMode(state.mode) : undefined]);
}

export function fieldTotal(c: Composite | undefined, set = "sectors"): number | undefined {
  const f = c?.field?.find((x) => x.class === "all" && x.section_set === set && x.available);
  return f?.total_s ?? undefined;
}

export function useViewState(): [ViewState, (patch: Partial<ViewState>, replace?: boolean) => void] {
  const loc = useLocation();
  const nav = useNavigate();
  const state = useMemo(() => parseState(loc.search), [loc.search]);
  const latest = useRef(state);
  latest.current = state;
  const set = useCallback((patch: Partial<ViewState>, replace = false) => {      // stable: memoised views keep
    nav({ pathname: loc.pathname, search: stateToSearch({ ...latest.current, ...patch }) }, { replace });
  }, [nav, loc.pathname]);
  return [state, set];
}

const Leaderboard = memo(LeaderboardTable);

function LeaderboardTable({ race, comp, quality, progress, selected, onPick }:
  { race: Race; comp?: Composite; quality?: Quality; progress?: RaceProgress; selected?: string; onPick: (c: string) => void }) {
  const total = fieldTotal(comp);
  const res = useMemo(() => results(race.cars ?? [], quality), [race.cars, quality]);
  const gaps = useMemo(() => timeGaps(progress, [...res.values()].find((r) => r.status === "winner")?.car), [progress, res]);
  const rows = [...(race.cars ?? [])].sort((a, b) => {
    const pa = res.get(a.car)?.position ?? 999, pb = res.get(b.car)?.position ?? 999;
    return pa - pb || (res.get(b.car)?.laps ?? 0) - (res.get(a.car)?.laps ?? 0) || (a.best_lap_s ?? 1e9) - (b.best_lap_s ?? 1e9);
  });
  return (
    <Box sx={{ overflowX: "auto" }}>
    <Table size="small" aria-label="leaderboard" data-testid="leaderboard" sx={BOARD_SX}>
      <TableHead><tr>
        <th scope="col">Pos</th><th scope="col">Car</th><th scope="col" className="narrow">Class</th>
        <th scope="col" className="right">Laps</th><th scope="col">Gap · status</th>
        <th scope="col" className="right">Best lap</th><th scope="col" className="right narrow">Clean laps (n)</th>
        <th scope="col" className="right narrow">Best clean − composite</th>
      </tr></TableHead>
      <TableBody>
        {rows.map((c: Car) => <LeaderRow key={c.car} raceId={race.race_id} c={c} r={res.get(c.car)} total={total} gap={gaps.get(c.car)}
          selected={c.car === selected} onPick={onPick} />)}
      </TableBody>
    </Table>
    </Box>
  );
}

// The board's rows and cells are plain elements styled once here as MUI's small TableRow (hover, selected) and
// TableCell draw them (body2 type, 6 px padding, the light divider): 21 rows of 8 cells as styled components
// cost the race page's first render about a third of its time, and a car switch re-rendered them all.
const BOARD_SX: SxProps<Theme> = (t: Theme) => ({
  "& td, & th": { fontFamily: t.typography.body2.fontFamily, fontWeight: t.typography.body2.fontWeight,
    fontSize: t.typography.body2.fontSize, lineHeight: t.typography.body2.lineHeight, letterSpacing: t.typography.body2.letterSpacing, display: "table-cell", verticalAlign: "inherit", textAlign: "left",
    color: t.palette.text.primary, padding: "6px 16px", px: { xs: 0.75, sm: 1 },
    borderBottom: `1px solid ${lighten(alpha(t.palette.divider, 1), 0.88)}` },
  "& th": { lineHeight: t.typography.pxToRem(24), fontWeight: t.typography.fontWeightMedium },
  "& .right": { textAlign: "right" },
  "& .narrow": { display: { xs: "none", sm: "table-cell" } },
  "& .nowrap": { whiteSpace: "nowrap" },
  "& td.dnf": { color: t.palette.error.main },
  "& tr": { color: "inherit", display: "table-row", verticalAlign: "middle", outline: 0 },
  "& tbody tr": { cursor: "pointer", "&:hover": { backgroundColor: t.palette.action.hover } },
  "& tbody tr.selected": { backgroundColor: alpha(t.palette.primary.main, t.palette.action.selectedOpacity),
    "&:hover": { backgroundColor: alpha(t.palette.primary.main, t.palette.action.selectedOpacity + t.palette.action.hoverOpacity) } },
});

/** One car's row: memoised, so a car switch re-renders the two rows whose selection changed, not the board. */
const LeaderRow = memo(function LeaderRow({ raceId, c, r, total, gap, selected, onPick }:
  { raceId: string; c: Car; r?: Standing; total?: number; gap?: number; selected: boolean;
    onPick: (c: string) => void }) {
  return (
    <tr className={selected ? "selected" : undefined} onClick={() => onPick(c.car)}
      onPointerEnter={() => { api.car(raceId, c.car).catch(() => undefined); api.laps(raceId, c.car).catch(() => undefined); }}
      data-testid={`car-row-${c.car}`}>
      <td>{r?.position ?? "–"}</td>
      <td className="nowrap"><button type="button" className="kl-link" onClick={() => onPick(c.car)} aria-label={`car ${c.car}`}>#{c.car}</button>
        {selected && <>{" "}<Link component={RouterLink} to={`/car/${encodeURIComponent(c.car)}`} onClick={(e: React.MouseEvent) => e.stopPropagation()}
          variant="body2" data-testid="season-link" aria-label={`car ${c.car}'s season`}>season</Link></>}</td>
      <td className="narrow">{c.class ?? "–"}</td>
      <td className="right">{r?.laps ?? c.laps}</td>
      <td data-testid={`status-${c.car}`} className={r?.dnf ? "nowrap dnf" : "nowrap"}>{r?.status ?? "–"}{r?.status === "lead lap" && gap !== undefined ? ` · ${fmtDelta(gap)}` : ""}</td>
      <td className="right">{fmtTime(c.best_lap_s)}</td>
      <td className="right narrow">{c.clean_laps} of {c.laps}</td>
      <td className="right narrow">{total && c.best_clean_lap_s ? fmtDelta(c.best_clean_lap_s - total) : "–"}</td>
    </tr>
  );
});

/** The race on the road from the timing (the progress document): the winner's race time, the margin to the next
 *  car at the flag, and, where the officials' result differs from the road (a penalty), who crossed first. */
export function roadStory(p: RaceProgress | undefined, officialWinner?: string): { winTime?: number; margin?: string } {
  const cars = p?.cars ?? [];
  const win = cars.find((c) => c.car === officialWinner) ?? cars[0];
  const road = cars[0];
  if (!win || !road) return {};
  const gap = (a: typeof road, b: typeof road) => a.laps === b.laps && typeof a.race_time_s === "number"
    && typeof b.race_time_s === "number" ? fmtTime(b.race_time_s - a.race_time_s) : undefined;
  let margin: string | undefined;
  if (road.car === win.car) {
    const next = cars[1], by = next && gap(road, next);
    margin = by ? `Won by ${by} s over #${next.car} at the line.` : undefined;
  } else {
    const by = gap(road, win);
    margin = `On the road #${road.car} crossed the line first${by ? `, ${by} s ahead of #${win.car}` : ""}; the officials classified it ${road.official_position ? `P${road.official_position}` : "out of the results"} (a penalty).`;
  }
  return { winTime: win.race_time_s ?? undefined, margin };
}

/** What the race page opens on before a car is picked: the result and where to start. */
export function RaceSummary({ race, comp, quality, progress, onPick }:
  { race: Race; comp?: Composite; quality?: Quality; progress?: RaceProgress; onPick: (c: string) => void }) {
  const cars = race.cars ?? [];
  const res = results(cars, quality);
  const byPos = [...res.values()].filter((r) => r.position !== undefined).sort((a, b) => a.position! - b.position!);
  const winner = [...res.values()].find((r) => r.status === "winner");
  const fastest = [...cars].filter((c) => c.best_lap_s).sort((a, b) => a.best_lap_s! - b.best_lap_s!)[0];
  const dnf = [...res.values()].filter((r) => r.dnf);
  const lapped = [...res.values()].filter((r) => !r.dnf && r.lapsDown > 0);
  const total = fieldTotal(comp);
  const { winTime, margin } = roadStory(progress, winner?.car);
  return (
    <Paper variant="outlined" sx={{ p: 2 }} data-testid="race-summary">
      <Typography variant="h6" component="h2">Race summary</Typography>
      {winner ? <Typography data-testid="summary-winner">Winner: car #{winner.car}, {winner.laps} laps{winTime ? ` in ${fmtTime(winTime)}` : ""}.
        {byPos.length > 2 ? ` Podium: ${byPos.slice(0, 3).map((r) => `#${r.car}`).join(", ")}.` : ""}</Typography> : <Typography>No official result in the published documents.</Typography>}
      {margin && <Typography data-testid="summary-margin">{margin}</Typography>}
      {fastest && <Typography>Fastest lap: car #{fastest.car}, {fmtTime(fastest.best_lap_s)} (lap {fastest.best_lap_number ?? "–"}).</Typography>}
      {total ? <Typography>Composite lap: {fmtTime(total)} ({COMPOSITE_DEF.replace(/^composite: /, "")}); fastest lap − composite {fastest?.best_lap_s ? fmtDelta(fastest.best_lap_s - total) : "–"} s.</Typography> : null}
      <Typography>{res.size - dnf.length - lapped.length} car{res.size - dnf.length - lapped.length === 1 ? "" : "s"} on the lead lap{lapped.length ? `, ${lapped.length} lapped` : ""}{dnf.length ? `, ${dnf.length} did not finish (${dnf.map((r) => `#${r.car}`).join(", ")})` : ""}.</Typography>
      <Typography variant="body2" sx={{ mt: 1 }}>Pick a car in the leaderboard to see where its lap time goes: the map is coloured by the seconds it loses per lap to the composite in each section.</Typography>
      {winner && <Button variant="contained" size="small" sx={{ mt: 1 }} onClick={() => onPick(winner.car)} data-testid="open-winner">Open the winner, car #{winner.car}</Button>}
      <Typography variant="caption" component="p" sx={{ mt: 1 }}>Gap to the winner in laps from the official results; a car {"≥"} {dnfLaps(winner?.laps ?? 0)} laps down, or without a classified position, stopped early (DNF). Time gaps are at the finish line, from the timing's race clock (before any penalty the officials added); the chart below draws them lap by lap.</Typography>
    </Paper>
  );
}

const SHOWN_ISSUES = 6;

export function QualitySummary({ q }: { q: Quality }) {
  const [all, setAll] = useState(false);
  const issues = q.issues ?? [];
  const shown = all ? issues : issues.slice(0, SHOWN_ISSUES);
  return (
    <Box data-testid="quality">
      <Typography variant="body2">{q.n_laps} laps, {q.n_clean} clean (status {q.status}). Laps excluded from the analysis, by reason:</Typography>
      <Stack direction="row" gap={0.5} flexWrap="wrap" sx={{ my: 0.5 }} data-testid="exclusions">
        {(q.exclusions ?? []).filter((e) => e.laps > 0).map((e) => <Chip key={e.flag} size="small" title={e.flag}
          label={`${flagLabel(e.flag)}: ${e.laps} lap${e.laps === 1 ? "" : "s"}`} />)}
      </Stack>
      {issues.length ? (
        <>
          <ul style={{ margin: 0, paddingLeft: 18, fontSize: 13 }} id="quality-issues" data-testid="quality-issues">
            {shown.map((i, k) => <li key={k}><b>{i.severity}</b> {i.message}{i.file ? ` (${i.file.split("/").pop()}${i.line ? `, line ${i.line}` : ""}${i.column ? `, column ${i.column}` : ""})` : ""}</li>)}
          </ul>
          {issues.length > SHOWN_ISSUES && (
            <Button size="small" onClick={() => setAll((a) => !a)} aria-expanded={all} aria-controls="quality-issues"
              data-testid="quality-more">{all ? "Show fewer" : `Show ${issues.length - SHOWN_ISSUES} more`}</Button>
          )}
        </>
      ) : <Typography variant="body2">No data-quality issues.</Typography>}
    </Box>
  );
}

// The parts of the page a car or reference switch leaves as they are: memoised, they are not re-rendered.
const QualityPanel = memo(function QualityPanel({ quality, raceId, trackId }:
  { quality: AsyncResult<Quality>; raceId: string; trackId?: string | null }) {
  return (
    <Paper variant="outlined" sx={{ p: 1, gridArea: "quality", minWidth: 0, alignSelf: "start" }}>
      <Typography variant="h6" component="h2">Data quality</Typography>
      <Async r={quality} what="data quality">{(q) => <QualitySummary q={q} />}</Async>
      <Typography variant="h6" component="h2" sx={{ mt: 2 }}>Reports</Typography>
      <Suspense fallback={null}><ReportsList raceId={raceId} trackId={trackId ?? undefined} /></Suspense>
    </Paper>
  );
});

/** The race lap by lap (gap to the leader or position), its mode in the URL (``chart=position``). */
const ProgressPanel = memo(function ProgressPanel({ progress, selected, chart, setState, onPick, sx }:
  { progress: AsyncResult<RaceProgress | undefined>; selected?: string; chart?: "position"; setState: (p: Partial<ViewState>) => void;
    onPick: (c: string) => void; sx?: SxProps<Theme> }) {
  const onMode = useCallback((m: ChartMode) => setState({ chart: m === "position" ? "position" : undefined }), [setState]);
  return (
    <Paper variant="outlined" sx={{ p: 1, minWidth: 0, ...sx }} data-testid="progress-panel">
      <h2 className="kl-h6">The race lap by lap</h2>
      <Async r={progress} what="the race lap by lap">
        {(p) => p ? <GapPositionChart doc={p} mode={chart ?? "gap"} selected={selected} onMode={onMode} onPick={onPick} /> : null}
      </Async>
    </Paper>
  );
});

// plain buttons styled in shell.css as MUI's small ToggleButtonGroup drew them: on the page's first render
const ModePicker = memo(function ModePicker({ mode, setState }: { mode: Mode; setState: (p: Partial<ViewState>) => void }) {
  return (
    <div role="group" aria-label="analysis mode" className="kl-modes">
      {MODES.map((m) => <button key={m} type="button" aria-pressed={m === mode} data-testid={`mode-${m}`}
        onClick={() => { if (m !== mode) setState({ mode: m }); }}>{m}</button>)}
    </div>
  );
});

/** Every car's section documents and laps, one car after the other while the page is idle (in finishing
 *  the order of their best laps): a car or reference switch then finds its data here instead of waiting on the network. Returns the
 *  stop. */
export function prefetchCars(raceId: string, cars: string[]): () => void {
  let stop = false;
  const idle = (f: () => void) => (typeof requestIdleCallback === "function" ? requestIdleCallback(f, { timeout: 1000 }) : setTimeout(f, 50));
  const next = (i: number) => {
    if (stop || i >= cars.length) return;
    void Promise.allSettled([api.car(raceId, cars[i]), api.laps(raceId, cars[i])]).then(() => idle(() => next(i + 1)));
  };
  idle(() => next(0));
  return () => { stop = true; };
}

export default function RacePage() {
  const { raceId = "" } = useParams();
  const [state, setState] = useViewState();
  const race = useApi(() => api.race(raceId), [raceId]);
  const later = useAfterPaint();
  useEffect(() => {
    const cars = race.data?.cars;
    if (!cars?.length || race.data?.race_id !== raceId) return;
    const order = [...cars].sort((a, b) => (a.best_lap_s ?? 1e9) - (b.best_lap_s ?? 1e9)).map((c) => c.car);
    return prefetchCars(raceId, order);
  }, [race.data, raceId]);
  const comp = useApi(() => api.composite(raceId), [raceId]);
  const quality = useApi(() => api.quality(raceId), [raceId]);
  // the race lap by lap: at once when the page opens on it (no car); with a car, once the car's view has shown
  // (its map first: the chart then sits under the leaderboard)
  const [carShown, setCarShown] = useState(false);
  const wanted = useRef(false);                     // once asked for, kept (the leaderboard's gaps stay)
  wanted.current ||= !state.car || carShown;
  const wantProgress = wanted.current;
  const progress = useApi<RaceProgress | undefined>(() => wantProgress ? api.progress(raceId) : Promise.resolve(undefined),
    [raceId, wantProgress]);
  const tracks = useApi(() => api.tracks(), []);
  const track = tracks.data?.items.find((t) => t.track_id === race.data?.track_id);
  useTitle(race.error ? `not found: race ${raceId}` : race.data ? `${track?.name ?? race.data.track_id} race ${race.data.race_number}` : raceId,
    state.car && `car ${state.car}`, state.car && state.mode);
  // Stacked layout (below lg, a phone): the car's view is under the leaderboard. Once a car's view has been
  // rendered with its data (a tap, back/forward, a deep link), its top (the mode buttons, then the car's heading
  // and map) is brought to the top of the screen; a scroll made before then is lost as the view grows.
  const shownCar = useRef(state.car);
  shownCar.current = state.car;
  const toCar = useCallback(() => {
    if (window.innerWidth < 1200) document.querySelector("[data-testid=race-main]")?.scrollIntoView();
  }, []);
  // Back/forward to a car: the browser would restore the entry's old scroll position after the view has been
  // scrolled to the car (its restoration runs after the popstate handlers, where the view renders); an entry
  // with a car leaves the scroll to the page (the mode is kept per history entry; any other page gets it back).
  const entry = useLocation().key;
  useLayoutEffect(() => { history.scrollRestoration = state.car ? "manual" : "auto"; }, [state.car, entry]);
  useEffect(() => () => { history.scrollRestoration = "auto"; }, []);
  const shown = useCallback(() => { setCarShown(true); toCar(); }, [toCar]);
  const pick = useCallback((c: string) => {
    if (c === shownCar.current) { toCar(); return; }           // the car already shown: its view is there now
    setState({ car: c, section: undefined, lap: undefined, ref: undefined, tlap: undefined });
  }, [setState, toCar]);
  return (
    <>
      <Crumbs>{[
        <RouterLink key="s" className="kl-link" to="/">Season</RouterLink>,
        race.data && <RouterLink key="t" className="kl-link" to={`/track/${race.data.track_id}`}>{track?.name ?? race.data.track_id}</RouterLink>,
        <span key="r">{raceId}</span>,
        state.car && <span key="c">car {state.car}</span>,
      ]}</Crumbs>
      <Async r={race} what={`race ${raceId}`}>
        {(r) => (
          <>
            <h1 className="kl-h4" style={{ marginTop: 8 }}>{track?.name ?? r.track_id} — race {r.race_number}</h1>
            <p className="kl-body2 kl-gutter">{r.date ?? "date unknown"} · {r.n_cars} cars · {r.n_laps} laps ({r.n_clean} clean)
              {" · "}<RouterLink className="kl-link" to={`/race/${encodeURIComponent(raceId)}/live`} data-testid="watch-live">Watch live / replay</RouterLink></p>
            {/* phone: the car picker first, then the car (or the summary), then quality and reports;
                wide: the leaderboard and quality on the left, the car on the right */}
            <Box sx={{ display: "grid", gap: 2, alignItems: "start",
              gridTemplateColumns: { xs: "minmax(0, 1fr)", lg: "560px minmax(0, 1fr)" },
              gridTemplateAreas: state.car ? { xs: '"board" "main" "chart" "quality"', lg: '"board main" "chart main" "quality main"' }
                : { xs: '"board" "main" "quality"', lg: '"board main" "quality main"' } }}>
              <Paper variant="outlined" sx={{ p: 1, gridArea: "board", minWidth: 0 }} data-testid="board">
                <h2 className="kl-h6">Leaderboard</h2>
                <p className="kl-caption">Pos: finishing position in the official results; gap: behind the winner at the line, s (the timing's race clock, before penalties); {COMPOSITE_DEF}{fieldTotal(comp.data) ? ` (${fmtTime(fieldTotal(comp.data))}, n=${comp.data?.n_clean} clean laps)` : ""}.</p>
                <Leaderboard race={r} comp={comp.data} quality={quality.data} progress={progress.data} selected={state.car}
                  onPick={pick} />
              </Paper>
              <Box sx={{ gridArea: "main", minWidth: 0 }} data-testid="race-main">
                {state.car ? (
                  <>
                    <ModePicker mode={state.mode} setState={setState} />
                    {track ? <CarView race={r} track={track} comp={comp.data} quality={quality.data} state={state} setState={setState} onShown={shown} />
                      : <Async r={tracks} what="track map">{() => <Alert severity="info">No map for this track.</Alert>}</Async>}
                  </>
                ) : <Stack gap={2}>
                  <RaceSummary race={r} comp={comp.data} quality={quality.data} progress={progress.data} onPick={pick} />
                  <ProgressPanel progress={progress} chart={state.chart} setState={setState} onPick={pick} />
                </Stack>}
              </Box>
              {/* with a car open the chart sits under the leaderboard, the car's line highlighted */}
              {state.car && wantProgress && <ProgressPanel progress={progress} selected={state.car} chart={state.chart} setState={setState}
                onPick={pick} sx={{ gridArea: "chart", alignSelf: "start" }} />}
              {/* after the car in the DOM too, as on a phone's screen: the browser's scroll anchoring keeps the first
                  element in sight where it is; were this panel first, a growing car view above it scrolled the page */}
              {later && <QualityPanel quality={quality} raceId={raceId} trackId={r.track_id} />}
            </Box>
          </>
        )}
      </Async>
    </>
  );
}
