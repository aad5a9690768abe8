// Against the car's own best lap: per corner, what its other clean laps lose to that lap and where they brake and
// how slow they go (medians over the clean laps, each with its 95% interval and n).
import { Alert, Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import type { S } from "../api/client";
import { fmtEst } from "../format";
import { fmtMedian } from "../telemetry";

const wide = { display: { xs: "none", sm: "table-cell" } };

export function OwnBestCorners({ car }: { car: S["TelemetryCar"] }) {
  const rows = car.corners ?? [];
  const has = (e?: { value?: number | null } | null) => typeof e?.value === "number";
  if (!rows.some((x) => has(x.delta_s) || has(x.brake_m) || has(x.min_kph))) {
    const e = rows[0]?.delta_s ?? rows[0]?.min_kph;
    return <Alert severity="info" data-testid="own-best-corners">No per-corner medians for car #{car.car}
      {e?.note ? `: ${e.note}` : ""} (n={e?.n ?? car.n_laps_used ?? 0} clean complete laps with telemetry).</Alert>;
  }
  return (
    <>
      <Table size="small" aria-label="per corner against the car's own best lap" data-testid="own-best-corners"
        sx={{ "& td, & th": { px: { xs: 0.5, sm: 1 } } }}>
        <TableHead><TableRow>
          <TableCell>Corner</TableCell>
          <TableCell>Lost to its best lap (s)</TableCell>
          <TableCell sx={wide}>Brake onset (m from the line)</TableCell>
          <TableCell sx={wide}>Minimum speed</TableCell>
        </TableRow></TableHead>
        <TableBody>
          {rows.map((x) => (
            <TableRow key={x.corner}>
              <TableCell>{x.corner}</TableCell>
              <TableCell>{x.delta_s?.value === null || x.delta_s?.value === undefined ? fmtMedian(x.delta_s, "s", 3) : fmtEst(x.delta_s)}</TableCell>
              <TableCell sx={wide}>{fmtMedian(x.brake_m, "m")}</TableCell>
              <TableCell sx={wide}>{fmtMedian(x.min_kph, "km/h", 1)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      <Typography variant="caption" component="p">Medians over car #{car.car}'s clean complete laps
        ({car.n_laps_used ?? 0} used) with their 95% intervals and n.</Typography>
    </>
  );
}
