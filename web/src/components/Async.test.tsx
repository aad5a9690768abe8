import { afterEach, describe, expect, it } from "vitest";
import { act, cleanup, render } from "@testing-library/react";
import { useApi, type Result } from "./Async";
import { track } from "../api/client";

afterEach(cleanup);

function deferred<T>() {
  let resolve!: (v: T) => void, reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => { resolve = a; reject = b; });
  return { promise, resolve, reject };
}

describe("useApi", () => {
  it("renders data already settled at once, without a loading pass; keeps the previous data while the next loads", async () => {
    const seen: Result<string>[] = [];
    const ready = track(Promise.resolve("a"));
    await ready;                                        // settled before the view asks for it (a preloaded request)
    const next = deferred<string>();
    const promises: Record<string, Promise<string>> = { a: ready, b: next.promise };
    function View({ k }: { k: string }) {
      const r = useApi(() => promises[k], [k]);
      seen.push(r);
      return <span>{r.data ?? "…"}</span>;
    }
    const { container, rerender } = render(<View k="a" />);
    expect(seen[0]).toEqual({ loading: false, data: "a" });         // first render already has it
    expect(container.textContent).toBe("a");
    rerender(<View k="b" />);
    expect(seen.at(-1)).toEqual({ loading: true, data: "a" });      // old data shown while loading
    await act(async () => { next.resolve("b"); await next.promise; });
    expect(seen.at(-1)).toEqual({ loading: false, data: "b" });
    expect(container.textContent).toBe("b");
    const n = seen.length;
    rerender(<View k="b" />);
    expect(seen.at(-1)).toBe(seen[n - 1]);              // same deps: the same result object (memoised children keep)
  });

  it("says the error, and a fresh request after an error starts without the failed data", async () => {
    const bad = deferred<string>();
    const seen: Result<string>[] = [];
    function View() {
      const r = useApi(() => bad.promise, []);
      seen.push(r);
      return null;
    }
    render(<View />);
    expect(seen[0]).toEqual({ loading: true, data: undefined });
    await act(async () => { bad.reject(new Error("boom")); await bad.promise.catch(() => undefined); });
    expect(seen.at(-1)!.loading).toBe(false);
    expect(seen.at(-1)!.error?.message).toBe("boom");
  });
});
