import { Link as RouterLink } from "react-router-dom";
import { Alert, Box, Button, Chip, Link, List, ListItem, Paper, Typography } from "@mui/material";
import { api, type S } from "../api/client";
import { Async, useApi } from "../components/Async";
import { fmtTime, lapTimesInText } from "../format";
import { previousText } from "../season";
import { sectionLabel } from "../labels";
import type { Track } from "../api/client";

export type Fact = { fact_id: string; text: string; value?: number | null; unit?: string; n?: number; lo?: number | null; hi?: number | null; digits?: number; missing?: boolean };

/** A fact's lo/hi is a 95% interval of an estimate only when it brackets the value; a fact whose bounds are
 *  the min and max of readings (a "…_range" fact: its value is the spread) is a range, and is said so. */
export function isRange(f: Fact): boolean {
  if (/range/.test(f.fact_id)) return true;
  const { value: v, lo, hi } = f;
  return typeof v === "number" && typeof lo === "number" && typeof hi === "number" && (v < lo || v > hi);
}

// The fact's text carries its numbers at their display rounding; add n (and the interval or range) only where
// it does not. Lap times in the text are written m:ss.mmm.
export function factLine(f: Fact): string {
  const text = lapTimesInText(f.text);
  if (f.missing || /n=\d/.test(f.text)) return text;
  const d = f.digits ?? 3;
  const has = f.lo !== null && f.lo !== undefined && f.hi !== null && f.hi !== undefined;
  const bounds = has ? (isRange(f) ? `, range ${f.lo!.toFixed(d)} to ${f.hi!.toFixed(d)}${f.unit ? ` ${f.unit}` : ""}`
    : `, 95% CI ${f.lo!.toFixed(d)} to ${f.hi!.toFixed(d)}`) : "";
  return f.n ? `${text} (n=${f.n}${bounds})` : text;
}
/** The fields of a coaching document these views read; the API's typed document (S["Coaching"], fetched by
 *  api.coaching) is assignable to it as it stands, no cast. */
export type Doc = {
  track_id?: string | null; headline?: string; facts?: Fact[];
  objective?: { section?: string | null; place?: string | null } | null;
  hypotheses?: { text: string; supported_by?: string[]; confidence?: string | number }[];
  actions?: { section?: string | null; action: string; measure?: { metric?: string; target?: number | string; over_laps?: number }; evidence?: string[] }[];
  generator?: S["CoachingGenerator"];
};

type Action = NonNullable<Doc["actions"]>[number];

/** A section as coaching writes it: the track's served label in official turns ("IM1A (Turns 1–3)"), else the
 *  code in capitals ("IM3A"); the document's own objective place where it names that section. */
export function sectionName(d: Doc, s?: string | null, track?: Track): string {
  if (!s) return "";
  if (d.objective?.section === s && d.objective.place) return d.objective.place;
  return sectionLabel(s, track);
}

/** An action's measure in words: "target: median IM3A time 11.177 s over the next 5 laps", "target: median
 * IM3A time 0.364 s slower than the field's median there over the next 5 laps", "target: spread of the middle
 * half of IM3A times 0.120 s or less over the next 5 laps". */
export function measureText(a: Action): string {
  const m = a.measure;
  if (!m || m.target === undefined || m.target === null) return "";
  const t = typeof m.target === "number" ? fmtTime(m.target) : String(m.target);
  const s = typeof m.target === "number" && m.target < 60 ? " s" : "";
  const where = a.section ? a.section.toUpperCase() : "section";
  let what: string;
  if (m.metric === "median_section_time_s") what = `median ${where} time ${t}${s}`;
  else if (m.metric === "median_section_delta_to_field_s" && typeof m.target === "number")
    what = m.target === 0 ? `median ${where} time equal to the field's median there`
      : `median ${where} time ${fmtTime(Math.abs(m.target))} s ${m.target > 0 ? "slower" : "faster"} than the field's median there`;
  else if (m.metric === "section_time_iqr_s") what = `spread of the middle half of ${where} times ${t}${s} or less`;
  else what = `${(m.metric ?? "").replace(/_s$/, "").replace(/_/g, " ")} ${t}`;
  return `target: ${what}${m.over_laps ? ` over the next ${m.over_laps} lap${m.over_laps === 1 ? "" : "s"}` : ""}`;
}

/** The facts an action cites (its evidence ids), in the document's order; none cited: the section's facts. */
export function evidenceFor(d: Doc, a?: Action): Fact[] {
  const facts = d.facts ?? [];
  const ids = new Set(a?.evidence ?? []);
  const cited = facts.filter((f) => ids.has(f.fact_id) && !f.missing);
  if (cited.length || !a?.section) return cited;
  return facts.filter((f) => !f.missing && f.fact_id.startsWith(`sections.${a.section}.`));
}

