import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { Paper, IconButton, Typography, Box, Drawer, useMediaQuery, useTheme } from "@mui/material";

// A panel that stays visible while exploring: drag by its title bar (or move with the arrow keys when
// the bar has focus); its position is kept in localStorage and kept inside the viewport on resize.
import { KEY, RESET_EVENT } from "./layout";

export { RESET_EVENT, resetLayout } from "./layout";

type Pos = { x: number; y: number };

function load(): Record<string, Pos> {
  try { return JSON.parse(localStorage.getItem(KEY) || "{}"); } catch { return {}; }
}

export function clamp(p: Pos, w: number, h: number, vw: number, vh: number): Pos {
  return { x: Math.round(Math.min(Math.max(0, p.x), Math.max(0, vw - w))), y: Math.round(Math.min(Math.max(0, p.y), Math.max(0, vh - h))) };
}

// Open panels, newest last: Escape closes the newest one only.
const open: string[] = [];

/** Handles Escape for the panel ``id`` if it is the newest open one; returns whether it closed it. */
export function escapeCloses(id: string, key: string, stack: readonly string[] = open): boolean {
  return key === "Escape" && stack.length > 0 && stack[stack.length - 1] === id;
}

export function Panel({ id, title, initial, width = 420, onClose, children }:
  { id: string; title: string; initial: Pos; width?: number; onClose?: () => void; children: ReactNode }) {
  const theme = useTheme();
  const phone = useMediaQuery(theme.breakpoints.down("sm"), { noSsr: true });   // a bottom sheet below 600 px
  const ref = useRef<HTMLDivElement>(null);
  const [pos, setPos] = useState<Pos>(() => load()[id] ?? initial);
  const drag = useRef<{ dx: number; dy: number } | null>(null);
  const ix = initial.x, iy = initial.y;

  const fit = useCallback((p: Pos) => {
    const el = ref.current;
    const w = el?.offsetWidth ?? width, h = Math.min(el?.offsetHeight ?? 200, 120);
    const c = clamp(p, w, h, window.innerWidth, window.innerHeight);
    return c.x === p.x && c.y === p.y ? p : c;      // unchanged: the same object, no re-render
  }, [width]);
  const save = useCallback((p: Pos) => {
    const all = load(); all[id] = p; localStorage.setItem(KEY, JSON.stringify(all));
  }, [id]);

  useEffect(() => {
    const onResize = () => setPos((p) => fit(p));
    const onReset = () => setPos(fit({ x: ix, y: iy }));
    window.addEventListener("resize", onResize);
    window.addEventListener(RESET_EVENT, onReset);
    setPos((p) => fit(p));
    return () => { window.removeEventListener("resize", onResize); window.removeEventListener(RESET_EVENT, onReset); };
  }, [fit, ix, iy]);

  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    open.push(id);
    const onKey = (e: KeyboardEvent) => {
      if (!e.defaultPrevented && closeRef.current && escapeCloses(id, e.key)) { e.preventDefault(); closeRef.current(); }
    };
    window.addEventListener("keydown", onKey);
    return () => { window.removeEventListener("keydown", onKey); const i = open.lastIndexOf(id); if (i >= 0) open.splice(i, 1); };
  }, [id]);

  const onPointerDown = (e: React.PointerEvent) => {
    if ((e.target as HTMLElement).closest("button")) return;
    drag.current = { dx: e.clientX - pos.x, dy: e.clientY - pos.y };
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
  };
  const onPointerMove = (e: React.PointerEvent) => {
    if (drag.current) setPos(fit({ x: e.clientX - drag.current.dx, y: e.clientY - drag.current.dy }));
  };
  const onPointerUp = () => {
    if (drag.current) { drag.current = null; setPos((p) => { save(p); return p; }); }
  };
  const onKeyDown = (e: React.KeyboardEvent) => {
    const step = e.shiftKey ? 50 : 10;
    const d: Record<string, Pos> = { ArrowLeft: { x: -step, y: 0 }, ArrowRight: { x: step, y: 0 }, ArrowUp: { x: 0, y: -step }, ArrowDown: { x: 0, y: step } };
    const m = d[e.key];
    if (!m) return;
    e.preventDefault();
    const p = fit({ x: pos.x + m.x, y: pos.y + m.y });
    setPos(p); save(p);
  };

  if (phone) {
    return (
      <Drawer anchor="bottom" open variant="persistent" data-testid={`panel-${id}`}
        slotProps={{ paper: { role: "dialog", "aria-label": title, sx: { maxHeight: "60vh", borderTopLeftRadius: 12, borderTopRightRadius: 12 } } as object }}>
        <Box data-testid={`panel-${id}-handle`} sx={{ bgcolor: "primary.main", color: "primary.contrastText", px: 1.5, py: 0.5,
          display: "flex", alignItems: "center", justifyContent: "space-between", position: "sticky", top: 0, zIndex: 1 }}>
          <Typography variant="subtitle2" component="h2">{title}</Typography>
          {onClose && <IconButton size="small" onClick={onClose} aria-label={`close ${title}`} sx={{ color: "inherit" }}>×</IconButton>}
        </Box>
        <Box sx={{ p: 1.5, overflowX: "auto" }}>{children}</Box>
      </Drawer>
    );
  }
  return (
    <Paper ref={ref} elevation={8} data-testid={`panel-${id}`} role="dialog" aria-label={title}
      style={{ position: "fixed", left: pos.x, top: pos.y, width, maxWidth: "calc(100vw - 8px)", maxHeight: "70vh",
        overflow: "auto", zIndex: 1200 }}>
      <Box data-testid={`panel-${id}-handle`} tabIndex={0} role="toolbar"
        aria-label={`${title}: drag, or use the arrow keys to move; Escape closes`}
        onPointerDown={onPointerDown} onPointerMove={onPointerMove} onPointerUp={onPointerUp} onKeyDown={onKeyDown}
        sx={{ cursor: "move", bgcolor: "primary.main", color: "primary.contrastText", px: 1.5, py: 0.5,
          display: "flex", alignItems: "center", justifyContent: "space-between", userSelect: "none", touchAction: "none" }}>
        <Typography variant="subtitle2" component="h2">{title}</Typography>
        {onClose && <IconButton size="small" onClick={onClose} aria-label={`close ${title}`} sx={{ color: "inherit" }}>×</IconButton>}
      </Box>
      <Box sx={{ p: 1.5 }}>{children}</Box>
    </Paper>
  );
}
