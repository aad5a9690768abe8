import { Alert, Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import type { Recommendation } from "../api/client";
import { fmtEst } from "../format";

// A section loss whose interval excludes zero is a loss (above) or a relative strength (below).
function sectionLabel(r: Recommendation): string {
  if (r.significant) return "";
  const hi = r.section_loss?.hi;
  return typeof hi === "number" && hi < 0 ? " (strength)" : " (n.s.)";
}

export default function Sections({ recs, useSubs, onSelect, selected }:
  { recs: Recommendation[]; useSubs: boolean; onSelect: (s: string) => void; selected?: string }) {
  const set = useSubs ? "subsections" : "sectors";
  const rows = recs.filter((r) => r.section_set === set);
  const na = rows.find((r) => r.available === false);
  if (na) return <Alert severity="info">{String(na.message ?? `${set} not available`)}</Alert>;
  if (!rows.length) return <Alert severity="info" data-testid="empty">No section analysis for this car.</Alert>;
  rows.sort((a, b) => Number(a.rank ?? 99) - Number(b.rank ?? 99));
  return (
    <>
      <Typography variant="h6" component="h3">Where the lap time goes ({set})</Typography>
      <Table size="small" aria-label="section ranking" data-testid="section-ranking">
        <TableHead><TableRow><TableCell>Rank</TableCell><TableCell>Section</TableCell>
          <TableCell>Loss beyond the car's deficit</TableCell><TableCell>Loss to composite</TableCell></TableRow></TableHead>
        <TableBody>
          {rows.map((r) => (
            <TableRow key={r.id} hover selected={r.section === selected} onClick={() => onSelect(r.section!)} sx={{ cursor: "pointer" }}>
              <TableCell>{String(r.rank ?? "–")}</TableCell>
              <TableCell>{r.section?.toUpperCase()}{sectionLabel(r)}</TableCell>
              <TableCell>{fmtEst(r.section_loss)}</TableCell>
              <TableCell>{fmtEst(r.loss)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      <Typography variant="caption">Click a row or a section on the map for its laps. n.s.: the 95% interval includes zero; strength: the whole interval is below zero (faster here than the car's overall deficit predicts).</Typography>
    </>
  );
}
