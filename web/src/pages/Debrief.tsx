// A printable debrief of one car: the map, the coaching's objective, its evidence (facts with n and
// intervals; lap times m:ss.mmm; no internal ids) and the comparison with a rival car. One page per car in
// print (the app bar and the buttons are hidden, text is black).
import { useMemo, useState } from "react";
import { Link as RouterLink, useParams } from "react-router-dom";
import { Alert, Box, Button, GlobalStyles, Link, Stack, Typography } from "@mui/material";
import { api, type CarDetail, type Track } from "../api/client";
import { Async, useApi } from "../components/Async";
import { TrackMap } from "../components/TrackMap";
import { Comparison } from "../components/Compare";
import { defaultReference, referenceChoices } from "../compare";
import { factLine, type Doc, type Fact } from "../modes/Coaching";
import { fmtTime, lapTimesInText } from "../format";
import { MEASURES } from "../measure";
import { results } from "../results";
import { useTitle } from "../title";
import { useViewState } from "./RacePage";
import { subShares } from "./CarView";

const PRINT_CSS = {
  "@media print": {
    "@page": { size: "A4", margin: "10mm" },
    "header, .no-print, .skip-link": { display: "none !important" },
    "body, .debrief, .debrief *": { color: "#000 !important" },
    "main#main": { padding: "0 !important", maxWidth: "none !important" },
    ".debrief": { breakInside: "avoid", zoom: 0.74, maxWidth: "none !important" },
    ".debrief + .debrief": { breakBefore: "page" },     // one page per car
    ".debrief .MuiTableCell-root": { padding: "1px 4px", fontSize: "11px" },
  },
};

const SHOWN_FACTS = 6;   // with the objective, hypotheses and the rival table: one A4 page per car

/** The facts a debrief prints: the coaching's evidence first (the facts its actions and hypotheses cite),
 *  then the rest, limits apart. */
export function debriefFacts(d: Doc): { facts: Fact[]; limits: Fact[] } {
  const all = (d.facts ?? []).filter((f) => !f.missing);
  const cited = new Set([...(d.actions ?? []).flatMap((a) => a.evidence ?? []), ...(d.hypotheses ?? []).flatMap((h) => h.supported_by ?? [])]);
  const limits = all.filter((f) => f.fact_id.startsWith("limit."));
  const rest = all.filter((f) => !f.fact_id.startsWith("limit."));
  const facts = [...rest.filter((f) => cited.has(f.fact_id)), ...rest.filter((f) => !cited.has(f.fact_id))].slice(0, SHOWN_FACTS);
  return { facts, limits };
}

export default function DebriefPage() {
  const { raceId = "" } = useParams();
  const [state] = useViewState();
  const car = state.car;
  const race = useApi(() => api.race(raceId), [raceId]);
  const quality = useApi(() => api.quality(raceId), [raceId]);
  const tracks = useApi(() => api.tracks(), []);
  const track = tracks.data?.items.find((t) => t.track_id === race.data?.track_id);
  useTitle("debrief", race.data ? `${track?.name ?? race.data.track_id} race ${race.data.race_number}` : raceId,
    car && (car.includes(",") ? `${car.split(",").length} cars` : `car ${car}`));
  const [copied, setCopied] = useState<string>();
  const copy = () => {
    const href = window.location.href;
    (navigator.clipboard?.writeText(href) ?? Promise.reject(new Error("no clipboard")))
      .then(() => setCopied("Link copied."), () => setCopied(`Copy this address: ${href}`));
  };
  return (
    <>
      <GlobalStyles styles={PRINT_CSS} />
      <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap" className="no-print" sx={{ mb: 1 }} data-testid="debrief-tools">
        <Link component={RouterLink} to={`/race/${encodeURIComponent(raceId)}${car ? `?car=${encodeURIComponent(car.split(",")[0])}${state.ref ? `&ref=${encodeURIComponent(state.ref)}` : ""}` : ""}`}>Back to the race</Link>
        <Button size="small" variant="outlined" onClick={copy} data-testid="copy-link">Copy link</Button>
        <Button size="small" variant="contained" onClick={() => window.print()} data-testid="download-pdf">Download PDF</Button>
        <Typography variant="caption" role="status">{copied ?? "Download PDF opens the browser's print dialog: choose \u201cSave as PDF\u201d. One page per car."}</Typography>
      </Stack>
      {!car ? <Alert severity="info">Name a car in the address (?car=…) to print its debrief.</Alert> : (
        <Async r={race} what={`race ${raceId}`}>
          {(r) => {
            const list = car.split(",").filter(Boolean);       // ?car=22,11: one page per car, each against its own default rival
            const order = [...results(r.cars ?? [], quality.data).values()].sort((a, b) => (a.position ?? 999) - (b.position ?? 999)).map((x) => x.car);
            return (
              <>
                <Link component={RouterLink} className="no-print" data-testid="debrief-all" sx={{ display: "inline-block", mb: 1 }}
                  to={`/race/${encodeURIComponent(raceId)}/print?car=${order.map(encodeURIComponent).join(",")}`}>
                  Every car of the race, one page each, in finishing order</Link>
                {list.map((c) => <DebriefSheet key={c} raceId={raceId} car={c} reference={list.length === 1 ? state.ref : undefined}
                  raceName={`${track?.name ?? r.track_id} — race ${r.race_number}`}
                  date={r.date ?? undefined} track={track} cars={r.cars ?? []} quality={quality.data} />)}
              </>
            );
          }}
        </Async>
      )}
    </>
  );
}

