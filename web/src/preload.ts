// A deep link's requests and code, started before the rest of the bundle evaluates (main.tsx imports this
// first): the race page's data and its page, mode and reports code, or a car's season and its page, in parallel.
// The cached client hands the same promises to the components.
import { api } from "./api/client";
import { parseState } from "./urlState";

function start(): Promise<unknown> {
  const race = /^\/race\/([^/]+)\/?$/.exec(location.pathname);
  if (race) {
    const id = decodeURIComponent(race[1]);
    const state = parseState(location.search);
    for (const p of [api.race(id), api.composite(id), api.quality(id), api.tracks(),
      // the car's data first; without a car the page opens on the race lap by lap
      ...(state.car ? [api.car(id, state.car), api.laps(id, state.car)] : [api.progress(id)])]) p.catch(() => undefined);
    return import("./pages/RacePage").then((m) => m.preloadRace(state));
  }
  const car = /^\/car\/([^/]+)\/?$/.exec(location.pathname);
  if (car) {
    for (const p of [api.carSeason(decodeURIComponent(car[1])), api.tracks()]) p.catch(() => undefined);
    return import("./pages/DriverSeason");
  }
  return Promise.resolve();
}

/** Settles once the deep link's code is here (or failed to load: the page's own loading then says so). */
export const preloaded: Promise<unknown> = start().catch(() => undefined);
