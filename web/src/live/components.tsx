// The live view's parts, each named for what it shows.
import { Alert, Box, Button, Chip, FormControl, InputLabel, Link, MenuItem, Paper, Select, Stack, Table, TableBody,
  TableCell, TableHead, TableRow, Typography } from "@mui/material";
import { fmtEst, fmtTime } from "../format";
import { fmtGap, towerRows, type Crossing, type LiveCar, type LiveState } from "./feed";
import type { FeedStatus } from "./useLiveFeed";

export const SECTOR_COLOURS: Record<string, { bg: string; fg: string; label: string }> = {
  overall_best: { bg: "#6a1b9a", fg: "#fff", label: "overall best" },
  personal_best: { bg: "#1b5e20", fg: "#fff", label: "personal best" },
  none: { bg: "transparent", fg: "inherit", label: "" },
};
const SECTORS = ["s1", "s2", "s3"] as const;

/** "REPLAY": every feed is a race replayed from its timing data, never a race happening now. */
export function ReplayBadge({ status }: { status: FeedStatus }) {
  const words: Record<FeedStatus, string> = { connecting: "connecting…", open: "streaming", reconnecting: "reconnecting…",
    ended: "ended", "not-live": "no live feed", error: "connection lost" };
  return (
    <Stack direction="row" spacing={1} alignItems="center">
      <Chip label="REPLAY" sx={{ fontWeight: 700, letterSpacing: 1, bgcolor: "#bf360c", color: "#fff" }} data-testid="replay-badge"
        title="a recorded race replayed at speed, not a race happening now" />
      <Typography variant="body2" role="status" data-testid="live-status" data-status={status}>{words[status]}</Typography>
    </Stack>
  );
}

/** The leader's lap. */
export function LapCounter({ state }: { state?: LiveState }) {
  return (
    <Typography variant="h5" component="p" data-testid="lap-counter" aria-label="leader lap">
      Lap {state?.leader_lap ?? 0}
      {state?.t_s != null && <Typography component="span" variant="body2" sx={{ ml: 2 }}>race time {fmtTime(state.t_s)}</Typography>}
    </Typography>
  );
}

/** Pause (the events wait in the buffer) and the display delay (every element shows the same moment). */
export function FeedControls({ paused, onPause, delayS, onDelay, buffered }:
  { paused: boolean; onPause: (p: boolean) => void; delayS: number; onDelay: (s: number) => void; buffered: number }) {
  return (
    <Stack direction="row" spacing={2} alignItems="center" flexWrap="wrap" useFlexGap>
      <Button variant={paused ? "contained" : "outlined"} onClick={() => onPause(!paused)} data-testid="pause"
        aria-pressed={paused}>{paused ? "Resume" : "Pause"}</Button>
      <FormControl size="small" sx={{ minWidth: 150 }}>
        <InputLabel id="delay-label">Display delay</InputLabel>
        <Select labelId="delay-label" label="Display delay" value={delayS} onChange={(e) => onDelay(Number(e.target.value))}
          data-testid="delay">
          {[0, 2, 5, 10, 30].map((s) => <MenuItem key={s} value={s}>{s ? `${s} s` : "none"}</MenuItem>)}
        </Select>
      </FormControl>
      <Typography variant="body2" data-testid="buffered">{buffered} event{buffered === 1 ? "" : "s"} held</Typography>
    </Stack>
  );
}

function SectorCell({ car, s }: { car: LiveCar; s: string }) {
  const sec = car.sections?.[s];
  const c = SECTOR_COLOURS[sec?.colour ?? "none"] ?? SECTOR_COLOURS.none;
  return (
    <TableCell align="right" data-sector={s} data-colour={sec?.colour ?? "none"}
      sx={{ bgcolor: c.bg, color: c.fg, fontVariantNumeric: "tabular-nums" }}
      title={c.label ? `${s.toUpperCase()} ${c.label}` : undefined}>
      {sec ? fmtTime(sec.last_s) : "–"}{c.label && <Box component="span" sx={visuallyHidden}> ({c.label})</Box>}
    </TableCell>
  );
}

const visuallyHidden = { position: "absolute", width: 1, height: 1, overflow: "hidden", clip: "rect(0 0 0 0)" } as const;

