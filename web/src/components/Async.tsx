import { useEffect, useMemo, useReducer, useRef, type ReactNode } from "react";
import { Alert, Box, CircularProgress, Typography } from "@mui/material";
import { ApiError, track } from "../api/client";

export type Result<T> = { loading: boolean; error?: Error; data?: T };

/** The data of ``fn()`` (called once per change of ``deps``): at once where the promise has already settled
 *  (the cached client's, say: a deep link's preloaded data, a hovered car), else loading; while the next data
 *  loads, the previous data stays shown (``loading`` true). One render per change, not a loading pass first. */
export function useApi<T>(fn: () => Promise<T>, deps: unknown[]): Result<T> {
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const p = useMemo(() => track(fn()), deps);
  const [, settled] = useReducer((n: number) => n + 1, 0);
  const last = useRef<{ p?: Promise<T>; data?: T }>({});
  const status = p.status;
  useEffect(() => {
    if (status) return;                  // rendered settled; else re-render once it settles (maybe already has)
    let live = true;
    p.then(() => live && settled(), () => live && settled());
    return () => { live = false; };
  }, [p, status]);
  const prev = status || last.current.p === p ? undefined : last.current.data;    // shown before this change
  const r = useMemo<Result<T>>(() => status === "fulfilled" ? { loading: false, data: p.value as T }
    : status === "rejected" ? { loading: false, error: p.reason as Error }
    : { loading: true, data: prev }, [p, status, prev]);
  useEffect(() => { if (status) last.current = { p, data: status === "fulfilled" ? p.value : undefined }; }, [p, status]);
  return r;
}

/** Loading, error (a 404 said as such) and empty states around ``children``. */
export function Async<T>({ r, what, empty, children }:
  { r: Result<T>; what: string; empty?: (d: T) => string | null; children: (d: T) => ReactNode }) {
  if (r.error) {
    const e = r.error;
    const nf = e instanceof ApiError && e.status === 404;
    return <Alert severity={nf ? "warning" : "error"} data-testid={nf ? "not-found" : "error"}>
      {nf ? `Not found: ${what}. ${e.message}` : `Could not load ${what}: ${e.message}`}
    </Alert>;
  }
  if (r.loading && r.data === undefined) {
    return <Box role="status" sx={{ display: "flex", gap: 1, alignItems: "center", p: 1 }}>
      <CircularProgress size={18} aria-label={`loading ${what}`} /><Typography variant="body2">Loading {what}…</Typography>
    </Box>;
  }
  const d = r.data as T;
  const msg = empty?.(d);
  if (msg) return <Alert severity="info" data-testid="empty">{msg}</Alert>;
  return <>{children(d)}</>;
}
