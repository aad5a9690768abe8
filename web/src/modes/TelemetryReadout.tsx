// What the shared cursor reads: every channel of both laps, and the delta, at one distance.
import { Typography } from "@mui/material";
import { fmtDelta, fmtNum } from "../format";
import { fmtMetres, fmtPair, type Reading } from "../telemetry";

export function TelemetryReadout({ r, car, refLabel }: { r: Reading | null; car: string; refLabel?: string }) {
  const who = refLabel ? `car #${car} / ${refLabel}` : `car #${car}`;
  const one = (p: [number | null, number | null], unit: string) => (refLabel ? fmtPair(p, unit) : `${fmtNum(p[0], 1)} ${unit}`);
  return (
    <Typography variant="body2" data-testid="telemetry-readout" aria-live="polite" data-index={r?.index ?? ""}
      data-distance={r?.distance_m ?? ""} sx={{ minHeight: "3em" }}>
      {r ? <>
        <b>{fmtMetres(r.distance_m)}</b>{r.corner ? ` (${r.corner})` : ""}, {who}:{" "}
        <span data-testid="read-speed">speed {one(r.speed, "km/h")}</span>;{" "}
        <span data-testid="read-throttle">throttle {one(r.throttle, "%")}</span>;{" "}
        <span data-testid="read-brake">brake {one(r.brake, "bar")}</span>
        {refLabel ? <>; <span data-testid="read-delta">delta {fmtDelta(r.delta_s)} s</span></> : null}
      </> : "Move the pointer over the charts (or tap them, or focus one and use the arrow keys) to read every channel at one distance."}
    </Typography>
  );
}
