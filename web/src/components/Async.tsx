import { useEffect, useState, type ReactNode } from "react";
import { Alert, Box, CircularProgress, Typography } from "@mui/material";
import { ApiError } from "../api/client";

export type Result<T> = { loading: boolean; error?: Error; data?: T };

export function useApi<T>(fn: () => Promise<T>, deps: unknown[]): Result<T> {
  const [r, setR] = useState<Result<T>>({ loading: true });
  useEffect(() => {
    let live = true;
    setR((old) => ({ loading: true, data: old.data }));
    fn().then((data) => live && setR({ loading: false, data }), (error) => live && setR({ loading: false, error }));
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
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
