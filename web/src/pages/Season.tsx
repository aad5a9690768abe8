import { Link as RouterLink } from "react-router-dom";
import { Card, CardActionArea, CardContent, Chip, Stack, Typography } from "@mui/material";
import { api, type Track } from "../api/client";
import { Async, useApi } from "../components/Async";
import { pathD } from "../geometry";
import { useTitle } from "../title";

export function MiniMap({ t, size = 140 }: { t: Track; size?: number }) {
  if (!t.outline?.length) return <Typography variant="caption">no map</Typography>;
  const h = Math.max(...t.outline.map((p) => p.y));
  return <svg viewBox={`0 0 ${size} ${h * (size - 12) + 12}`} width={size} aria-hidden="true" style={{ maxWidth: "100%", height: "auto" }}>
    <path d={pathD([...t.outline, t.outline[0]], size - 12, 6)} fill="none" stroke="#1d3557" strokeWidth={3} />
  </svg>;
}

export function Season() {
  const r = useApi(() => api.tracks(), []);
  useTitle("Season");
  return (
    <>
      <Typography variant="h4" component="h1" gutterBottom>Season</Typography>
      <Async r={r} what="tracks" empty={(d) => (d.items.length ? null : "No tracks published yet.")}>
        {(d) => (
          <Stack direction="row" flexWrap="wrap" gap={2} data-testid="tracks">
            {d.items.map((t) => (
              <Card key={t.track_id} sx={{ width: 250 }} variant="outlined">
                <CardActionArea component={RouterLink} to={`/track/${encodeURIComponent(t.track_id)}`}>
                  <CardContent>
                    <Typography variant="h6" component="h2">{t.name}</Typography>
                    <MiniMap t={t} />
                    <Typography variant="body2">{t.length_m ? `${(t.length_m / 1000).toFixed(3)} km` : ""}</Typography>
                    <Chip size="small" label={`${t.races?.length ?? 0} races`} color={t.races?.length ? "primary" : "default"} />
                  </CardContent>
                </CardActionArea>
              </Card>
            ))}
          </Stack>
        )}
      </Async>
    </>
  );
}
