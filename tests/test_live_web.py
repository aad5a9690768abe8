"""The live view in a real browser (issue 23, item 5): a sample race replayed into a SQLite store while Debian's
chromium (Playwright) watches /race/barber-r1/live (the API owns /live/...) from `serve` (the built app, strict
CSP). The page gets the ``initial`` state, then folds every ``update``'s JSON Patch; at the ``end`` the timing
tower shows the final order, which is the live state's order and the race's official finishing order. Pause
holds the events (nothing applied while paused, nothing lost after); a click on a car puts it in the URL and
shows its live section losses. The track map shows one marker per running car (the state folded from the store
up to the page's last event) and a click on one shows that car's coaching note; at 390 px the view fits the
phone. Screenshots under reports/ui/; axe-core: no serious or critical violation.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from test_web_e2e import (ARGS, CHROMIUM, CSP, DIST, PHONE, ROOT, SERVER, SHOTS, SMALL_TEXT, Page, _free_port,
                          _missing)

RACE = "barber-r1"

# serve (the built app, under the CSP) with the live stream's settings overridden (poll_s, keepalive_s, retry_ms)
LIVE_SERVER = SERVER.replace("app = create_app({store!r}, web_dir={dist!r}, pointer_ttl_s=5)",
                             "app = create_app({store!r}, web_dir={dist!r}, pointer_ttl_s=5)\n"
                             "live = {live!r}\nif live: app.state.live_config = live")


def sample_race(tmp: Path):
    """barber-r1 of the sample season (data/sample when present, else written under ``tmp``)."""
    from kaizenlap.ingest.loader import load
    from kaizenlap.sample import write_season
    sample = ROOT / "data" / "sample"
    if not (sample / "barber").is_dir():
        write_season(tmp / "sample")
        sample = tmp / "sample"
    races, _ = load([sample / "barber"], race_ids=[RACE], use_cache=False)
    return races[0]


def start_server(url: str, live: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    code = LIVE_SERVER.format(root=str(ROOT), store=url, dist=str(DIST), csp=CSP, port=port, live=live or {})
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(ROOT))
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("serve did not start")


class Publisher(threading.Thread):
    """publish_live of ``race`` into ``url`` in a thread: the ``initial`` first, then it waits for ``go`` (the
    page is open) before the crossings; ``times[id]`` = time.time() just after each event's append."""

    def __init__(self, race, url: str, speed: float, analysis_every: int, limit: int | None = None,
                 reps: int | None = 60, background: bool = True) -> None:
        super().__init__(daemon=True)
        self.background = background
        self.race, self.url, self.speed, self.every = race, url, speed, analysis_every
        self.limit, self.reps = limit, reps
        self.first, self.go, self.times, self.run_ = threading.Event(), threading.Event(), {}, None
        self.crossing_t: dict[int, float] = {}        # update id -> the crossing's race time
        self.error: BaseException | None = None

    def on_event(self, eid: int, kind: str, data: dict) -> None:
        self.times[eid] = time.time()
        if kind == "update":
            self.crossing_t[eid] = data["crossing"]["t_s"]
        if kind == "initial":
            self.first.set()
            self.go.wait(120)

    def run(self) -> None:
        from contextlib import nullcontext

        from kaizenlap.engines.common import engine_settings
        from kaizenlap.live.feed import ReplayFeed
        from kaizenlap.live.publish import publish_live
        from kaizenlap.store import open_store
        try:
            with open_store(self.url) as s, (engine_settings({"bootstrap": {"reps": self.reps}}) if self.reps
                                               else nullcontext()):
                self.run_ = publish_live(ReplayFeed(self.race), s, speed=self.speed, analysis_every=self.every,
                                         on_event=self.on_event, limit=self.limit, background=self.background)
        except BaseException as e:          # noqa: BLE001 - reported by the test
            self.error = e
            self.first.set()


@pytest.fixture(scope="module")
def live_site(tmp_path_factory):
    why = _missing()
    if why:
        if os.environ.get("CI") or os.environ.get("KAIZENLAP_REQUIRE_TRD") == "1":
            pytest.fail(why)
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("live-web")
    race = sample_race(tmp)
    url = f"sqlite:///{tmp / 'store.db'}"
    pub = Publisher(race, url, speed=150, analysis_every=4)
    pub.start()
    assert pub.first.wait(120) and pub.error is None, pub.error
    proc, base = start_server(url, {"poll_s": 0.05, "keepalive_s": 5, "retry_ms": 500})
    yield race, pub, base
    pub.go.set()
    pub.join(120)
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser(live_site):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _tower(pg) -> list[dict]:
    return pg.evaluate("""() => [...document.querySelectorAll('[data-testid=timing-tower] tbody tr')].map(r => ({
        car: r.dataset.car, position: Number(r.dataset.position),
        best: r.querySelector('[data-col=best]').textContent, gap: r.querySelector('[data-col=gap]').textContent,
        sectors: [...r.querySelectorAll('[data-sector]')].map(c => c.dataset.colour)}))""")