function DebriefSheet({ raceId, car, reference, raceName, date, track, cars, quality }:
  { raceId: string; car: string; reference?: string; raceName: string; date?: string; track?: Track;
    cars: NonNullable<Parameters<typeof results>[0]>; quality?: Parameters<typeof results>[1] }) {
  const detail = useApi(() => api.car(raceId, car), [raceId, car]);
  const coaching = useApi(() => api.coaching(raceId, car), [raceId, car]);
  const ref = useMemo(() => {
    if (reference && reference !== car && cars.some((c) => c.car === reference)) return reference;
    return defaultReference(referenceChoices(cars, quality, car));
  }, [reference, car, cars, quality]);
  const res = results(cars, quality).get(car);
  return (
    <Box className="debrief" data-testid="debrief" data-car={car} sx={{ maxWidth: 1000, mb: 4 }}>
      <Async r={detail} what={`car ${car} in ${raceId}`}>
        {(d: CarDetail) => {
          const recs = d.sections ?? [];
          const subs = recs.some((x) => x.section_set === "subsections" && x.available !== false);
          const set = subs ? "subsections" : "sectors";
          const values = recs.filter((x) => x.section_set === set && x.section)
            .map((x) => ({ section: x.section!, value: x.loss?.value, est: x.loss }));
          const shares = subShares(recs);
          return (
            <>
              <Typography variant="h5" component="h1">Debrief — car #{d.car.car} ({d.car.class ?? "–"}), {raceName}</Typography>
              <Typography variant="body2" data-testid="debrief-result">
                {date ? `${date} · ` : ""}{res?.position ? `finished P${res.position} of ${cars.length}` : res?.status ?? ""}, {res?.laps ?? d.car.laps} laps
                · best lap {fmtTime(d.car.best_lap_s)} (lap {d.car.best_lap_number ?? "–"}) · {d.car.clean_laps} clean laps of {d.car.laps}
              </Typography>
              <Async r={coaching} what="coaching">
                {(doc) => {
                  if (!doc) return <Alert severity="info" data-testid="debrief-objective">No coaching has been published for car #{car} in this race.</Alert>;
                  const { facts, limits } = debriefFacts(doc);
                  return (
                    <>
                      <Box data-testid="debrief-objective" sx={{ mt: 1 }}>
                        <Typography variant="subtitle1" component="h2" sx={{ fontWeight: 700 }}>Objective</Typography>
                        <Typography>{lapTimesInText(doc.headline ?? "")}</Typography>
                        <ul style={{ margin: "2px 0", paddingLeft: 18 }}>
                          {(doc.actions ?? []).map((a, i) => <li key={i}>{lapTimesInText(a.action)}</li>)}
                        </ul>
                      </Box>
                      <Stack direction="row" gap={2} alignItems="flex-start" sx={{ mt: 1 }}>
                        {track?.outline?.length && track.sector_fractions ? (
                          <Box sx={{ flex: "0 0 300px" }}>
                            <TrackMap outline={track.outline} sectorFractions={track.sector_fractions} sectionLabels={track.section_labels} subShare={shares} values={values}
                              useSubsections={subs} width={300} title={`${track.name}: car ${car}'s ${MEASURES.loss.title}`} />
                          </Box>
                        ) : null}
                        <Box data-testid="debrief-evidence" sx={{ minWidth: 0 }}>
                          <Typography variant="subtitle1" component="h2" sx={{ fontWeight: 700 }}>Evidence</Typography>
                          <ul style={{ margin: 0, paddingLeft: 18, fontSize: 13 }}>
                            {facts.map((f) => <li key={f.fact_id}>{factLine(f)}</li>)}
                          </ul>
                          {(doc.hypotheses ?? []).length ? <>
                            <Typography variant="subtitle2" component="h3" sx={{ mt: 0.5 }}>Hypotheses (to check, not facts)</Typography>
                            <ul style={{ margin: 0, paddingLeft: 18, fontSize: 13 }}>
                              {(doc.hypotheses ?? []).slice(0, 3).map((h, i) => <li key={i}>{lapTimesInText(h.text)}</li>)}
                            </ul></> : null}
                          {limits.length ? <>
                            <Typography variant="subtitle2" component="h3" sx={{ mt: 0.5 }}>What the data cannot say</Typography>
                            <ul style={{ margin: 0, paddingLeft: 18, fontSize: 13 }}>
                              {limits.slice(0, 3).map((f) => <li key={f.fact_id}>{lapTimesInText(f.text)}</li>)}
                            </ul></> : null}
                        </Box>
                      </Stack>
                    </>
                  );
                }}
              </Async>
              <Box sx={{ mt: 1 }} data-testid="debrief-comparison">
                <Typography variant="subtitle1" component="h2" sx={{ fontWeight: 700 }}>Against the rival</Typography>
                {ref ? <Comparison raceId={raceId} track={track} car={car} reference={ref} shares={shares} mapWidth={260} compact />
                  : <Typography variant="body2">No other car to compare with.</Typography>}
              </Box>
            </>
          );
        }}
      </Async>
    </Box>
  );
}
