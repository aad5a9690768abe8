// Per corner, the part of the lap difference (car segment time minus the reference's) with both laps' brake
// onset, minimum and exit speed; the parts add up to the difference of the two laps.
import { Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import type { TelemetryComparison } from "../api/client";
import { fmtDelta, fmtNum, fmtTime } from "../format";
import { cornerParts, deltaWords } from "../telemetry";

const pair = (a: number | null | undefined, b: number | null | undefined, digits = 0) => `${fmtNum(a, digits)} / ${fmtNum(b, digits)}`;
const wide = { display: { xs: "none", sm: "table-cell" } };

export function CornerParts({ c }: { c: TelemetryComparison }) {
  const p = cornerParts(c.corners);
  return (
    <>
      <Table size="small" aria-label="time gained and lost per corner" data-testid="corner-parts"
        sx={{ "& td, & th": { px: { xs: 0.5, sm: 1 } } }}>
        <TableHead><TableRow>
          <TableCell>Corner</TableCell>
          <TableCell align="right">Gained / lost (s)</TableCell>
          <TableCell align="right">Brake onset (m from the line)</TableCell>
          <TableCell align="right" sx={wide}>Minimum (km/h)</TableCell>
          <TableCell align="right" sx={wide}>Exit (km/h)</TableCell>
        </TableRow></TableHead>
        <TableBody>
          {c.corners.map((x) => (
            <TableRow key={x.corner} data-testid={`corner-part-${x.corner}`}>
              <TableCell>{x.corner}</TableCell>
              <TableCell align="right" sx={{ color: (x.delta_s ?? 0) > 0 ? "error.dark" : "inherit" }}>{deltaWords(x.delta_s)}</TableCell>
              <TableCell align="right">{pair(x.brake_m, x.ref_brake_m)}</TableCell>
              <TableCell align="right" sx={wide}>{pair(x.min_kph, x.ref_min_kph, 1)}</TableCell>
              <TableCell align="right" sx={wide}>{pair(x.exit_kph, x.ref_exit_kph, 1)}</TableCell>
            </TableRow>
          ))}
          <TableRow data-testid="corner-parts-sum">
            <TableCell><b>All {p.n} corners</b></TableCell>
            <TableCell align="right"><b>{fmtDelta(p.sum)} s</b></TableCell>
            <TableCell colSpan={3} sx={{ display: { xs: "none", sm: "table-cell" } }}>
              = lap {fmtTime(c.lap_time_s ?? c.duration_s)} − {fmtTime(c.reference_lap_time_s ?? c.reference_duration_s)}
              {" "}({fmtDelta(c.lap_delta_s)} s)</TableCell>
          </TableRow>
        </TableBody>
      </Table>
      <Typography variant="caption" component="p">Each corner owns the stretch of the lap from midway between it and the
        previous corner to midway to the next (the first from the line, the last to the line). {c.own_best
          ? <>Car #{c.car}'s lap {c.lap ?? "–"} / its best lap (lap {c.reference_lap ?? "–"})</>
          : <>Car #{c.car} / car #{c.reference_car}, one lap each (its best complete lap)</>}: single
        laps, so no interval.{p.missing ? ` ${p.missing} corner${p.missing === 1 ? "" : "s"} without a time.` : ""}</Typography>
    </>
  );
}
