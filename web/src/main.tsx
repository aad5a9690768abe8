import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { CssBaseline, ThemeProvider, createTheme } from "@mui/material";
import { App } from "./App";
import { api } from "./api/client";

// Start a deep link's requests now, in parallel with loading the page's code (the cached client hands the
// same promises to the components): the race page's map does not wait for code, then data, then more data.
(function preload() {
  const m = /^\/race\/([^/]+)\/?$/.exec(location.pathname);
  if (!m) return;
  const race = decodeURIComponent(m[1]);
  const car = new URLSearchParams(location.search).get("car");
  void import("./pages/RacePage");
  for (const p of [api.race(race), api.composite(race), api.quality(race), api.tracks(),
    ...(car ? [api.car(race, car), api.laps(race, car)] : [])]) p.catch(() => undefined);
})();

const theme = createTheme({ palette: { primary: { main: "#b00020" }, secondary: { main: "#1d3557" } } });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ThemeProvider theme={theme}>
      <CssBaseline />
      <BrowserRouter><App /></BrowserRouter>
    </ThemeProvider>
  </StrictMode>,
);
