import { Alert, Button, Chip, List, ListItem, Typography } from "@mui/material";
import { api } from "../api/client";
import { Async, useApi } from "../components/Async";
import { lapTimesInText } from "../format";

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
export type Doc = {
  headline?: string; facts?: Fact[];
  hypotheses?: { text: string; supported_by?: string[]; confidence?: string | number }[];
  actions?: { section?: string; action: string; measure?: { metric?: string; target?: number | string; over_laps?: number }; evidence?: string[] }[];
  generator?: { kind?: string; label?: string; model?: string; prompt_version?: string; validation?: string; fallback_reason?: string | null };
};

export default function Coaching({ raceId, car, onPin }: { raceId: string; car: string; onPin?: () => void }) {
  const r = useApi(() => api.coaching(raceId, car), [raceId, car]);
  return (
    <>
    {onPin && <Button size="small" variant="outlined" onClick={onPin} sx={{ mb: 1 }} data-testid="pin-coaching">Keep visible as a panel</Button>}
    <Async r={r} what="coaching">
      {(page) => {
        if (!page.items.length) return <Alert severity="info" data-testid="coaching-empty">No coaching has been published for car {car} in this race yet: the coaching collection of the store is empty. The facts behind it are in the other three modes.</Alert>;
        const d = page.items[0] as unknown as Doc;
        const g = d.generator ?? {};
        return (
          <div data-testid="coaching">
            <Chip size="small" color={g.kind === "deterministic" ? "default" : "primary"} label={`generator: ${g.label ?? g.kind ?? "unknown"}${g.validation ? `; ${g.validation}` : ""}`} data-testid="coaching-generator" />
            <Typography variant="h6" component="h3">{lapTimesInText(d.headline ?? "")}</Typography>
            <Typography variant="subtitle1" component="h4">Facts</Typography>
            <List dense data-testid="coaching-facts">{(d.facts ?? []).map((f) => <ListItem key={f.fact_id}>[{f.fact_id}] {factLine(f)}</ListItem>)}</List>
            <Typography variant="subtitle1" component="h4">Hypotheses</Typography>
            <List dense data-testid="coaching-hypotheses">{(d.hypotheses ?? []).map((h, i) => <ListItem key={i}>Hypothesis: {lapTimesInText(h.text)} — confidence {String(h.confidence)}; supported by {(h.supported_by ?? []).join(", ")}</ListItem>)}</List>
            <Typography variant="subtitle1" component="h4">Actions</Typography>
            <List dense data-testid="coaching-actions">{(d.actions ?? []).map((a, i) => <ListItem key={i}>{a.section ? `${a.section.toUpperCase()}: ` : ""}{lapTimesInText(a.action)}{a.measure ? ` — target ${a.measure.metric} ${a.measure.target} over ${a.measure.over_laps} laps` : ""}; evidence {(a.evidence ?? []).join(", ")}</ListItem>)}</List>
            {g.fallback_reason && <Typography variant="caption">Fallback: {g.fallback_reason}</Typography>}
          </div>
        );
      }}
    </Async>
    </>
  );
}
