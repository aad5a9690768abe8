// Typed API client: the types are generated from the API's /openapi.json (web/openapi.json, checked
// against the live schema by tests/test_web_schema.py) by openapi-typescript at build time.
import type { components } from "./schema";
import type { RaceProgress } from "../progress";

export type S = components["schemas"];
export type Track = S["Track"];
export type RaceSummary = S["RaceSummary"];
export type Race = S["Race"];
export type Car = S["Car"];
export type CarDetail = S["CarDetail"];
export type Lap = S["Lap"];
export type Composite = S["Composite"];
export type Quality = S["Quality"];
export type Recommendation = S["Recommendation"];
export type Estimate = S["Estimate"];
export type Weather = S["Weather"];
export type PatternTrend = S["PatternTrend"];
export type CarSeason = S["CarSeason"];
export type SeasonRace = S["SeasonRace"];
export type RaceTelemetry = S["RaceTelemetry"];
export type TelemetryComparison = S["TelemetryComparison"];

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

const cache = new Map<string, Promise<unknown>>();

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const r = await fetch(path, { signal, headers: { Accept: "application/json" } });
  if (!r.ok) {
    let code = "http_error";
    let message = `${r.status} ${r.statusText}`;
    try {
      const body = await r.json();
      code = body?.error?.code ?? code;
      message = body?.error?.message ?? message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(r.status, code, message);
  }
  return (await r.json()) as T;
}

/** A promise that says, once settled, how it settled (React's thenable convention): a view whose data is
 *  already here renders it at once, without a loading pass. */
export type Tracked<T> = Promise<T> & { status?: "fulfilled" | "rejected"; value?: T; reason?: unknown };

export function track<T>(p: Promise<T>): Tracked<T> {
  const t = p as Tracked<T>;
  if (!("status" in t)) {
    t.status = undefined;
    t.then((v) => { t.status = "fulfilled"; t.value = v; }, (e) => { t.status = "rejected"; t.reason = e; });
  }
  return t;
}

/** GET with an in-memory cache per path (the data of a run does not change under the page). */
export function cached<T>(path: string): Promise<T> {
  let p = cache.get(path) as Promise<T> | undefined;
  if (!p) {
    p = track(getJson<T>(path));
    cache.set(path, p);
    p.catch(() => cache.delete(path));
  }
  return p;
}

/** As :func:`cached`, with a 404 read as "none" (``null``): a document that may not have been published. */
export function cachedOrNone<T>(path: string): Promise<T | null> {
  const key = `${path} (or none)`;
  let p = cache.get(key) as Promise<T | null> | undefined;
  if (!p) {
    p = track(getJson<T>(path).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }));
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

const e = encodeURIComponent;
export const api = {
  tracks: () => cached<S["TrackList"]>("/tracks"),
  races: () => cached<S["RaceList"]>("/races"),
  race: (id: string) => cached<Race>(`/races/${e(id)}/summary`),
  composite: (id: string) => cached<Composite>(`/races/${e(id)}/composite`),
  quality: (id: string) => cached<Quality>(`/races/${e(id)}/quality`),
  /** The race lap by lap: every car's position, gap to the leader and laps down at each line; cautions. */
  progress: (id: string) => cached<RaceProgress>(`/races/${e(id)}/progress`),
  weather: (id: string) => cached<S["Weather"]>(`/races/${e(id)}/weather`),
  car: (id: string, car: string) => cached<CarDetail>(`/races/${e(id)}/cars/${e(car)}`),
  laps: (id: string, car: string) => cached<S["LapList"]>(`/races/${e(id)}/cars/${e(car)}/laps`),
  /** The car's coaching document (typed by the schema's Coaching); null where none was published. */
  coaching: (id: string, car: string) => cachedOrNone<S["Coaching"]>(`/races/${e(id)}/cars/${e(car)}/coaching`),
  cars: () => cached<S["SeasonCarList"]>("/cars"),
  carSeason: (car: string) => cached<CarSeason>(`/cars/${e(car)}/season`),
  /** 404 "no telemetry for this race" where the race has none. */
  raceTelemetry: (id: string) => cached<RaceTelemetry>(`/races/${e(id)}/telemetry`),
  /** The car's best lap against ``ref``'s best lap (none: the fastest car's). */
  carTelemetry: (id: string, car: string, ref?: string, lap?: string) => {
    const q = [ref ? `ref=${e(ref)}` : "", lap ? `lap=${e(lap)}` : ""].filter(Boolean).join("&");
    return cached<TelemetryComparison>(`/races/${e(id)}/cars/${e(car)}/telemetry${q ? `?${q}` : ""}`);
  },
  reports: (runId: string, target: string) =>
    cached<{ items: { name: string; href: string }[] }>(`/reports/${e(runId)}/${e(target)}/index.json`),
  health: () => getJson<S["Health"]>("/health"),
  /** Whether a served report exists (HEAD), cached per path. */
  exists: (href: string) => {
    let p = cache.get(`HEAD ${href}`) as Promise<boolean> | undefined;
    if (!p) { p = fetch(href, { method: "HEAD" }).then((r) => r.ok, () => false); cache.set(`HEAD ${href}`, p); }
    return p;
  },
};

/** A lap's time in one section (the lap document's `<section>_s` field), typed through the schema. */
const SECTION_FIELD = {
  s1: "s1_s", s2: "s2_s", s3: "s3_s", im1a: "im1a_s", im1: "im1_s", im2a: "im2a_s", im2: "im2_s", im3a: "im3a_s",
  fl: "fl_s",
} as const satisfies Record<string, keyof Lap>;

export function sectionTime(l: Lap, section: string): number | null | undefined {
  const field = SECTION_FIELD[section as keyof typeof SECTION_FIELD];
  return field ? l[field] : undefined;
}
