import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render } from "@testing-library/react";
import { GapPositionChart } from "./GapPositionChart";
import { RACE } from "../progress.fixture";

afterEach(cleanup);

describe("the race lap by lap, drawn", () => {
  it("one line per car, the cautions shaded, the fastest laps marked, the picked car highlighted", () => {
    let mode = "", picked = "";
    const { getByTestId, container } = render(<GapPositionChart doc={RACE} mode="gap" selected="B"
      onMode={(m) => (mode = m)} onPick={(c) => (picked = c)} />);
    const lines = container.querySelectorAll("polyline[data-testid^=progress-line-]");
    expect([...lines].map((l) => l.getAttribute("data-testid"))).toEqual(["progress-line-A", "progress-line-C", "progress-line-B"]);  // the picked car drawn last, on top
    expect(getByTestId("progress-line-B").getAttribute("data-selected")).toBe("true");
    expect(getByTestId("progress-line-B").getAttribute("stroke-width")).toBe("3");
    expect(getByTestId("progress-line-A").getAttribute("data-selected")).toBeNull();
    expect(container.querySelectorAll("[data-testid=caution-span]")).toHaveLength(1);
    expect(container.querySelectorAll("[data-testid=fastest-lap-overall]")).toHaveLength(1);
    expect(container.querySelectorAll("[data-testid^=fastest-mark-]")).toHaveLength(1);
    const caption = getByTestId("progress-caption").textContent!;
    expect(caption).toContain("caution (laps 2–3)");
    expect(caption).toContain("#A 1:38.500 on lap 4");
    expect(getByTestId("progress-selected").textContent).toBe(" #B: P2 on the road at the flag (official P3), 4 laps, +12.500 s; fastest lap 1:39.000 (lap 1).");
    fireEvent.click(getByTestId("chart-position"));
    expect(mode).toBe("position");
    fireEvent.click(getByTestId("progress-line-C"));
    expect(picked).toBe("C");
  });
  it("the arrow keys read one lap: the leader and the picked car there", () => {
    const { getByTestId } = render(<GapPositionChart doc={RACE} mode="position" selected="C" onMode={() => undefined} onPick={() => undefined} />);
    const svg = getByTestId("progress-svg");
    fireEvent.keyDown(svg, { key: "ArrowRight" });
    fireEvent.keyDown(svg, { key: "ArrowRight" });
    fireEvent.keyDown(svg, { key: "ArrowRight" });
    expect(getByTestId("progress-readout").textContent).toBe("Lap 3: #A leads; #C P3, +118.500 s (1 lap down).");
    fireEvent.keyDown(svg, { key: "ArrowRight" });
    expect(getByTestId("progress-readout").textContent).toBe("Lap 4: #A leads; #C did not complete it.");
  });
});
