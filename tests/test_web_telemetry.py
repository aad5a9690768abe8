"""The Telemetry mode in a real browser (Debian's chromium via Playwright, the fixtures of test_web_e2e: the sample
season's Barber and COTA races published with every engine, the telemetry task included, and served under the
strict CSP).

Barber race 1 has telemetry in the sample: open a car, Telemetry mode; the traces are drawn with the corners
named; the delta trace ends at the API's lap difference; the cursor reads the API's values at its distance; the
map is coloured along the outline; the reference is kept in the URL; against its own best, the car's median clean
lap is drawn against its best lap with its delta trace and corners' parts. Barber race 2 has none: the page says so.
axe-core passes; at 390x844 nothing scrolls sideways. Screenshots under reports/ui/telemetry-*.
"""
from __future__ import annotations

import re

from test_web_e2e import PHONE, SHOTS, Page, _api, browser, phone_fits, site  # noqa: F401  (fixtures)

RACE = "barber-r1"


def _car_and_reference(base: str) -> tuple[str, str, dict, dict]:
    s = _api(base, f"/races/{RACE}/telemetry")
    ref = s["reference_car"]
    car = next(c["car"] for c in s["cars"] if c["car"] != ref)       # a car that is not the fastest
    return car, ref, s, _api(base, f"/races/{RACE}/cars/{car}/telemetry")


def _numbers(text: str) -> list[float]:
    return [float(x.replace("−", "-")) for x in re.findall(r"[−+-]?\d+\.\d+", text)]


