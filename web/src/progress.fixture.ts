import type { RaceProgress } from "./progress";

// A hand-made race of three cars over four laps, under caution on laps 2–3: A leads throughout; B runs second,
// 12.5 s down at the flag; C is a lap down on its lap 3 (A crossed its line 4 before C crossed its line 3) and
// stops there, without an eligible lap (no fastest lap) and unclassified.
const lap = (l: number, race_time_s: number, position: number, gap_s: number, laps_down = 0) =>
  ({ lap: l, race_time_s, position, gap_s, laps_down });
export const RACE: RaceProgress = {
  race_id: "r", track_id: "t", leader_laps: 4, winner_time_s: 400, caution_laps: [2, 3],
  cars: [
    { car: "A", number: "A", final_position: 1, official_position: 1, laps: 4, race_time_s: 400, gap_s: 0, laps_down: 0,
      best_lap_s: 98.5, best_lap: 4, by_lap: [lap(1, 100, 1, 0), lap(2, 205, 1, 0), lap(3, 301.5, 1, 0), lap(4, 400, 1, 0)] },
    { car: "B", number: "B", final_position: 2, official_position: 3, laps: 4, race_time_s: 412.5, gap_s: 12.5, laps_down: 0,
      best_lap_s: 99.0, best_lap: 1, by_lap: [lap(1, 101, 2, 1), lap(2, 208, 2, 3), lap(3, 311.5, 2, 10), lap(4, 412.5, 2, 12.5)] },
    { car: "C", number: "C", final_position: 3, official_position: null, laps: 3, race_time_s: 420, gap_s: 118.5, laps_down: 1,
      best_lap_s: null, best_lap: null, by_lap: [lap(1, 102, 3, 2), lap(2, 230, 3, 25), lap(3, 420, 3, 118.5, 1)] },
  ],
};
