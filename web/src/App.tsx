import { Suspense } from "react";
import { Link as RouterLink, Route, Routes } from "react-router-dom";
import { Box, CircularProgress, Link, Typography } from "@mui/material";
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
      <a href="#main" className="skip-link kl-skip" data-testid="skip-link"
        onClick={(e: React.MouseEvent) => { e.preventDefault(); const m = document.getElementById("main"); m?.focus(); m?.scrollIntoView(); }}>
        Skip to content</a>
      {/* plain elements styled in shell.css (MUI's AppBar, Toolbar, Link, Button and Container as they drew them):
          the shell is on every page's first render */}
      <header className="kl-appbar">
        <div className="kl-toolbar">
          <RouterLink to="/" className="kl-brand"><span className="kl-h6">KaizenLap</span></RouterLink>
          <p className="kl-body2 kl-tagline">GR Cup driver coaching</p>
          <button type="button" className="kl-button" onClick={resetLayout} data-testid="reset-layout">Reset layout</button>
          <a href="/docs" className="kl-body2 kl-docs">API docs</a>
        </div>
      </header>
      <main className="kl-main" id="main" tabIndex={-1}>
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
      </main>
    </>
  );
}
