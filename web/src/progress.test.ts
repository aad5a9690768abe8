import { describe, expect, it } from "vitest";
import { atLap, cautionSpans, cautionWords, fastestMarks, gapMax, progressSeries, timeGaps, type RaceProgress } from "./progress";
import { RACE } from "./progress.fixture";
import { roadStory } from "./pages/RacePage";

describe("the race lap by lap: chart data", () => {
  it("one series per car in classification order, the gap (s) or the position at each line", () => {
    const gap = progressSeries(RACE, "gap");
    expect(gap.map((s) => s.car)).toEqual(["A", "B", "C"]);
    expect(gap[1].points).toEqual([[1, 1], [2, 3], [3, 10], [4, 12.5]]);
    expect(gap[2].lapped).toEqual([false, false, true]);
    expect(progressSeries(RACE, "position")[2].points).toEqual([[1, 3], [2, 3], [3, 3]]);
  });
  it("the gap axis ends at the largest gap on the leader's lap: a lapped car's 118.5 s would flatten the rest", () => {
    expect(gapMax(RACE)).toBe(25);
    expect(gapMax({ ...RACE, cars: [RACE.cars![0]] })).toBe(1);              // a lone car: at least 1 s
  });
  it("caution laps become spans of the lap axis (lap k runs from k − 1 to k), consecutive laps joined", () => {
    expect(cautionSpans([2, 3])).toEqual([[1, 3]]);
    expect(cautionSpans([13, 1, 2, 12])).toEqual([[0, 2], [11, 13]]);
    expect(cautionSpans([])).toEqual([]);
    expect(cautionWords([1, 2, 12, 13])).toBe("laps 1–2 and 12–13");
    expect(cautionWords([7])).toBe("lap 7");
    expect(cautionWords([])).toBe("no caution laps");
  });
  it("each car's fastest lap sits on its line at that lap; the race's fastest is marked once", () => {
    const g = fastestMarks(RACE, "gap");
    expect(g).toEqual([{ car: "A", lap: 4, time_s: 98.5, y: 0, overall: true },
      { car: "B", lap: 1, time_s: 99.0, y: 1, overall: false }]);                // C has no eligible lap: no mark
    expect(fastestMarks(RACE, "position").map((m) => m.y)).toEqual([1, 2]);
    expect(atLap(RACE.cars![2], 4)).toBeUndefined();
    expect(atLap(RACE.cars![1], 3)?.gap_s).toBe(10);
  });
  it("time gaps to the winner at the line, for the cars on its lap only", () => {
    expect([...timeGaps(RACE, "A")]).toEqual([["A", 0], ["B", 12.5]]);
    expect([...timeGaps(RACE, "B")]).toEqual([["A", -12.5], ["B", 0]]);         // a penalised car ahead on the road
    expect(timeGaps(RACE, undefined).size).toBe(0);
    expect(timeGaps(undefined, "A").size).toBe(0);
  });
  it("the summary's story: the margin at the line, and who crossed first when a penalty changed the result", () => {
    expect(roadStory(RACE, "A")).toEqual({ winTime: 400, margin: "Won by 12.500 s over #B at the line." });
    // the officials classified B first (A penalised): B's margin to the official P2 is not a lead on the road
    const pen: RaceProgress = { ...RACE, cars: RACE.cars!.map((c) => ({ ...c,
      official_position: c.car === "A" ? 2 : c.car === "B" ? 1 : null })) };
    expect(roadStory(pen, "B")).toEqual({ winTime: 412.5,
      margin: "On the road #A crossed the line first, 12.500 s ahead of #B; the officials classified it P2 (a penalty)." });
    expect(roadStory(undefined, "A")).toEqual({});
  });
});
