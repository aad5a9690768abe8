import { Suspense, lazy, memo, useCallback, useMemo, useRef, useState } from "react";
import { Link as RouterLink, useLocation, useNavigate, useParams } from "react-router-dom";
import { Alert, Box, Breadcrumbs, Button, Chip, Link, Paper, Stack, Table, TableBody, TableCell, TableHead, TableRow,
  ToggleButton, ToggleButtonGroup, Typography } from "@mui/material";
import { api, type Car, type Composite, type Quality, type Race } from "../api/client";
import { Async, useApi } from "../components/Async";
import { fmtDelta, fmtTime } from "../format";
import { MODES, parseState, stateToSearch, type Mode, type ViewState } from "../urlState";
import { CarView } from "./CarView";
import { COMPOSITE_DEF } from "../measure";
import { flagLabel } from "../labels";
import { useTitle } from "../title";
import { dnfLaps, results } from "../results";

const ReportsList = lazy(() => import("./Reports"));

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

function LeaderboardTable({ race, comp, quality, selected, onPick }:
  { race: Race; comp?: Composite; quality?: Quality; selected?: string; onPick: (c: string) => void }) {
  const total = fieldTotal(comp);
  const res = useMemo(() => results(race.cars ?? [], quality), [race.cars, quality]);
  const rows = [...(race.cars ?? [])].sort((a, b) => {
    const pa = res.get(a.car)?.position ?? 999, pb = res.get(b.car)?.position ?? 999;
    return pa - pb || (res.get(b.car)?.laps ?? 0) - (res.get(a.car)?.laps ?? 0) || (a.best_lap_s ?? 1e9) - (b.best_lap_s ?? 1e9);
  });
  const narrow = { display: { xs: "none", sm: "table-cell" } };
  return (
    <Box sx={{ overflowX: "auto" }}>
    <Table size="small" aria-label="leaderboard" data-testid="leaderboard" sx={{ "& td, & th": { px: { xs: 0.75, sm: 1 } } }}>
      <TableHead><TableRow>
        <TableCell>Pos</TableCell><TableCell>Car</TableCell><TableCell sx={narrow}>Class</TableCell>
        <TableCell align="right">Laps</TableCell><TableCell>Gap · status</TableCell>
        <TableCell align="right">Best lap</TableCell><TableCell align="right" sx={narrow}>Clean laps (n)</TableCell>
        <TableCell align="right" sx={narrow}>Best clean − composite</TableCell>
      </TableRow></TableHead>
      <TableBody>
        {rows.map((c: Car) => {
          const r = res.get(c.car);
          return (
            <TableRow key={c.car} hover selected={c.car === selected} onClick={() => onPick(c.car)}
              onPointerEnter={() => { api.car(race.race_id, c.car).catch(() => undefined); }}
              sx={{ cursor: "pointer" }} data-testid={`car-row-${c.car}`}>
              <TableCell>{r?.position ?? "–"}</TableCell>
              <TableCell sx={{ whiteSpace: "nowrap" }}><Link component="button" onClick={() => onPick(c.car)} aria-label={`car ${c.car}`}>#{c.car}</Link>
                {c.car === selected && <>{" "}<Link component={RouterLink} to={`/car/${encodeURIComponent(c.car)}`} onClick={(e: React.MouseEvent) => e.stopPropagation()}
                  variant="body2" data-testid="season-link" aria-label={`car ${c.car}'s season`}>season</Link></>}</TableCell>
              <TableCell sx={narrow}>{c.class ?? "–"}</TableCell>
              <TableCell align="right">{r?.laps ?? c.laps}</TableCell>
              <TableCell data-testid={`status-${c.car}`} sx={{ color: r?.dnf ? "error.main" : undefined, whiteSpace: "nowrap" }}>{r?.status ?? "–"}</TableCell>
              <TableCell align="right">{fmtTime(c.best_lap_s)}</TableCell>
              <TableCell align="right" sx={narrow}>{c.clean_laps} of {c.laps}</TableCell>
              <TableCell align="right" sx={narrow}>{total && c.best_clean_lap_s ? fmtDelta(c.best_clean_lap_s - total) : "–"}</TableCell>
            </TableRow>
          );
        })}
      </TableBody>
    </Table>
    </Box>
  );
}

