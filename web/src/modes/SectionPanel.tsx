import { Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import { sectionTime, type Composite, type Lap, type Recommendation } from "../api/client";
import { Async, type Result } from "../components/Async";
import { flagLabel } from "../labels";
import { fmtDelta, fmtEst, fmtTime, fmtTimeEst } from "../format";

/** One section: the car's laps in it against the field's composite and its own best-k. */
export function SectionPanel({ section, laps, comp, car, recs }:
  { section: string; laps: Result<{ items: Lap[] }>; comp?: Composite; car: string; recs: Recommendation[] }) {
  const set = ["s1", "s2", "s3"].includes(section) ? "sectors" : "subsections";
  const f = comp?.field?.find((x) => x.class === "all" && x.section_set === set && x.available);
  const compS = f?.components?.find((c) => c.section === section)?.time_s;
  const rec = recs.find((r) => r.section === section && r.section_set === set);
  const bestK = rec?.best_k?.value ?? undefined;
  return (
    <>
      <Typography variant="body2">Composite: {fmtTime(compS)} (n={f?.n_laps ?? 0} clean laps) · own best-k: {rec?.best_k ? fmtTimeEst(rec.best_k) : "n/a"}</Typography>
      <Typography variant="body2" data-testid="section-loss">Lost to the composite: {rec?.loss ? fmtEst(rec.loss, "s/lap") : "n/a"} · relative to the car's overall pace: {rec?.section_loss ? fmtEst(rec.section_loss, "s/lap") : "n/a"}</Typography>
      <Async r={laps} what={`laps of car ${car}`} empty={(d) => (d.items.length ? null : "No laps.")}>
        {(d) => (
          <Table size="small" aria-label={`car ${car} laps in ${section}`} data-testid="section-laps">
            <TableHead><TableRow><TableCell>Lap</TableCell><TableCell align="right">{section.toUpperCase()}</TableCell>
              <TableCell align="right">Δ composite</TableCell><TableCell align="right">Δ best-k</TableCell><TableCell>Clean</TableCell></TableRow></TableHead>
            <TableBody>
              {d.items.map((l) => {
                const v = sectionTime(l, section);
                return <TableRow key={l.lap}>
                  <TableCell>{l.lap}</TableCell><TableCell align="right">{fmtTime(v)}</TableCell>
                  <TableCell align="right">{v && compS ? fmtDelta(v - compS) : "–"}</TableCell>
                  <TableCell align="right">{v && bestK ? fmtDelta(v - bestK) : "–"}</TableCell>
                  <TableCell>{l.is_clean ? "yes" : (l.exclusion_reasons ?? []).map(flagLabel).join(", ")}</TableCell>
                </TableRow>;
              })}
            </TableBody>
          </Table>
        )}
      </Async>
    </>
  );
}
