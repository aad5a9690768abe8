import { useEffect, useState } from "react";

/** False on a view's first render, true from just after its first paint: parts below the fold (the data quality,
 *  car against car) render a frame after the map instead of holding its first paint back. */
export function useAfterPaint(): boolean {
  const [ready, setReady] = useState(false);
  useEffect(() => {
    if (ready) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const frame = typeof requestAnimationFrame === "function"
      ? requestAnimationFrame(() => { timer = setTimeout(() => setReady(true), 0); }) : undefined;
    if (frame === undefined) timer = setTimeout(() => setReady(true), 0);
    return () => {
      if (frame !== undefined) cancelAnimationFrame(frame);
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [ready]);
  return ready;
}