/** The timing tower: position, car, gap to the leader, interval, last and best lap, the sectors coloured. */
export function TimingTower({ state, selected, onPick }: { state?: LiveState; selected?: string; onPick: (car: string) => void }) {
  const rows = towerRows(state);
  const fieldBest = state?.field?.best_lap?.car;
  const drivers = rows.some((c) => c.driver_name);           // the column only when the feed names drivers
  return (
    <Table size="small" data-testid="timing-tower" aria-label="timing tower">
      <TableHead>
        <TableRow>
          <TableCell>Pos</TableCell><TableCell>Car</TableCell>{drivers && <TableCell>Driver</TableCell>}<TableCell align="right">Laps</TableCell>
          <TableCell align="right">Gap</TableCell><TableCell align="right">Int</TableCell>
          <TableCell align="right">Last lap</TableCell><TableCell align="right">Best lap</TableCell>
          {SECTORS.map((s) => <TableCell key={s} align="right">{s.toUpperCase()}</TableCell>)}
        </TableRow>
      </TableHead>
      <TableBody>
        {rows.map((c, i) => (
          <TableRow key={c.car} data-car={c.car} data-position={c.position} selected={c.car === selected} hover>
            <TableCell>{c.position}</TableCell>
            <TableCell><Link component="button" onClick={() => onPick(c.car)} aria-label={`car ${c.car}`}>#{c.number ?? c.car}</Link>
              {c.pit_in && <Chip size="small" label="PIT" sx={{ ml: 0.5 }} />}</TableCell>
            {drivers && <TableCell sx={{ maxWidth: 160, overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>{c.driver_name ?? ""}</TableCell>}
            <TableCell align="right">{c.laps}</TableCell>
            <TableCell align="right" data-col="gap">{fmtGap(c.gap_to_leader_s, c.laps_behind_leader, i === 0)}</TableCell>
            <TableCell align="right" data-col="interval">{i === 0 ? "" : fmtGap(c.interval_s, c.laps_behind_ahead, false)}</TableCell>
            <TableCell align="right" data-col="last">{fmtTime(c.last_lap_s)}</TableCell>
            <TableCell align="right" data-col="best"
              sx={c.car === fieldBest ? { bgcolor: SECTOR_COLOURS.overall_best.bg, color: "#fff" } : undefined}>
              {fmtTime(c.best_lap_s)}</TableCell>
            {SECTORS.map((s) => <SectorCell key={s} car={c} s={s} />)}
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

/** The latest crossing, in words. */
export function LastCrossing({ c }: { c?: Crossing }) {
  if (!c) return null;
  return <Typography variant="caption" data-testid="last-crossing">Last crossing: car {c.car}, lap {c.lap}, {c.point.toUpperCase()}</Typography>;
}

/** A note's text as a sentence: one full stop at the end. */
export function sentence(text: string): string {
  return /[.!?]$/.test(text.trim()) ? text.trim() : `${text.trim()}.`;
}

/** One car's section losses and trend as the engines gave them on the laps so far (the coaching view). */
export function CarLiveDetail({ car, state }: { car: LiveCar; state?: LiveState }) {
  const sl = car.section_losses;
  const tr = car.trend;
  const at = state?.field?.analysis?.leader_lap;
  return (
    <Paper variant="outlined" sx={{ p: 1 }} data-testid="car-live-detail">
      <Typography variant="h6" component="h2">Car #{car.number ?? car.car}{car.driver_name ? ` — ${car.driver_name}` : ""}</Typography>
      <Typography variant="body2">P{car.position} · {car.laps} laps · best {fmtTime(car.best_lap_s)}{car.best_lap ? ` (lap ${car.best_lap})` : ""}</Typography>
      {!sl && !tr && <Alert severity="info" sx={{ mt: 1 }}>No analysis yet: the engines run after each leader lap.</Alert>}
      {car.note && (
        <Box sx={{ mt: 1 }} data-testid="live-note">
          <Typography variant="subtitle2">Coaching note{at ? ` (laps up to leader lap ${at})` : ""}</Typography>
          <Typography variant="body2" data-testid="live-note-text">{sentence(car.note.text)}</Typography>
          {car.note.action && <Typography variant="body2" sx={{ mt: 0.5 }} data-testid="live-note-action">{car.note.action}</Typography>}
          <Typography variant="caption" component="p">From {car.note.n_clean} clean lap{car.note.n_clean === 1 ? "" : "s"} of
            {" "}{car.note.n_laps} completed; a section is named only where its loss is clear of the lap-to-lap noise.</Typography>
        </Box>
      )}
      {sl && (
        <>
          <Typography variant="subtitle2" sx={{ mt: 1 }}>Section losses{at ? ` (laps up to leader lap ${at})` : ""}</Typography>
          {sl.available && sl.sections ? (
            <Table size="small" data-testid="live-section-losses">
              <TableHead><TableRow><TableCell>Section</TableCell><TableCell>Loss to the composite per lap</TableCell></TableRow></TableHead>
              <TableBody>{sl.sections.map((s) => (
                <TableRow key={s.section}><TableCell>{s.section.toUpperCase()}{s.significant ? " *" : ""}</TableCell>
                  <TableCell>{fmtEst(s.section_loss)}</TableCell></TableRow>))}</TableBody>
            </Table>
          ) : <Typography variant="body2">{sl.reason ?? "not available yet"}</Typography>}
        </>
      )}
      {tr && (
        <Typography variant="body2" sx={{ mt: 1 }} data-testid="live-trend">
          Trend: {tr.label ?? "–"}{tr.available && tr.slope_s_per_lap ? `, ${fmtEst(tr.slope_s_per_lap, "s/lap")}` : ""}
        </Typography>
      )}
    </Paper>
  );
}
