import { useEffect } from "react";

/** "KaizenLap — <parts joined by · >": every view sets the page title, so going back restores it. */
export function pageTitle(...parts: (string | undefined | null | false)[]): string {
  const p = parts.filter(Boolean) as string[];
  return p.length ? `KaizenLap — ${p.join(" · ")}` : "KaizenLap";
}

export function useTitle(...parts: (string | undefined | null | false)[]): void {
  const t = pageTitle(...parts);
  useEffect(() => { document.title = t; }, [t]);
}