def test_telemetry_mode(site, browser):
    base, _ = site
    car, ref, s, cmp = _car_and_reference(base)
    assert cmp["reference_car"] == ref and ref != car
    p = Page(browser, base)
    pg = p.page
    pg.goto(f"{base}/race/{RACE}")
    pg.get_by_test_id(f"car-row-{car}").click()
    pg.get_by_test_id("mode-telemetry").click()
    traces = pg.get_by_test_id("telemetry-traces")
    traces.wait_for()
    assert "mode=telemetry" in pg.url and f"car={car}" in pg.url
    # speed, throttle and brake, both laps each; the corners named on the distance axis (names, not ids)
    for k in ("speed_kph", "throttle_pct", "brake_bar"):
        g = pg.get_by_test_id(f"trace-{k}")
        assert g.locator("polyline[data-who=car]").count() >= 1 and g.locator("polyline[data-who=reference]").count() >= 1
    names = traces.locator("[data-corner]").all_text_contents()
    assert names == [c["corner"] for c in s["corners"]] and len(names) >= 5
    # the delta trace ends at the API's lap difference, and the corners' parts add up to it
    last = float(pg.get_by_test_id("delta-trace").get_attribute("data-last"))
    assert abs(last - cmp["lap_delta_s"]) <= 0.001, (last, cmp["lap_delta_s"])
    total = _numbers(pg.get_by_test_id("corner-parts-sum").inner_text())
    assert abs(total[0] - cmp["lap_delta_s"]) <= 0.001, total
    heading = pg.get_by_test_id("telemetry-heading").inner_text()
    for t in (cmp["lap_time_s"], cmp["reference_lap_time_s"]):
        m, sec = divmod(round(t * 1000), 60000)
        assert f"{m}:{sec / 1000:06.3f}" in heading, heading           # lap times as m:ss.mmm
    # the cursor: the readout shows the API's values at the distance under the pointer
    box = traces.bounding_box()
    for frac in (0.3, 0.62):
        x = box["x"] + box["width"] * frac
        pg.mouse.move(x, box["y"] + box["height"] * 0.5)
        out = pg.get_by_test_id("telemetry-readout")
        i = int(out.get_attribute("data-index"))
        d = cmp["distance_m"][i]
        assert float(out.get_attribute("data-distance")) == d
        # the distance under the pointer (the chart's x axis: 56..590 of 600 in its viewBox), within one step
        want = ((frac * 600) - 56) / (600 - 56 - 10) * s["length_m"]
        assert abs(d - want) <= cmp["step_m"] + 0.5, (d, want)
        for key, ch in (("speed", "speed_kph"), ("throttle", "throttle_pct"), ("brake", "brake_bar")):
            shown = _numbers(pg.get_by_test_id(f"read-{key}").inner_text())
            api = [cmp["channels"][ch][i], cmp["reference_channels"][ch][i]]
            assert all(abs(a - b) <= 0.05 + 1e-9 for a, b in zip(shown, api)) and len(shown) == 2, (key, shown, api)
        delta = _numbers(pg.get_by_test_id("read-delta").inner_text())[0]
        assert abs(delta - cmp["delta_s"][i]) <= 0.0005 + 1e-9, (delta, cmp["delta_s"][i])
        assert pg.get_by_test_id("cursor-line").count() == 1 and pg.get_by_test_id("marker-cursor").count() == 1
    # the map is coloured along the outline by the running delta
    assert pg.locator("[data-testid=map-along] path").count() == 120
    assert pg.get_by_test_id("delta-legend").is_visible()
    p.axe("telemetry")
    # the reference lap is kept in the URL: its own best, then back to the fastest car
    pg.get_by_test_id("tref-own").click()
    pg.get_by_test_id("own-best-corners").wait_for()
    assert "tref=own" in pg.url and "n=" in pg.get_by_test_id("own-best-corners").inner_text()
    # against its own best: its median clean lap against its best lap, with the delta trace and the corners' parts
    own = _api(base, f"/races/{RACE}/cars/{car}/telemetry?ref=own")
    mine = next(x for x in s["cars"] if x["car"] == car)
    assert own["own_best"] and own["lap_kind"] == "median" and own["reference_lap"] == mine["reference"]["lap"]
    assert own["lap"] != own["reference_lap"] and own["lap_delta_s"] > 0
    assert abs(sum(x["delta_s"] for x in own["corners"]) - own["lap_delta_s"]) < 0.001
    pg.get_by_test_id("delta-trace").wait_for()
    pg.wait_for_function(f"document.querySelector('[data-testid=telemetry-heading]').innerText.includes('lap {own['lap']} ')")
    last = float(pg.get_by_test_id("delta-trace").get_attribute("data-last"))
    assert abs(last - own["lap_delta_s"]) <= 0.001 and abs(last - own["delta_s"][-1]) <= 0.0005, (last, own["lap_delta_s"])
    total = _numbers(pg.get_by_test_id("corner-parts-sum").inner_text())
    assert abs(total[0] - own["lap_delta_s"]) <= 0.001, total
    heading = pg.get_by_test_id("telemetry-heading").inner_text()
    assert "against its best lap" in heading and "the median of its" in heading, heading
    for t in (own["lap_time_s"], own["reference_lap_time_s"]):
        m, sec = divmod(round(t * 1000), 60000)
        assert f"{m}:{sec / 1000:06.3f}" in heading, heading
    for k in ("speed_kph", "throttle_pct", "brake_bar"):
        g = pg.get_by_test_id(f"trace-{k}")
        assert g.locator("polyline[data-who=car]").count() >= 1 and g.locator("polyline[data-who=reference]").count() >= 1
    pg.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    out = pg.get_by_test_id("telemetry-readout")
    i = int(out.get_attribute("data-index"))
    shown = _numbers(pg.get_by_test_id("read-speed").inner_text())
    want = [own["channels"]["speed_kph"][i], own["reference_channels"]["speed_kph"][i]]
    assert len(shown) == 2 and all(abs(a - b) <= 0.05 + 1e-9 for a, b in zip(shown, want)), (shown, want)
    assert abs(_numbers(pg.get_by_test_id("read-delta").inner_text())[0] - own["delta_s"][i]) <= 0.0005 + 1e-9
    assert pg.locator("[data-testid=map-along] path").count() == 120
    p.axe("telemetry-own-best")
    # the lap compared with its best is kept in the URL (&tlap=): a deep link opens that lap (here the best lap
    # itself, ±0.000 s, since the sample's cars have two complete laps each), and it survives a reload
    pick = own["reference_lap"]
    heading = pg.get_by_test_id("telemetry-heading").filter(has_text=f"lap {pick} (")
    pg.goto(pg.url + f"&tlap={pick}")
    heading.wait_for()
    assert f"tlap={pick}" in pg.url and pg.get_by_test_id("lap-difference").inner_text() == "±0.000 s"
    pg.reload()
    heading.wait_for()
    pg.get_by_test_id("own-best-corners").wait_for()
    pg.get_by_test_id("tref-fastest").click()
    pg.get_by_test_id("delta-trace").wait_for()
    assert "tref=" not in pg.url
    # a race without telemetry says so (the API's 404)
    pg.goto(f"{base}/race/barber-r2?car={car}&mode=telemetry")
    msg = pg.get_by_test_id("no-telemetry")
    msg.wait_for()
    assert "No telemetry for this race" in msg.inner_text()
    p.axe("telemetry-none")
    assert p.csp == [], p.csp
    p.ctx.close()


def test_telemetry_on_a_phone(site, browser):
    base, _ = site
    car, _, _, cmp = _car_and_reference(base)
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    SHOTS.mkdir(parents=True, exist_ok=True)

    fits = phone_fits(pg, full_page=True)

    pg.goto(f"{base}/race/{RACE}?car={car}&mode=telemetry")
    traces = pg.get_by_test_id("telemetry-traces")
    traces.wait_for()
    pg.get_by_test_id("corner-parts").wait_for()
    fits("telemetry")
    traces.tap(position={"x": traces.bounding_box()["width"] * 0.5, "y": 60})     # a tap reads the channels too
    out = pg.get_by_test_id("telemetry-readout")
    i = int(out.get_attribute("data-index"))
    assert abs(_numbers(pg.get_by_test_id("read-speed").inner_text())[0] - cmp["channels"]["speed_kph"][i]) <= 0.05 + 1e-9
    pg.goto(f"{base}/race/barber-r2?car={car}&mode=telemetry")
    pg.get_by_test_id("no-telemetry").wait_for()
    fits("telemetry-none")
    ctx.close()
