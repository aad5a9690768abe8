import { createElement, lazy, type ComponentType } from "react";

/** React.lazy with ``preload()``: once the code is here, the component renders it directly. A plain lazy
 *  component suspends on its first render even when its code has already loaded, and React holds a revealed
 *  Suspense boundary back for up to 300 ms after its fallback showed: a deep link whose code and data are
 *  preloaded renders at once instead. */
export type Preloadable<P> = ComponentType<P> & { preload: () => Promise<unknown> };

export function lazyPage<P extends object>(load: () => Promise<{ default: ComponentType<P> }>): Preloadable<P> {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<{ default: ComponentType<P> }> | undefined;
  const start = () => (pending ??= load().then((m) => { loaded = m.default; return m; },
    (e) => { pending = undefined; throw e; }));
  const Lazy = lazy(start);
  const Page = (props: P) => createElement((loaded ?? Lazy) as ComponentType<P>, props);
  return Object.assign(Page, { preload: () => start() });
}
