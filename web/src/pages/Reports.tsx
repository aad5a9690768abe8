import { Link, Typography } from "@mui/material";
import { api } from "../api/client";
import { useApi } from "../components/Async";

type Item = { name: string; href: string };
const e = encodeURIComponent;

/** Where the run's executed HTML reports are (served read-only under /reports/): the run's index, and the
 *  reports of the race and of its track (each folder lists its reports in index.json). */
export async function reportLinks(raceId: string | undefined, trackId: string | undefined):
    Promise<{ run?: string; index?: string; race: Item[]; track: Item[] }> {
  const h = await api.health();
  const run = h.active_run_id ?? undefined;
  if (!run) return { race: [], track: [] };
  const list = (target?: string) => (target ? api.reports(run, target).then((r) => r.items, () => [] as Item[]) : Promise.resolve([] as Item[]));
  const idx = `/reports/${e(run)}/index.html`;
  const [race, track, hasIndex] = await Promise.all([list(raceId), list(trackId), api.exists(idx)]);
  return { run, index: hasIndex ? idx : undefined, race, track };
}

export default function Reports({ raceId, trackId }: { raceId?: string; trackId?: string }) {
  const r = useApi(() => reportLinks(raceId, trackId), [raceId, trackId]);
  if (r.loading && !r.data) return <Typography variant="body2" role="status">Loading reports…</Typography>;
  const d = r.data;
  if (r.error || !d || (!d.index && !d.race.length && !d.track.length)) {
    return <Typography variant="body2" data-testid="reports-empty">No executed reports are stored for this {raceId ? "race" : "track"} on this server.</Typography>;
  }
  const ul = (items: Item[], testid: string, label: string) => items.length ? (
    <ul style={{ margin: 0, paddingLeft: 18 }} data-testid={testid} aria-label={label}>
      {items.map((i) => <li key={i.href}><Link href={i.href} target="_blank" rel="noopener">{i.name}</Link></li>)}
    </ul>) : null;
  return (
    <div data-testid="reports-all">
      {d.race.length ? <Typography variant="body2">This race:</Typography> : null}
      {ul(d.race, "reports", "reports of this race")}
      {d.track.length ? <Typography variant="body2">{raceId ? "This track (all its races):" : "This track:"}</Typography> : null}
      {ul(d.track, "reports-track", "reports of this track")}
      {d.index && <Typography variant="body2"><Link href={d.index} target="_blank" rel="noopener" data-testid="reports-index">Every report of run {d.run}</Link></Typography>}
    </div>
  );
}
