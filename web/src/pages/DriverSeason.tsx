// A car's season (/car/<number>?race=<race id>): every race the car number ran, in date order — its finish, pace
// against the field with its interval, consistency, its weakest section, whether the previous race's finding at
// the same track held, and the coaching objective — each race linking into that race's car view.
import { useEffect } from "react";
import { Link as RouterLink, useLocation, useNavigate, useParams } from "react-router-dom";
import { Alert, Box, Chip, Stack, Typography } from "@mui/material";
import { api, type CarSeason, type SeasonRace, type Track } from "../api/client";
import { Async, useApi } from "../components/Async";
import { fmtDelta, fmtTime, lapTimesInText } from "../format";
import { consistencyText, findingText, finishText, has, paceText, previousText, raceName, recurring } from "../season";
import { useTitle } from "../title";
import { Crumbs } from "../components/Crumbs";

/** A track's name in at most 12 characters: "Barber Motorsports Park" -> "Barber", "Circuit of the Americas" -> "COTA". */
export function shortName(name: string): string {
  const words = name.split(/\s+/).filter(Boolean);
  if (words.length > 2 && /^circuit$/i.test(words[0])) return words.map((w) => w[0].toUpperCase()).join("");
  const first = words[0] ?? "";
  return first.length > 12 ? `${first.slice(0, 11)}…` : first;
}

/** Pace gap per race with its interval: a dot and a bar per race, the field's median lap at zero. */
export function PaceChart({ races, tracks, selected }: { races: SeasonRace[]; tracks?: Track[]; selected?: string }) {
  const pts = races.map((r, i) => ({ r, i, e: r.pace_gap })).filter((p) => has(p.e.value));
  if (!pts.length) return null;
  const vals = pts.flatMap((p) => [p.e.value!, p.e.lo ?? p.e.value!, p.e.hi ?? p.e.value!, 0]);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const pad = (hi - lo) * 0.1 || 0.5;
  const W = Math.max(640, 90 * races.length), H = 200, L = 56, R = 44, T = 12, B = 40;
  const x = (i: number) => L + (races.length > 1 ? (i / (races.length - 1)) * (W - L - R) : (W - L - R) / 2);
  const y = (v: number) => T + ((hi + pad - v) / (hi - lo + 2 * pad)) * (H - T - B);
  const label = `Pace gap to the field's median lap per race: ${pts.map((p) => `${raceName(p.r, tracks)} ${fmtDelta(p.e.value)} s/lap`).join("; ")}`;
  return (
    <Box component="figure" sx={{ m: 0 }} data-testid="season-pace-chart">
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={label} style={{ maxWidth: W, display: "block" }}>
        <line x1={L} x2={W - R} y1={y(0)} y2={y(0)} stroke="#888" strokeDasharray="4 3" />
        <text x={L - 4} y={y(0) + 4} textAnchor="end" fontSize={12} fill="#333">field</text>
        {[lo, hi].filter((v) => Math.abs(y(v) - y(0)) > 14).map((v, k) =>
          <text key={k} x={L - 4} y={y(v) + 4} textAnchor="end" fontSize={12} fill="#333">{fmtDelta(v, 2)}</text>)}
        {pts.map(({ r, i, e }) => (
          <g key={r.race_id} data-race={r.race_id}>
            {has(e.lo) && has(e.hi) && <line x1={x(i)} x2={x(i)} y1={y(e.lo)} y2={y(e.hi)} stroke="#1d3557" strokeWidth={2} />}
            <circle cx={x(i)} cy={y(e.value!)} r={r.race_id === selected ? 7 : 5} fill={r.race_id === selected ? "#c1121f" : "#1d3557"} />
          </g>
        ))}
        {races.map((r, i) => <text key={r.race_id} x={x(i)} y={H - 22} textAnchor="middle" fontSize={12} fill="#333">
          {shortName(tracks?.find((t) => t.track_id === r.track_id)?.name ?? r.track_id ?? "")}</text>)}
        {races.map((r, i) => <text key={`n${r.race_id}`} x={x(i)} y={H - 6} textAnchor="middle" fontSize={12} fill="#333">R{r.race_number}</text>)}
      </svg>
      <Typography variant="caption" component="figcaption">Seconds per lap to the field's median clean lap on the same lap
        number (below the line: faster); bars are 95% intervals over the car's clean laps.</Typography>
    </Box>
  );
}