def _sentence(text: str) -> str:
    return text if text.rstrip().endswith((".", "!", "?")) else text + "."


def _running(state: dict) -> set[str]:
    """The cars still on track: crossed a timing point and not yet at the line under the chequered flag."""
    flag = state.get("flag") or {}
    ff = flag.get("since_t_s") if flag.get("value") == "FF" else None
    return {c for c, e in state["cars"].items() if e["point"] is not None
            and not (ff is not None and e["point"] == "fl" and e["t_s"] >= ff)}


def _map_cars(pg) -> tuple[list[str], list[str]]:
    """The cars TrackMap draws a marker for, and the clickable car labels over them."""
    return (pg.evaluate("() => [...document.querySelectorAll('[data-testid=track-map] [data-testid^=marker-]')]"
                        ".map(g => g.dataset.testid.slice(7))"),
            pg.evaluate("() => [...document.querySelectorAll('[data-testid^=map-car-]')].map(g => g.dataset.testid.slice(8))"))


def _check_map_mid_race(p: Page, pub) -> None:
    """Paused mid-race: the map's markers are exactly the running cars of the page's state (folded from the
    store up to the last event the page applied); a click on a car with a note shows that note."""
    from kaizenlap.store import open_store
    from kaizenlap.store.base import fold_live
    pg = p.page
    for _ in range(40):
        pg.click("[data-testid=pause]")
        pg.wait_for_timeout(300)
        last = pg.evaluate("() => Math.max(...window.__liveLog.map(e => e.id))")
        with open_store(pub.url) as st:
            state = fold_live(st.live_events(RACE, 0, last))
        running = _running(state)
        noted = [c for c in state["order"] if c in running and state["cars"][c].get("note")]
        if noted and state["flag"]["value"] != "FF":
            break
        pg.click("[data-testid=pause]")                 # no note yet: let the engines land one
        pg.wait_for_timeout(400)
    else:
        raise AssertionError("no running car got a coaching note")
    markers, labels = _map_cars(pg)
    assert sorted(markers) == sorted(labels) == sorted(running) and len(running) > 10, (markers, running)
    fs = [float(x) for x in pg.evaluate("() => [...document.querySelectorAll('[data-testid^=map-car-]')]"
                                        ".map(g => g.dataset.f)")]
    assert all(0 <= f < 1 for f in fs) and len(set(fs)) > 1
    car = noted[0]
    pg.click(f"[data-testid=map-car-{car}]")
    pg.wait_for_selector("[data-testid=live-note-text]")
    assert f"car={car}" in pg.url
    assert pg.locator("[data-testid=live-note-text]").inner_text() == _sentence(state["cars"][car]["note"]["text"])
    assert pg.locator(f"[data-testid=map-car-{car}]").get_attribute("aria-pressed") == "true"
    p.axe("live-map-note")
    pg.click(f"[data-testid=map-car-{car}]")            # again: unpicked
    pg.wait_for_function("() => !location.search.includes('car=')")
    pg.click("[data-testid=pause]")


def _fmt(s: float | None) -> str:
    if s is None:
        return "–"
    ms = round(s * 1000)
    m, rest = divmod(ms, 60000)
    return f"{m}:{rest / 1000:06.3f}" if m else f"{rest / 1000:.3f}"