/** What the race page opens on before a car is picked: the result and where to start. */
export function RaceSummary({ race, comp, quality, onPick }:
  { race: Race; comp?: Composite; quality?: Quality; onPick: (c: string) => void }) {
  const cars = race.cars ?? [];
  const res = results(cars, quality);
  const byPos = [...res.values()].filter((r) => r.position !== undefined).sort((a, b) => a.position! - b.position!);
  const winner = [...res.values()].find((r) => r.status === "winner");
  const fastest = [...cars].filter((c) => c.best_lap_s).sort((a, b) => a.best_lap_s! - b.best_lap_s!)[0];
  const dnf = [...res.values()].filter((r) => r.dnf);
  const lapped = [...res.values()].filter((r) => !r.dnf && r.lapsDown > 0);
  const total = fieldTotal(comp);
  return (
    <Paper variant="outlined" sx={{ p: 2 }} data-testid="race-summary">
      <Typography variant="h6" component="h2">Race summary</Typography>
      {winner ? <Typography data-testid="summary-winner">Winner: car #{winner.car}, {winner.laps} laps.
        {byPos.length > 2 ? ` Podium: ${byPos.slice(0, 3).map((r) => `#${r.car}`).join(", ")}.` : ""}</Typography> : <Typography>No official result in the published documents.</Typography>}
      {fastest && <Typography>Fastest lap: car #{fastest.car}, {fmtTime(fastest.best_lap_s)} (lap {fastest.best_lap_number ?? "–"}).</Typography>}
      {total ? <Typography>Composite lap: {fmtTime(total)} ({COMPOSITE_DEF.replace(/^composite: /, "")}); fastest lap − composite {fastest?.best_lap_s ? fmtDelta(fastest.best_lap_s - total) : "–"} s.</Typography> : null}
      <Typography>{res.size - dnf.length - lapped.length} car{res.size - dnf.length - lapped.length === 1 ? "" : "s"} on the lead lap{lapped.length ? `, ${lapped.length} lapped` : ""}{dnf.length ? `, ${dnf.length} did not finish (${dnf.map((r) => `#${r.car}`).join(", ")})` : ""}.</Typography>
      <Typography variant="body2" sx={{ mt: 1 }}>Pick a car in the leaderboard to see where its lap time goes: the map is coloured by the seconds it loses per lap to the composite in each section.</Typography>
      {winner && <Button variant="contained" size="small" sx={{ mt: 1 }} onClick={() => onPick(winner.car)} data-testid="open-winner">Open the winner, car #{winner.car}</Button>}
      <Typography variant="caption" component="p" sx={{ mt: 1 }}>Gap to the winner in laps from the official results; a car {"≥"} {dnfLaps(winner?.laps ?? 0)} laps down, or without a classified position, stopped early (DNF). The published documents carry no race time per car, so no time gap; a position-by-lap chart would need every car's laps (one request per car) and is not drawn.</Typography>
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

export default function RacePage() {
  const { raceId = "" } = useParams();
  const [state, setState] = useViewState();
  const race = useApi(() => api.race(raceId), [raceId]);
  const comp = useApi(() => api.composite(raceId), [raceId]);
  const quality = useApi(() => api.quality(raceId), [raceId]);
  const tracks = useApi(() => api.tracks(), []);
  const track = tracks.data?.items.find((t) => t.track_id === race.data?.track_id);
  useTitle(race.error ? `not found: race ${raceId}` : race.data ? `${track?.name ?? race.data.track_id} race ${race.data.race_number}` : raceId,
    state.car && `car ${state.car}`, state.car && state.mode);
  const pick = useCallback((c: string) => {
    setState({ car: c, section: undefined, lap: undefined, ref: undefined });
    // stacked layout (below lg): the car's view is under the leaderboard; bring it into view
    if (window.innerWidth < 1200) requestAnimationFrame(() => document.querySelector("[data-testid=race-main]")?.scrollIntoView());
  }, [setState]);
  return (
    <>
      <Breadcrumbs aria-label="breadcrumb">
        <Link component={RouterLink} to="/">Season</Link>
        {race.data && <Link component={RouterLink} to={`/track/${race.data.track_id}`}>{track?.name ?? race.data.track_id}</Link>}
        <Typography>{raceId}</Typography>
        {state.car && <Typography>car {state.car}</Typography>}
      </Breadcrumbs>
      <Async r={race} what={`race ${raceId}`}>
        {(r) => (
          <>
            <Typography variant="h4" component="h1" sx={{ mt: 1 }}>{track?.name ?? r.track_id} — race {r.race_number}</Typography>
            <Typography variant="body2" gutterBottom>{r.date ?? "date unknown"} · {r.n_cars} cars · {r.n_laps} laps ({r.n_clean} clean)
              {" · "}<Link component={RouterLink} to={`/race/${encodeURIComponent(raceId)}/live`} data-testid="watch-live">Watch live / replay</Link></Typography>
            {/* phone: the car picker first, then the car (or the summary), then quality and reports;
                wide: the leaderboard and quality on the left, the car on the right */}
            <Box sx={{ display: "grid", gap: 2, alignItems: "start",
              gridTemplateColumns: { xs: "minmax(0, 1fr)", lg: "560px minmax(0, 1fr)" },
              gridTemplateAreas: { xs: '"board" "main" "quality"', lg: '"board main" "quality main"' } }}>
              <Paper variant="outlined" sx={{ p: 1, gridArea: "board", minWidth: 0 }} data-testid="board">
                <Typography variant="h6" component="h2">Leaderboard</Typography>
                <Typography variant="caption" component="p">Pos: finishing position in the official results; {COMPOSITE_DEF}{fieldTotal(comp.data) ? ` (${fmtTime(fieldTotal(comp.data))}, n=${comp.data?.n_clean} clean laps)` : ""}.</Typography>
                <Leaderboard race={r} comp={comp.data} quality={quality.data} selected={state.car}
                  onPick={pick} />
              </Paper>
              <Paper variant="outlined" sx={{ p: 1, gridArea: "quality", minWidth: 0, alignSelf: "start" }}>
                <Typography variant="h6" component="h2">Data quality</Typography>
                <Async r={quality} what="data quality">{(q) => <QualitySummary q={q} />}</Async>
                <Typography variant="h6" component="h2" sx={{ mt: 2 }}>Reports</Typography>
                <Suspense fallback={null}><ReportsList raceId={raceId} trackId={r.track_id} /></Suspense>
              </Paper>
              <Box sx={{ gridArea: "main", minWidth: 0 }} data-testid="race-main">
                {state.car ? (
                  <>
                    <ToggleButtonGroup exclusive size="small" value={state.mode} aria-label="analysis mode"
                      onChange={(_, m: Mode | null) => m && setState({ mode: m })} sx={{ mb: 1, flexWrap: "wrap" }}>
                      {MODES.map((m) => <ToggleButton key={m} value={m} data-testid={`mode-${m}`}
                        sx={{ color: "#222", "&.Mui-selected, &.Mui-selected:hover": { color: "#fff", bgcolor: "primary.main" } }}>{m}</ToggleButton>)}
                    </ToggleButtonGroup>
                    {track ? <CarView race={r} track={track} comp={comp.data} quality={quality.data} state={state} setState={setState} />
                      : <Async r={tracks} what="track map">{() => <Alert severity="info">No map for this track.</Alert>}</Async>}
                  </>
                ) : <RaceSummary race={r} comp={comp.data} quality={quality.data} onPick={pick} />}
              </Box>
            </Box>
          </>
        )}
      </Async>
    </>
  );
}