function RaceCard({ r, car, tracks, prevName, selected, onSelect }:
  { r: SeasonRace; car: string; tracks?: Track[]; prevName?: string; selected: boolean; onSelect: () => void }) {
  const name = raceName(r, tracks);
  const to = `/race/${encodeURIComponent(r.race_id)}?car=${encodeURIComponent(car)}`;
  const obj = r.objective;
  const prev = r.previous;
  return (
    <section aria-labelledby={`h-${r.race_id}`} data-testid={`season-race-${r.race_id}`} className={selected ? "kl-card selected" : "kl-card"}>
      <div className="kl-row">
        <h2 className="kl-h6" id={`h-${r.race_id}`}>
          <RouterLink className="kl-link" to={to} data-testid={`season-open-${r.race_id}`}>{name}</RouterLink>
        </h2>
        <p className="kl-body2">{r.date ?? ""}{r.class ? ` · ${r.class}` : ""}</p>
        <button type="button" className="kl-link kl-body2" onClick={onSelect} aria-pressed={selected}
          data-testid={`season-select-${r.race_id}`}>{selected ? "highlighted" : "highlight on the chart"}</button>
      </div>
      <dl className="kl-facts">
        <dt>Finish</dt><dd data-testid="season-finish">{finishText(r.finish)}; best lap {fmtTime(r.best_lap_s)}</dd>
        <dt>Pace vs the field</dt><dd data-testid="season-pace">{paceText(r.pace_gap)}</dd>
        <dt>Consistency</dt><dd data-testid="season-consistency">{consistencyText(r.consistency)}</dd>
        <dt>Weakest section</dt><dd data-testid="season-finding">{findingText(r.finding, tracks?.find((t) => t.track_id === r.track_id))}</dd>
        <dt>Objective</dt><dd data-testid="season-objective">{obj?.action
          ? <>{lapTimesInText(obj.action)} <RouterLink className="kl-link" to={`${to}&mode=coaching`}>coaching</RouterLink></>
          : "no coaching published for this race"}</dd>
        <dt>Last race's finding</dt><dd data-testid="season-previous">
          {prev && <Chip size="small" sx={{ mr: 1 }} label={prev.held === true ? "held" : prev.held === false ? "did not hold" : "nothing to check"}
            variant={prev.held === true ? "filled" : "outlined"} />}
          {previousText(prev, prevName, tracks?.find((t) => t.track_id === r.track_id))}</dd>
      </dl>
    </section>
  );
}

export function SeasonView({ d, tracks, selected, onSelect }:
  { d: CarSeason; tracks?: Track[]; selected?: string; onSelect: (race?: string) => void }) {
  useEffect(() => { performance.mark("kaizenlap:season-ready"); }, [d]);     // bench/web.py reads it
  const rec = recurring(d.races, tracks);
  const byId = new Map(d.races.map((r) => [r.race_id, r]));
  return (
    <Stack gap={2}>
      <Typography data-testid="season-summary">
        Car #{d.car} ran {d.n_races} race{d.n_races === 1 ? "" : "s"} of this season.
        {d.findings_checked ? ` Its weakest section at a track held at the next race there in ${d.findings_held} of ${d.findings_checked}.`
          : " No weakest section could be checked at a second race of the same track."}
        {rec.length ? ` Recurring weakness: ${rec.join("; ")}.` : ""}
      </Typography>
      <PaceChart races={d.races} tracks={tracks} selected={selected} />
      {d.races.map((r) => (
        <RaceCard key={r.race_id} r={r} car={d.car} tracks={tracks} selected={r.race_id === selected}
          prevName={r.previous ? raceName(byId.get(r.previous.race_id) ?? { race_id: r.previous.race_id, track_id: null, race_number: null }, tracks) : undefined}
          onSelect={() => onSelect(r.race_id === selected ? undefined : r.race_id)} />
      ))}
    </Stack>
  );
}

export default function DriverSeason() {
  const { car = "" } = useParams();
  const loc = useLocation();
  const nav = useNavigate();
  const selected = new URLSearchParams(loc.search).get("race") || undefined;
  const r = useApi(() => api.carSeason(car), [car]);
  const tracks = useApi(() => api.tracks(), []);
  useTitle(`car ${car}`, "season");
  const select = (race?: string) => nav({ pathname: loc.pathname, search: race ? `?race=${encodeURIComponent(race)}` : "" }, { replace: true });
  return (
    <>
      <div style={{ marginBottom: 8 }}><Crumbs>{[<RouterLink key="s" className="kl-link" to="/">Season</RouterLink>,
        <span key="c">car {car}</span>]}</Crumbs></div>
      <h1 className="kl-h4 kl-gutter">Car #{car}: its season</h1>
      <Async r={r} what={`car ${car}`}>
        {(d) => d.races.length ? <SeasonView d={d} tracks={tracks.data?.items} selected={selected} onSelect={select} />
          : <Alert severity="info">Car {car} ran no race of this season.</Alert>}
      </Async>
    </>
  );
}
