import { Alert, Box, Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import type { Recommendation } from "../api/client";
import { fmtEst } from "../format";
import { COMPOSITE_DEF, type Measure } from "../measure";

// The relative measure: an interval above zero is a section-specific weakness, below zero a relative strength.
function relativeLabel(r: Recommendation): string {
  if (r.significant) return "";
  const hi = r.section_loss?.hi;
  return typeof hi === "number" && hi < 0 ? " (relative strength)" : " (within noise)";
}

/** Rows of one section set, ordered as the map colours them: by loss to the composite (largest first), or by
 *  the engine's rank of the relative loss. */
export function orderRows(recs: Recommendation[], set: string, measure: Measure): Recommendation[] {
  const rows = recs.filter((r) => r.section_set === set && r.available !== false && r.section);
  return measure === "relative"
    ? rows.sort((a, b) => Number(a.rank ?? 99) - Number(b.rank ?? 99))
    : rows.sort((a, b) => (b.loss?.value ?? -Infinity) - (a.loss?.value ?? -Infinity));
}

export default function Sections({ recs, useSubs, onSelect, selected, measure = "loss" }:
  { recs: Recommendation[]; useSubs: boolean; onSelect: (s: string) => void; selected?: string; measure?: Measure }) {
  const set = useSubs ? "subsections" : "sectors";
  const na = recs.find((r) => r.section_set === set && r.available === false);
  if (na) return <Alert severity="info">{String(na.message ?? `${set} not available`)}</Alert>;
  const rows = orderRows(recs, set, measure);
  if (!rows.length) return <Alert severity="info" data-testid="empty">No section analysis for this car.</Alert>;
  const rel = measure === "relative";
  return (
    <>
      <Typography variant="h6" component="h3">Where the lap time goes ({set})</Typography>
      <Box sx={{ overflowX: "auto" }}>
      <Table size="small" aria-label="section ranking" data-testid="section-ranking">
        <TableHead><TableRow><TableCell>{rel ? "Rank (relative)" : "Rank (loss)"}</TableCell><TableCell>Section</TableCell>
          <TableCell>Lost to the composite, s/lap</TableCell><TableCell>Relative to the car's overall pace, s/lap</TableCell></TableRow></TableHead>
        <TableBody>
          {rows.map((r, i) => (
            <TableRow key={r.id} hover selected={r.section === selected} onClick={() => onSelect(r.section!)} sx={{ cursor: "pointer" }}>
              <TableCell>{rel ? String(r.rank ?? "–") : i + 1}</TableCell>
              <TableCell>{r.section?.toUpperCase()}</TableCell>
              <TableCell sx={{ fontWeight: rel ? undefined : 600 }}>{fmtEst(r.loss)}</TableCell>
              <TableCell sx={{ fontWeight: rel ? 600 : undefined }}>{fmtEst(r.section_loss)}{relativeLabel(r)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      </Box>
      <Typography variant="caption" component="p">Click a row or a section on the map for its laps. The {COMPOSITE_DEF}. Relative to the car's overall pace: the loss left once the car's whole-lap gap to the composite is spread over the sections by their length; within noise: its 95% interval includes zero; relative strength: the whole interval is below zero (the car may still lose time there).</Typography>
    </>
  );
}
