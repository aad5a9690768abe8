// A car's season in words (the season page and the coaching follow-up): finish, pace against the field, consistency,
// the weakest section and whether the previous race's finding at the track held. Every number with its n and,
// where estimated, its 95% interval.
import type { Estimate, SeasonRace, Track } from "./api/client";
import { sectionLabel } from "./labels";
import { fmtDelta } from "./format";

type Finish = SeasonRace["finish"];
type Previous = NonNullable<SeasonRace["previous"]>;
type Finding = NonNullable<SeasonRace["finding"]>;

export const has = (x: number | null | undefined): x is number => x !== null && x !== undefined && Number.isFinite(x);

/** "Barber race 1" from the track's name (else its id). */
export function raceName(r: Pick<SeasonRace, "track_id" | "race_number" | "race_id">, tracks?: Track[]): string {
  const t = tracks?.find((x) => x.track_id === r.track_id);
  return r.race_number ? `${t?.name ?? r.track_id ?? r.race_id} race ${r.race_number}` : r.race_id;
}

/** "P4 of 21 (class P2) · lead lap · 24 laps"; no classified position: "not classified · DNF (13 laps)". */
export function finishText(f: Finish): string {
  const pos = has(f.position) ? `P${f.position} of ${f.field_size}${has(f.class_position) ? ` (class P${f.class_position})` : ""}`
    : "not classified";
  return `${pos} · ${f.status} · ${f.laps} lap${f.laps === 1 ? "" : "s"}`;
}

function ci(e: Estimate, fmt: (x: number) => string): string {
  return has(e.lo) && has(e.hi) ? `95% CI ${fmt(e.lo)} to ${fmt(e.hi)}, ` : "";
}

/** Pace gap to the field's median lap in words, with its interval and n. */
export function paceText(e: Estimate): string {
  if (!has(e.value)) return `no pace figure: too few clean laps beside a field to compare with (n=${e.n ?? 0})`;
  const nums = `${fmtDelta(e.value)} s/lap (${ci(e, (x) => fmtDelta(x))}n=${e.n} clean laps)`;
  const words = has(e.hi) && e.hi < 0 ? "faster than the field's median lap"
    : has(e.lo) && e.lo > 0 ? "slower than the field's median lap"
    : has(e.lo) ? "level with the field's median lap (the interval includes zero)"
    : "too few laps for an interval";
  return `${nums}: ${words}`;
}

/** "lap-to-lap spread 0.216 s (95% CI 0.163 to 0.319, n=20)" */
export function consistencyText(e: Estimate | null | undefined): string {
  if (!e || !has(e.value)) return "–";
  return `lap-to-lap spread ${e.value.toFixed(3)} s around its own trend (${ci(e, (x) => x.toFixed(3))}n=${e.n})`;
}

/** "IM2: 0.178 s/lap slower there than the car's overall pace predicts (95% CI +0.081 to +0.212, n=20)" */
export function findingText(f: Finding | null | undefined, track?: Track): string {
  if (!f) return "no section clearly weaker than the car's overall pace";
  const e = f.section_loss;
  return `${sectionLabel(f.section, track)}: ${has(e.value) ? e.value.toFixed(3) : "–"} s/lap slower there than the car's overall pace predicts (${ci(e, (x) => fmtDelta(x))}n=${e.n})`;
}

/** Whether the previous race's finding at this track held here, in words. */
export function previousText(p: Previous | null | undefined, prevName?: string, track?: Track): string {
  if (!p) return "First race at this track this season: no earlier finding to check.";
  const where = prevName ?? "The previous race here";
  if (!p.finding) return `${where} showed no section clearly weaker than the car's overall pace: nothing to check.`;
  const s = sectionLabel(p.finding.section, track);
  const before = p.finding.section_loss;
  const now = p.now;
  const nowText = now && has(now.value) ? `${now.value.toFixed(3)} s/lap here (${ci(now, (x) => fmtDelta(x))}n=${now.n})` : "no figure here";
  const chance = has(p.chance) ? ` A section picked at random would have held with a chance of ${Math.round(p.chance * 100)}%.` : "";
  if (p.held === true) return `Held: ${where}'s weakest section ${s} (${before.value?.toFixed(3)} s/lap, n=${before.n}) lost ${nowText} again.${chance}`;
  if (p.held === false) return `Did not hold: ${where}'s weakest section ${s} (${before.value?.toFixed(3)} s/lap, n=${before.n}) lost ${nowText}, not clearly slower than the car's overall pace predicts.${chance}`;
  return `${where}'s weakest section ${s}: no figure for it here.`;
}

/** Sections that were the weakest at two or more races of one track: "IM3A at Barber (2 races)". */
export function recurring(races: SeasonRace[], tracks?: Track[]): string[] {
  const count = new Map<string, number>();
  for (const r of races) if (r.finding) {
    const k = `${r.track_id}|${r.finding.section}`;
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  return [...count].filter(([, n]) => n >= 2).map(([k, n]) => {
    const [t, s] = k.split("|");
    const tr = tracks?.find((x) => x.track_id === t);
    return `${sectionLabel(s, tr)} at ${tr?.name ?? t} (${n} races)`;
  });
}