/** Last race's finding for this race (the season's check of the previous race at this track). */
function FollowUp({ raceId, car, track }: { raceId: string; car: string; track?: Track }) {
  const r = useApi(() => api.carSeason(car), [car]);
  if (r.loading && !r.data) return <Typography variant="body2">Loading last race's finding…</Typography>;
  const races = r.data?.races ?? [];
  const me = races.find((x) => x.race_id === raceId);
  if (!me) return <Typography variant="body2">No season record for car {car}.</Typography>;
  const prev = me.previous;
  const p = prev ? races.find((x) => x.race_id === prev.race_id) : undefined;
  return <Typography variant="body2">{previousText(prev, p ? `Race ${p.race_number}` : undefined, track)}{" "}
    <Link component={RouterLink} to={`/car/${encodeURIComponent(car)}?race=${encodeURIComponent(raceId)}`} data-testid="coaching-season-link">Car {car}'s season</Link></Typography>;
}

export default function Coaching({ raceId, car, onPin }: { raceId: string; car: string; onPin?: () => void }) {
  const r = useApi(() => api.coaching(raceId, car), [raceId, car]);
  const tracks = useApi(() => api.tracks(), []);
  return (
    <>
    {onPin && <Button size="small" variant="outlined" onClick={onPin} sx={{ mb: 1 }} data-testid="pin-coaching">Keep visible as a panel</Button>}
    <Async r={r} what="coaching">
      {(d) => {
        if (!d) return <Alert severity="info" data-testid="coaching-empty">No coaching has been published for car {car} in this race yet: the coaching collection of the store is empty. The facts behind it are in the other three modes.</Alert>;
        const track = tracks.data?.items.find((t) => t.track_id === d.track_id);
        const sec = (x?: string | null) => sectionName(d, x, track);
        const g = d.generator ?? {};
        const [first, ...more] = d.actions ?? [];
        const evidence = evidenceFor(d, first);
        return (
          <div data-testid="coaching">
            <Paper variant="outlined" sx={{ p: 1.5, mb: 1.5, borderColor: "primary.main" }} data-testid="coaching-objective">
              <Typography variant="overline" component="h3" sx={{ lineHeight: 1.5 }}>Objective{first?.section ? `: ${sec(first.section)}` : ""}</Typography>
              {first ? <>
                <Typography variant="h6" component="p">{lapTimesInText(first.action)}</Typography>
                {first.measure && <Typography variant="body2">{measureText(first)}</Typography>}
              </> : <Typography>{lapTimesInText(d.headline ?? "")}</Typography>}
            </Paper>
            <Typography variant="subtitle1" component="h4">Why: the evidence</Typography>
            <Typography variant="body1" data-testid="coaching-headline">{lapTimesInText(d.headline ?? "")}</Typography>
            {evidence.length > 0 && <List dense data-testid="coaching-evidence">{evidence.map((f) => <ListItem key={f.fact_id}>{factLine(f)}</ListItem>)}</List>}
            {(d.hypotheses ?? []).length > 0 && <List dense data-testid="coaching-hypotheses">{(d.hypotheses ?? []).map((h, i) =>
              <ListItem key={i}>{lapTimesInText(h.text)} (confidence {String(h.confidence)}, from the facts it cites)</ListItem>)}</List>}
            {more.length > 0 && <>
              <Typography variant="subtitle1" component="h4">Then</Typography>
              <List dense data-testid="coaching-more-actions">{more.map((a, i) => <ListItem key={i}>{a.section ? `${sec(a.section)}: ` : ""}{lapTimesInText(a.action)}{a.measure ? ` (${measureText(a)})` : ""}</ListItem>)}</List>
            </>}
            <Typography variant="subtitle1" component="h4" sx={{ mt: 1 }}>Last race's finding</Typography>
            <Box data-testid="coaching-followup"><FollowUp raceId={raceId} car={car} track={track} /></Box>
            <Box component="details" sx={{ mt: 1.5, "& summary": { cursor: "pointer", fontSize: 14 } }} data-testid="coaching-sources">
              <summary>Sources: the {(d.facts ?? []).length} facts behind this advice, with their ids</summary>
              <List dense data-testid="coaching-facts">{(d.facts ?? []).map((f) => <ListItem key={f.fact_id}>[{f.fact_id}] {factLine(f)}</ListItem>)}</List>
              <Typography variant="body2" component="h5" sx={{ fontWeight: 600 }}>Actions as published</Typography>
              <List dense data-testid="coaching-actions">{(d.actions ?? []).map((a, i) => <ListItem key={i}>{a.section ? `${sec(a.section)}: ` : ""}{lapTimesInText(a.action)}{a.measure ? ` — ${measureText(a)}` : ""}; evidence {(a.evidence ?? []).join(", ")}</ListItem>)}</List>
              <Typography variant="body2" component="h5" sx={{ fontWeight: 600 }}>Hypotheses' sources</Typography>
              <List dense data-testid="coaching-hypothesis-sources">{(d.hypotheses ?? []).map((h, i) => <ListItem key={i}>{i + 1}: {(h.supported_by ?? []).join(", ")}</ListItem>)}</List>
            </Box>
            <Chip size="small" sx={{ mt: 1, maxWidth: "100%", height: "auto", "& .MuiChip-label": { whiteSpace: "normal" } }}
              color={g.kind === "deterministic" ? "default" : "primary"} label={`written by: ${g.label ?? g.kind ?? "unknown"}${g.validation ? `; ${g.validation}` : ""}`} data-testid="coaching-generator" />
            {g.fallback_reason && <Typography variant="caption" component="p">Fallback: {g.fallback_reason}</Typography>}
          </div>
        );
      }}
    </Async>
    </>
  );
}
