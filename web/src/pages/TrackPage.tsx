import { Suspense, lazy } from "react";
import { Link as RouterLink, useParams } from "react-router-dom";
import { Breadcrumbs, Link, List, ListItem, ListItemButton, ListItemText, Stack, Typography } from "@mui/material";
import { api } from "../api/client";
import { Async, useApi } from "../components/Async";
import { useTitle } from "../title";
import { MiniMap } from "./Season";

const ReportsList = lazy(() => import("./Reports"));

export default function TrackPage() {
  const { trackId = "" } = useParams();
  const tr = useApi(() => api.tracks(), []);
  const races = useApi(() => api.races(), []);
  const t = tr.data?.items.find((x) => x.track_id === trackId);
  useTitle(tr.data ? (t ? t.name : `not found: track ${trackId}`) : trackId);
  return (
    <>
      <Breadcrumbs aria-label="breadcrumb"><Link component={RouterLink} to="/">Season</Link><Typography>{t?.name ?? trackId}</Typography></Breadcrumbs>
      <Async r={tr} what={`track ${trackId}`}>
        {() => {
          if (!t) return <Typography data-testid="not-found" role="alert">Not found: track {trackId}.</Typography>;
          return (
            <Stack direction={{ xs: "column", sm: "row" }} gap={3} sx={{ mt: 1 }}>
              <div style={{ maxWidth: "100%" }}>
                <Typography variant="h4" component="h1">{t.name}</Typography>
                <MiniMap t={t} size={320} />
                <Typography variant="body2">Lap {t.length_m?.toFixed(1)} m; sectors {t.sector_lengths_m?.map((x) => x.toFixed(0)).join(" / ")} m (official map)</Typography>
              </div>
              <div style={{ minWidth: 0 }}>
                <Typography variant="h6" component="h2">Races</Typography>
                <Async r={races} what="races">
                  {(rl) => {
                    const mine = rl.items.filter((x) => x.track_id === trackId);
                    if (!mine.length) return <Typography>No races at this track in the published run.</Typography>;
                    return <List aria-label="races" data-testid="track-races">{mine.map((x) => (
                      <ListItem key={x.race_id} disablePadding>
                        <ListItemButton component={RouterLink} to={`/race/${encodeURIComponent(x.race_id)}`}>
                          <ListItemText primary={`Race ${x.race_number} — ${x.date ?? "date unknown"}`}
                            secondary={`${x.n_cars} cars, ${x.n_laps} laps (${x.n_clean} clean), status ${x.status}`} />
                        </ListItemButton>
                      </ListItem>))}</List>;
                  }}
                </Async>
                <Typography variant="h6" component="h2" sx={{ mt: 2 }}>Reports</Typography>
                <Suspense fallback={null}><ReportsList trackId={trackId} /></Suspense>
              </div>
            </Stack>
          );
        }}
      </Async>
    </>
  );
}
