// The stream of /live/{race}/events (EventSource: it reconnects and resumes by Last-Event-ID by itself), its
// events buffered and applied through the pure model in feed.ts. The display delay and the pause act on the
// buffer only, so every element of the view shows the same moment.
//
// window.__liveLog (for bench/live.py and the e2e): per applied event {id, kind, recv, shown}: performance.now()
// when the event arrived and after the DOM showing it was committed (performance.timeOrigin maps it to a clock).
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { due, EMPTY, nextDue, step, type LiveEvent, type LiveModel } from "./feed";

export type LogEntry = { id: number; kind: string; recv: number; shown?: number };
declare global { interface Window { __liveLog?: LogEntry[] } }

export type FeedStatus = "connecting" | "open" | "reconnecting" | "ended" | "not-live" | "error";

export function useLiveFeed(raceId: string, paused: boolean, delayMs: number):
  { model: LiveModel; status: FeedStatus; buffered: number } {
  const [model, setModel] = useState<LiveModel>(EMPTY);
  const [status, setStatus] = useState<FeedStatus>("connecting");
  const [buffered, setBuffered] = useState(0);
  const queue = useRef<LiveEvent[]>([]);
  const pending = useRef<LogEntry[]>([]);        // applied, waiting for the commit that shows them
  const timer = useRef<number | undefined>(undefined);
  const opts = useRef({ paused, delayMs });
  opts.current = { paused, delayMs };

  const flush = useRef(() => {});
  flush.current = () => {
    window.clearTimeout(timer.current);
    const now = performance.now();
    const { paused: p, delayMs: d } = opts.current;
    const n = due(queue.current, now, d, p);
    if (n > 0) {
      const take = queue.current.splice(0, n);
      pending.current.push(...take.map((e) => ({ id: e.id, kind: e.kind, recv: e.at })));
      setModel((m) => take.reduce(step, m));
    }
    setBuffered(queue.current.length);
    const wait = nextDue(queue.current, now, d, p);
    if (wait !== null) timer.current = window.setTimeout(() => flush.current(), wait);
  };

  useEffect(() => {
    setModel(EMPTY);
    setStatus("connecting");
    queue.current = [];
    window.__liveLog = [];
    const es = new EventSource(`/live/${encodeURIComponent(raceId)}/events`);
    let got = false;
    let over = false;          // the feed has ended (an end event, or an initial of a finished replay)
    const on = (kind: LiveEvent["kind"]) => (e: MessageEvent) => {
      got = true;
      const ev = { id: Number(e.lastEventId), kind, data: JSON.parse(e.data), at: performance.now() } as LiveEvent;
      queue.current.push(ev);
      over = kind === "end" || (kind === "initial" ? !!(ev.data as { ended?: boolean }).ended : over);
      if (kind === "end") { es.close(); setStatus("ended"); } else setStatus(over ? "ended" : "open");
      flush.current();
    };
    es.addEventListener("initial", on("initial"));
    es.addEventListener("update", on("update"));
    es.addEventListener("end", on("end"));
    es.onerror = () => {
      if (over) { es.close(); setStatus("ended"); return; }     // a finished replay: nothing more will come
      if (es.readyState === EventSource.CLOSED) {
        if (got) { setStatus("error"); return; }
        // closed before any event: a race never live is a 404
        fetch(`/live/${encodeURIComponent(raceId)}`, { headers: { Accept: "application/json" } })
          .then((r) => setStatus(r.status === 404 ? "not-live" : "error"), () => setStatus("error"));
      } else setStatus(got ? "reconnecting" : "connecting");
    };
    return () => { es.close(); window.clearTimeout(timer.current); };
  }, [raceId]);

  // pause / resume / a new delay: what is due now is applied, the rest rescheduled
  useEffect(() => { flush.current(); }, [paused, delayMs]);

  useLayoutEffect(() => {           // after the DOM is updated for these events (before paint)
    if (!pending.current.length) return;
    const shown = performance.now();
    const log = (window.__liveLog ??= []);
    for (const p of pending.current) log.push({ ...p, shown });
    pending.current = [];
  }, [model]);

  return { model, status, buffered };
}