def test_live_tower_follows_the_replay_to_the_final_order(live_site, browser):
    race, pub, base = live_site
    p = Page(browser, base)
    pg = p.page
    pg.goto(f"{base}/race/{RACE}/live")
    pg.wait_for_selector("[data-testid=timing-tower] tbody tr")
    assert pg.locator("[data-testid=replay-badge]").inner_text().strip() == "REPLAY"
    pub.go.set()                                                  # the crossings start now

    # pause: nothing applied while paused, the events wait in the buffer; resume applies them all
    pg.wait_for_function("() => (window.__liveLog || []).filter(e => e.kind === 'update').length > 20", timeout=60000)
    pg.click("[data-testid=pause]")
    pg.wait_for_timeout(300)
    n0 = pg.evaluate("() => window.__liveLog.length")
    lap0 = pg.locator("[data-testid=lap-counter]").inner_text()
    pg.wait_for_timeout(1500)
    assert pg.evaluate("() => window.__liveLog.length") == n0
    assert pg.locator("[data-testid=lap-counter]").inner_text() == lap0
    held = int(pg.locator("[data-testid=buffered]").inner_text().split()[0])
    assert held > 0
    p.axe("live-paused")
    pg.click("[data-testid=pause]")
    pg.wait_for_function(f"() => window.__liveLog.length >= {n0 + held}", timeout=10000)

    # the map, mid-race (after a few leader laps: the engines' notes)
    pg.wait_for_function("() => Number(document.querySelector('[data-testid=lap-counter]').textContent"
                         ".match(/Lap (\\d+)/)[1]) >= 6", timeout=60000)
    _check_map_mid_race(p, pub)

    # the end: the tower shows the final order
    pg.wait_for_selector("[data-testid=live-status][data-status=ended]", timeout=180000)
    pg.wait_for_selector("[data-testid=feed-ended]")
    pub.join(60)
    assert pub.error is None, pub.error
    run = pub.run_
    log = pg.evaluate("() => window.__liveLog")
    ids = [e["id"] for e in log]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert sum(e["kind"] == "update" for e in log) == run.crossings       # every patch applied, none twice
    assert log[-1]["kind"] == "end" and log[-1]["id"] == run.last_id

    with urllib.request.urlopen(f"{base}/live/{RACE}") as r:
        snap = json.load(r)
    assert snap["ended"] and snap["last_event_id"] == run.last_id
    state = snap["state"]
    tower = _tower(pg)
    assert [r["car"] for r in tower] == state["order"]                 # the page's fold = the server's state
    assert [r["position"] for r in tower] == list(range(1, len(tower) + 1))
    for r in tower:
        car = state["cars"][r["car"]]
        assert r["best"] == _fmt(car["best_lap_s"]), r
        assert r["sectors"] == [car["sections"].get(s, {}).get("colour", "none") for s in ("s1", "s2", "s3")]
    assert tower[0]["gap"] == "Leader"
    assert pg.locator("[data-testid=lap-counter]").inner_text().startswith(f"Lap {state['leader_lap']}")
    # ... and the race's official finishing order (the results file)
    official = [str(n) for n in race.results.sort_values("position")["number"]]
    assert [r["car"] for r in tower] == official, ([r["car"] for r in tower], official)
    # purple somewhere (each sector's field best belongs to some car's latest time only if not beaten since)
    assert any("overall_best" in r["sectors"] or "personal_best" in r["sectors"] for r in tower)
    assert not p.csp, p.csp
    p.axe("live-final")

    # a car: in the URL, its live section losses from the engines on the laps so far
    winner = tower[0]["car"]
    pg.click(f"[aria-label='car {winner}']")
    pg.wait_for_selector("[data-testid=car-live-detail]")
    assert f"car={winner}" in pg.url
    assert pg.locator("[data-testid=live-section-losses] tbody tr").count() >= 3
    # its note: the engines over every lap (the end event's patch), as the server's state has it
    assert pg.locator("[data-testid=live-note-text]").inner_text() == _sentence(state["cars"][winner]["note"]["text"])
    assert state["field"]["analysis"]["laps"] == len(race.laps)
    assert _map_cars(pg) == ([], []) and _running(state) == set()        # every car has taken the flag
    p.axe("live-car")
    pg.reload()                                                        # the deep link reopens it
    pg.wait_for_selector("[data-testid=car-live-detail]")
    assert pg.locator("[data-testid=timing-tower] tbody tr").count() == len(state["order"])
    p.ctx.close()


def test_live_not_live_and_delay_in_the_url(live_site, browser):
    race, pub, base = live_site
    p = Page(browser, base)
    pg = p.page
    pg.goto(f"{base}/race/nowhere-r9/live")
    pg.wait_for_selector("[data-testid=not-found]", timeout=20000)
    pg.goto(f"{base}/race/{RACE}/live?delay=2")
    assert pg.locator("[data-testid=delay]").inner_text().strip().startswith("2 s")
    p.ctx.close()


def test_live_phone_layout(live_site, browser):
    """At 390x844 the finished replay's view fits the width (the tower scrolls inside its panel), the map and
    a car's note are there, no text outside the charts below 12 px."""
    race, pub, base = live_site
    pub.go.set()                    # (run alone: the replay starts now)
    pub.join(120)
    with urllib.request.urlopen(f"{base}/live/{RACE}") as r:
        state = json.load(r)["state"]
    car = state["order"][0]
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.goto(f"{base}/race/{RACE}/live?car={car}")
    pg.wait_for_selector("[data-testid=live-note-text]")
    pg.wait_for_selector("[data-testid=live-map] [data-testid=track-map]")
    pg.wait_for_timeout(300)
    wide = pg.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
        && !(e.parentElement && e.parentElement.getBoundingClientRect().right > 391)).slice(0, 5)
        .map(e => e.tagName + '.' + e.className + ' ' + (e.dataset.testid || '') + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide
    assert pg.evaluate(SMALL_TEXT) == []
    box = pg.locator("[data-testid=live-map] [data-testid=track-map]").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert pg.locator("[data-testid=live-flag]").get_attribute("data-flag") == "FF"
    assert pg.locator("[data-testid=live-status]").get_attribute("data-status") == "ended"   # not "connection lost"
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / "phone-live.png"), full_page=True)
    ctx.close()
