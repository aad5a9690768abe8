import { Alert, Box, Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import { api } from "../api/client";
import { Async, useApi } from "../components/Async";
import { fmtEst, fmtNum } from "../format";
import { ConditionsChart } from "./ConditionsChart";
import { PaceTempChart } from "./PaceTempChart";

export default function Weather({ raceId }: { raceId: string }) {
  const r = useApi(() => api.weather(raceId), [raceId]);
  return (
    <Async r={r} what={`weather of ${raceId}`}>
      {(w) => {
        if (!w.usable) return <Alert severity="info" data-testid="weather">Weather not usable: {String(w.reason ?? w.message)}</Alert>;
        const cond = w.conditions ?? {};
        const p = w.pace_vs_track_temp;
        const tm = w.track_model;
        return (
          <div data-testid="weather">
            <Typography variant="h6" component="h3">Conditions over the race</Typography>
            {w.series ? <ConditionsChart series={w.series} /> : <Alert severity="info">No weather series in this run (rerun the pipeline).</Alert>}
            <Box sx={{ overflowX: "auto" }}><Table size="small" aria-label="conditions summary">
              <TableHead><TableRow><TableCell>Reading</TableCell><TableCell align="right">start</TableCell><TableCell align="right">end</TableCell>
                <TableCell align="right">min–max</TableCell><TableCell align="right">drift / h</TableCell><TableCell align="right">n</TableCell></TableRow></TableHead>
              <TableBody>{Object.entries(cond).map(([k, c]) => (
                <TableRow key={k}><TableCell>{c.label ?? k}</TableCell>
                  {c.available ? <>
                    <TableCell align="right">{fmtNum(c.first)}</TableCell><TableCell align="right">{fmtNum(c.last)}</TableCell>
                    <TableCell align="right">{fmtNum(c.min)}–{fmtNum(c.max)}</TableCell><TableCell align="right">{fmtNum(c.drift_per_hour, 2)}</TableCell>
                  </> : <TableCell colSpan={4}>no readings</TableCell>}
                  <TableCell align="right">{c.n ?? 0}</TableCell></TableRow>))}</TableBody>
            </Table></Box>
            <Typography variant="h6" component="h3" sx={{ mt: 2 }}>Pace vs track temperature</Typography>
            {p?.available && p.slope_s_per_c ? <>
              <Typography data-testid="pace-temp">Each °C of track temperature changes lap time by {fmtEst(p.slope_s_per_c, "s")}, each car against its own level and lap trend.{p.note ? ` Note: ${p.note}.` : ""}</Typography>
              {p.qualification && <Typography variant="body2" color="text.secondary" data-testid="pace-temp-placebo">{p.qualification}</Typography>}
              {p.evidence && <PaceTempChart evidence={p.evidence} slope={p.slope_s_per_c} />}
            </> : <Alert severity="info" data-testid="pace-temp">Not identifiable at this race: {String(p?.reason ?? "no reason given")}.{p?.placebo_false_positive_rate != null ? ` Placebo check: ${p.placebo_significant} of ${p.placebo_identifiable} smooth curves unrelated to the temperature came out significant (${Math.round(p.placebo_false_positive_rate * 100)}%; at most ${Math.round((p.placebo_max_rate ?? 0.08) * 100)}% allowed).` : ""}</Alert>}
            {tm && <>
              <Typography variant="subtitle1" component="h4" sx={{ mt: 1 }}>Track model (OLS within each race, over: {(tm.races ?? []).join(", ")})</Typography>
              {tm.identifiable && tm.track_temp_s_per_c ? <Typography>{fmtEst(tm.track_temp_s_per_c, "s per °C")}{tm.note ? ` — ${tm.note}` : ""}{tm.qualification ? ` (${tm.qualification})` : ""}</Typography>
                : <Typography>Not identifiable: {tm.reason ?? "no reason given"}</Typography>}
            </>}
          </div>
        );
      }}
    </Async>
  );
}
