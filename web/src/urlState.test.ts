import { describe, expect, it } from "vitest";
import { parseState, stateToSearch, type ViewState } from "./urlState";

describe("URL state round trip", () => {
  it("every view state survives URL -> state -> URL", () => {
    const cases: ViewState[] = [
      { mode: "sections" },
      { car: "11", mode: "weather" },
      { car: "7-2", mode: "patterns", lap: 0, section: "im2a", set: "subsections" },
      { car: "22", mode: "coaching", section: "s3", set: "sectors", lap: 17 },
      { car: "5", mode: "weather", coach: true },
      { car: "13", mode: "sections", rel: true },
      { car: "22", mode: "sections", ref: "11" },
      { car: "27", mode: "telemetry", tref: "own" },
      { car: "27", mode: "telemetry", tref: "own", tlap: 12 },
      { car: "27", mode: "telemetry", ref: "5", tref: "11" },
      { mode: "sections", chart: "position" },
      { car: "13", mode: "weather", chart: "position" },
    ];
    for (const s of cases) {
      const back = parseState(stateToSearch(s));
      expect(back).toEqual({ ...s, car: s.car, section: s.section, lap: s.lap, set: s.set, coach: s.coach, rel: s.rel, ref: s.ref, tref: s.tref, tlap: s.tlap, chart: s.chart });
      expect(stateToSearch(back)).toBe(stateToSearch(s));
    }
  });
  it("bad values fall back instead of breaking the page", () => {
    expect(parseState("?mode=nonsense&lap=abc&set=x&tlap=x1")).toEqual({ car: undefined, mode: "sections", section: undefined, lap: undefined, set: undefined, coach: undefined, rel: undefined, ref: undefined, tref: undefined, tlap: undefined });
    expect(stateToSearch({ mode: "sections" })).toBe("");
    expect(parseState("?car=13&section=zz").section).toBeUndefined();
    expect(parseState("?chart=gap").chart).toBeUndefined();                 // the gap chart is the default
    expect(parseState("?chart=bogus").chart).toBeUndefined();       // an unknown section opens no panel
    expect(parseState("?car=13&section=im2a").section).toBe("im2a");
  });
});
