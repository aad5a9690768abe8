import { Link, Typography } from "@mui/material";
import { api } from "../api/client";
import { useApi } from "../components/Async";

/** Links to the race's executed HTML reports (served read-only under /reports/). */
export default function Reports({ raceId }: { raceId: string }) {
  const r = useApi(async () => {
    const h = await api.health();
    if (!h.active_run_id) return { items: [] };
    return api.reports(h.active_run_id, raceId);
  }, [raceId]);
  if (r.loading) return <Typography variant="body2" role="status">Loading reports…</Typography>;
  if (r.error || !r.data?.items.length) return <Typography variant="body2" data-testid="reports-empty">No executed reports are stored for this race on this server.</Typography>;
  return <ul style={{ margin: 0, paddingLeft: 18 }} data-testid="reports">
    {r.data.items.map((i) => <li key={i.href}><Link href={i.href} target="_blank" rel="noopener">{i.name}</Link></li>)}
  </ul>;
}
