import { preloaded } from "./preload";          // first: a deep link's requests start before the rest evaluates
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { ThemeProvider, createTheme } from "@mui/material";
import { App, DriverSeason, RacePage, Season, TrackPage } from "./App";
import "./shell.css";

const theme = createTheme({ palette: { primary: { main: "#b00020" }, secondary: { main: "#1d3557" } } });

function render() {
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <ThemeProvider theme={theme}>
        <BrowserRouter><App /></BrowserRouter>
      </ThemeProvider>
    </StrictMode>,
  );
}

// A deep link renders once its page's code is here: no spinner first, whose Suspense boundary would then hold
// the page back (React reveals a boundary at the earliest 300 ms after its fallback showed). At most 2 s.
const path = location.pathname;
const page = /^\/race\/[^/]+\/?$/.test(path) ? RacePage : /^\/car\/[^/]+\/?$/.test(path) ? DriverSeason
  : /^\/track\/[^/]+\/?$/.test(path) ? TrackPage : path === "/" ? Season : undefined;
if (page) {
  Promise.race([Promise.all([preloaded, page.preload()]), new Promise((r) => setTimeout(r, 2000))])
    .catch(() => undefined).then(render);
} else {
  render();
}
