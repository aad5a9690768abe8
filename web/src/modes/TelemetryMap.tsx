// The track map coloured by the running delta along the lap (red: the car is behind the reference there, blue:
// ahead), with the shared cursor's position on it.
import { useMemo } from "react";
import type { Track } from "../api/client";
import { diverging, scaleMax } from "../colour";
import { TrackMap } from "../components/TrackMap";
import { deltaPieces } from "../telemetry";

export function DeltaLegend({ max }: { max: number }) {
  const stops = [-1, -0.5, 0, 0.5, 1];
  return (
    <div data-testid="delta-legend" style={{ display: "flex", flexWrap: "wrap", alignItems: "center", gap: "4px 12px", fontSize: 12, color: "#111", margin: "4px 0" }}>
      <span>running delta (s; blue: ahead, red: behind)</span>
      <span style={{ display: "inline-flex" }}>
        {stops.map((t) => (
          <span key={t} style={{ display: "inline-flex", flexDirection: "column", alignItems: "center", width: 44 }}>
            <span style={{ display: "block", width: 44, height: 12, background: diverging(t * max, max) }} />
            <span>{(t * max > 0 ? "+" : "") + (t * max).toFixed(2)}</span>
          </span>
        ))}
      </span>
    </div>
  );
}

export function TelemetryMap({ track, distance, delta, length, cursorM, car, reference }:
  { track: Track; distance: number[]; delta: number[]; length: number; cursorM: number | null; car: string; reference: string }) {
  const max = useMemo(() => scaleMax(delta), [delta]);
  const along = useMemo(() => deltaPieces(distance, delta, length, 120, max), [distance, delta, length, max]);
  const markers = cursorM !== null ? [{ f: cursorM / length, label: "cursor", colour: "#f2a900" }] : [];
  return (
    <TrackMap outline={track.outline!} sectorFractions={track.sector_fractions!} values={[]} useSubsections={false}
      along={along} markers={markers} width={420} legend={<DeltaLegend max={max} />}
      title={`${track.name}: car ${car}'s running delta to ${reference} along the lap`} />
  );
}
