import { Link as RouterLink, useParams } from "react-router-dom";
import { Breadcrumbs, Link, List, ListItemButton, ListItemText, Stack, Typography } from "@mui/material";
import { api } from "../api/client";
import { Async, useApi } from "../components/Async";
import { MiniMap } from "./Season";

export default function TrackPage() {
  const { trackId = "" } = useParams();
  const tr = useApi(() => api.tracks(), []);
  const races = useApi(() => api.races(), []);
  return (
    <>
      <Breadcrumbs aria-label="breadcrumb"><Link component={RouterLink} to="/">Season</Link><Typography>{trackId}</Typography></Breadcrumbs>
      <Async r={tr} what={`track ${trackId}`}>
        {(d) => {
          const t = d.items.find((x) => x.track_id === trackId);
          if (!t) return <Typography data-testid="not-found" role="alert">Not found: track {trackId}.</Typography>;
          return (
            <Stack direction="row" gap={3} sx={{ mt: 1 }}>
              <div>
                <Typography variant="h4" component="h1">{t.name}</Typography>
                <MiniMap t={t} size={320} />
                <Typography variant="body2">Lap {t.length_m?.toFixed(1)} m; sectors {t.sector_lengths_m?.map((x) => x.toFixed(0)).join(" / ")} m (official map)</Typography>
              </div>
              <Async r={races} what="races">
                {(rl) => {
                  const mine = rl.items.filter((x) => x.track_id === trackId);
                  if (!mine.length) return <Typography>No races at this track in the published run.</Typography>;
                  return <List aria-label="races">{mine.map((x) => (
                    <ListItemButton key={x.race_id} component={RouterLink} to={`/race/${encodeURIComponent(x.race_id)}`}>
                      <ListItemText primary={`Race ${x.race_number} — ${x.date ?? "date unknown"}`}
                        secondary={`${x.n_cars} cars, ${x.n_laps} laps (${x.n_clean} clean), status ${x.status}`} />
                    </ListItemButton>))}</List>;
                }}
              </Async>
            </Stack>
          );
        }}
      </Async>
    </>
  );
}
