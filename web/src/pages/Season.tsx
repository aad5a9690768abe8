import { Link as RouterLink } from "react-router-dom";
import { Box, Card, CardActionArea, CardContent, Chip, Link, Stack, Typography } from "@mui/material";
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

/** Every car number of the season, linking to its season page. */
export function SeasonCars() {
  const r = useApi(() => api.cars(), []);
  return (
    <Async r={r} what="cars" empty={(d) => (d.items.length ? null : "No cars published yet.")}>
      {(d) => (
        <Box component="ul" data-testid="season-cars" sx={{ listStyle: "none", p: 0, m: 0, display: "flex", flexWrap: "wrap", gap: 1 }}>
          {d.items.map((c) => (
            <li key={c.car}>
              <Link component={RouterLink} to={`/car/${encodeURIComponent(c.car)}`} data-testid={`season-car-${c.car}`}
                sx={{ display: "inline-block", px: 1, py: 0.5, border: "1px solid", borderColor: "divider", borderRadius: 1 }}>
                #{c.car} · {c.races.length} race{c.races.length === 1 ? "" : "s"}</Link>
            </li>
          ))}
        </Box>
      )}
    </Async>
  );
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
      <Typography variant="h5" component="h2" sx={{ mt: 3, mb: 1 }}>Cars</Typography>
      <Typography variant="body2" sx={{ mb: 1 }}>A car's season: its finish, pace against the field and weakest section at every race it ran.</Typography>
      <SeasonCars />
    </>
  );
}
