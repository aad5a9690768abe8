// /race/:raceId/live?car=&delay= (not /live/:raceId: that path is the API's, GET /live/{race_id}) — a race replayed live: the timing tower, the leader's lap, a car's section losses
// and trend from the engines on the laps so far. View state (the car, the display delay) in the URL.
import { useCallback, useState } from "react";
import { Link as RouterLink, useParams, useSearchParams } from "react-router-dom";
import { Alert, Box, Breadcrumbs, Link, Paper, Stack, Typography } from "@mui/material";
import { useTitle } from "../title";
import { useLiveFeed } from "../live/useLiveFeed";
import { CarLiveDetail, FeedControls, LapCounter, LastCrossing, ReplayBadge, TimingTower } from "../live/components";
import { LiveFlag, LiveMap } from "../live/LiveMap";

export function parseDelay(v: string | null): number {
  const n = Number(v);
  return v !== null && Number.isFinite(n) && n >= 0 && n <= 600 ? n : 0;
}

export default function LivePage() {
  const { raceId = "" } = useParams();
  const [q, setQ] = useSearchParams();
  const car = q.get("car") || undefined;
  const delayS = parseDelay(q.get("delay"));
  const [paused, setPaused] = useState(false);
  const { model, status, buffered } = useLiveFeed(raceId, paused, delayS * 1000);
  const set = useCallback((k: string, v: string | undefined) => setQ((old) => {
    const n = new URLSearchParams(old);
    if (v) n.set(k, v); else n.delete(k);
    return n;
  }, { replace: k === "delay" }), [setQ]);
  useTitle(`live replay ${raceId}`, car && `car ${car}`);
  const state = model.state;
  const selected = car && state?.cars[car];
  return (
    <>
      <Breadcrumbs aria-label="breadcrumb">
        <Link component={RouterLink} to="/">Season</Link>
        <Link component={RouterLink} to={`/race/${encodeURIComponent(raceId)}`}>{raceId}</Link>
        <Typography>live replay</Typography>
      </Breadcrumbs>
      <Stack direction="row" spacing={3} alignItems="center" flexWrap="wrap" useFlexGap sx={{ my: 1 }}>
        <Typography variant="h4" component="h1">{raceId} — live</Typography>
        <ReplayBadge status={status} />
        <LapCounter state={state} />
        <LiveFlag state={state} />
      </Stack>
      {status === "not-live" && <Alert severity="warning" data-testid="not-found">No live feed for race {raceId}: replay one with
        {" "}<code>run_pipeline.py live --race {raceId}</code>.</Alert>}
      {status === "error" && <Alert severity="error" data-testid="error">The live stream failed.</Alert>}
      <FeedControls paused={paused} onPause={setPaused} delayS={delayS} onDelay={(s) => set("delay", s ? String(s) : undefined)}
        buffered={buffered} />
      {model.ended && <Alert severity="info" sx={{ my: 1 }} data-testid="feed-ended">Replay ended: {model.endReason}
        {" "}(final order below).</Alert>}
      <Box sx={{ display: "grid", gap: 2, mt: 1, alignItems: "start",
        gridTemplateColumns: { xs: "minmax(0, 1fr)", lg: "minmax(0, 1fr) 420px" } }}>
        <Paper variant="outlined" sx={{ p: 1, overflowX: "auto", position: "relative" }}>
          <Typography variant="h6" component="h2">Timing tower</Typography>
          <Typography variant="caption" component="p">Gap: to the leader at the car's last timing point; Int: to the car ahead.
            Sectors: <Box component="span" sx={{ bgcolor: "#6a1b9a", color: "#fff", px: 0.5 }}>overall best</Box>{" "}
            <Box component="span" sx={{ bgcolor: "#1b5e20", color: "#fff", px: 0.5 }}>personal best</Box>. Click a car for its analysis.</Typography>
          <TimingTower state={state} selected={car} onPick={(c) => set("car", c === car ? undefined : c)} />
          <LastCrossing c={model.lastCrossing} />
        </Paper>
        <Stack spacing={2} sx={{ minWidth: 0 }}>
          {selected ? <CarLiveDetail car={selected} state={state} />
            : <Typography variant="body2" sx={{ p: 1 }}>Pick a car in the tower or on the map for its coaching note, section losses and trend.</Typography>}
          <Paper variant="outlined" sx={{ p: 1 }}>
            <Typography variant="h6" component="h2">Track map</Typography>
            <LiveMap state={state} selected={car} onPick={(c) => set("car", c === car ? undefined : c)} />
          </Paper>
        </Stack>
      </Box>
    </>
  );
}
