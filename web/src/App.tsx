import { Suspense } from "react";
import { Link as RouterLink, Route, Routes } from "react-router-dom";
import { AppBar, Box, Button, CircularProgress, Container, Link, Toolbar, Typography } from "@mui/material";
import { resetLayout } from "./components/layout";
import { useTitle } from "./title";
import { lazyPage } from "./lazyPage";

function NotFound() {
  useTitle("not found");
  return <Typography data-testid="not-found">Not found: no page at this address. <Link component={RouterLink} to="/">Season</Link></Typography>;
}

export const Season = lazyPage<object>(() => import("./pages/Season").then((m) => ({ default: m.Season })));
export const TrackPage = lazyPage(() => import("./pages/TrackPage"));
export const RacePage = lazyPage(() => import("./pages/RacePage"));
export const LivePage = lazyPage(() => import("./pages/LivePage"));
export const DebriefPage = lazyPage(() => import("./pages/Debrief"));
export const DriverSeason = lazyPage(() => import("./pages/DriverSeason"));

export function App() {
  return (
    <>
      <Link href="#main" className="skip-link" data-testid="skip-link"
        sx={{ position: "absolute", left: 8, top: -48, zIndex: 2000, bgcolor: "#fff", color: "#000", p: 1, border: "2px solid #1d3557",
          "&:focus": { top: 8 } }}
        onClick={(e: React.MouseEvent) => { e.preventDefault(); const m = document.getElementById("main"); m?.focus(); m?.scrollIntoView(); }}>
        Skip to content</Link>
      <AppBar position="static" color="secondary">
        <Toolbar variant="dense" sx={{ gap: { xs: 1, sm: 2 } }}>
          <Link component={RouterLink} to="/" color="inherit" underline="none"><Typography variant="h6" component="span">KaizenLap</Typography></Link>
          <Typography variant="body2" sx={{ flexGrow: 1, visibility: { xs: "hidden", sm: "visible" }, width: { xs: 0, sm: "auto" }, overflow: "hidden", whiteSpace: "nowrap" }}>GR Cup driver coaching</Typography>
          <Button color="inherit" size="small" onClick={resetLayout} data-testid="reset-layout">Reset layout</Button>
          <Link href="/docs" color="inherit" variant="body2">API docs</Link>
        </Toolbar>
      </AppBar>
      <Container maxWidth="xl" component="main" id="main" tabIndex={-1} sx={{ py: 2, outline: "none" }}>
        <Suspense fallback={<Box role="status" sx={{ p: 2 }}><CircularProgress size={20} aria-label="loading" /></Box>}>
          <Routes>
            <Route path="/" element={<Season />} />
            <Route path="/track/:trackId" element={<TrackPage />} />
            <Route path="/race/:raceId" element={<RacePage />} />
            <Route path="/race/:raceId/live" element={<LivePage />} />
            <Route path="/race/:raceId/print" element={<DebriefPage />} />
            <Route path="/car/:car" element={<DriverSeason />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </Container>
    </>
  );
}
