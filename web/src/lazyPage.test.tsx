import { afterEach, describe, expect, it } from "vitest";
import { Suspense } from "react";
import { act, cleanup, render } from "@testing-library/react";
import { lazyPage } from "./lazyPage";

afterEach(cleanup);

describe("lazyPage", () => {
  it("renders preloaded code at once, without the Suspense fallback; loads it on first render otherwise", async () => {
    let loads = 0;
    const Page = lazyPage(async () => { loads += 1; return { default: ({ who }: { who: string }) => <b>hello {who}</b> }; });
    const cold = render(<Suspense fallback={<i>loading</i>}><Page who="cold" /></Suspense>);
    expect(cold.container.textContent).toBe("loading");            // not loaded yet: suspends
    await act(async () => { await Page.preload(); });
    expect(cold.container.textContent).toBe("hello cold");
    expect(loads).toBe(1);                                          // one load, shared
    cleanup();
    // preloaded before its first render (a deep link): React.lazy would still suspend once here
    const Other = lazyPage(async () => ({ default: ({ who }: { who: string }) => <b>hi {who}</b> }));
    await Other.preload();
    const warm = render(<Suspense fallback={<i>loading</i>}><Other who="warm" /></Suspense>);
    expect(warm.container.textContent).toBe("hi warm");             // first render: no fallback
  });
});
