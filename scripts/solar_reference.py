#!/usr/bin/env python3
"""Reference solar event times for src/schedule/solar.rs, computed with PyEphem.

How it was run (from the repository root; the venv is throwaway and not part of the repo):

    python3 -m venv /tmp/solar-venv
    /tmp/solar-venv/bin/pip install ephem          # PyEphem 4.2.1 was used
    /tmp/solar-venv/bin/python scripts/solar_reference.py > tests/data/solar_reference.csv

    /tmp/solar-venv/bin/python scripts/solar_reference.py --poles   # printed, pasted into tests

The output is deterministic (fixed locations and dates, no clock reads): running it again with
the same PyEphem version reproduces the file byte for byte.

Columns: lat,lon,date,event,utc_iso

* `date` is a UTC calendar date; the "day" it names is the local solar day whose transit is the
  one nearest to 12:00 - lon/15 h UTC on that date (the same definition as `solar::event_on`).
  Morning events (dawns, sunrise) are the crossing in the 12 h before that transit, evening
  events (dusks, sunset) the crossing in the 12 h after it.
* `utc_iso` is the event instant rounded to the second (`YYYY-MM-DDTHH:MM:SSZ`), or empty when
  the sun does not cross that altitude in that half-day (midnight sun / polar night / no
  astronomical night).
* Horizons follow the NOAA/USNO conventions, with PyEphem's own refraction switched off
  (pressure = 0): sunrise/sunset = upper limb at -0:34 (34' of standard refraction; the sun's
  real semidiameter is used), civil/nautical/astronomical twilight = centre at -6/-12/-18 deg,
  solar_noon = meridian transit.
* Every row is cross-checked against a brute-force scan of the sun's altitude at 1-minute steps
  (the event must exist exactly when the scan finds a crossing, and agree with it within 90 s),
  so PyEphem's rise/set search cannot silently return a crossing from a neighbouring day.

`--poles` prints, instead of the CSV, the events PyEphem finds in 2025 by a rise/set search
started at each day's 00:00 UTC (lon 0): sunset and astronomical dusk at 89.5 and 89.9 N, and all
eight rise/set/twilight events at 90 N and 90 S. The output is copied into the near-pole tests
in src/schedule/solar.rs. Near (not at) a pole every one of these events still happens on a few
days a year, because the sun's altitude spans -23.4..+23.4 deg over a year at every latitude;
only at the exact poles, where the sun has no diurnal rise or set, does PyEphem find none in
366 days.

Rows with |lat| <= 60 are the accuracy table (within 60 s required). Rows with |lat| > 60
(Anchorage; Tromsø, including the days around the end of its midnight sun and polar night) are
used for the polar-day/night tests (occurrence must agree; looser time bound).
"""

import math
import sys

import ephem

# name, lat, lon  (|lat| <= 60 unless marked as an extra in the docstring)
LOCATIONS = [
    ("New York", 40.7128, -74.0060),
    ("London", 51.5074, -0.1278),
    ("Sydney", -33.8688, 151.2093),
    ("Quito", -0.1807, -78.4678),
    ("Oslo", 59.9139, 10.7522),
    ("Tokyo", 35.6762, 139.6503),
    ("Singapore", 1.3521, 103.8198),
    ("Cape Town", -33.9249, 18.4241),
    ("Buenos Aires", -34.6037, -58.3816),
    ("Ushuaia", -54.8019, -68.3030),
    ("Honolulu", 21.3069, -157.8583),
    ("Auckland", -36.8485, 174.7633),
    ("Taveuni (antimeridian)", -16.8, 180.0),
    ("Adak", 51.88, -176.66),
    ("Mumbai", 19.0760, 72.8777),
    ("Nairobi", -1.2921, 36.8219),
    ("Moscow", 55.7558, 37.6173),
    ("Cairo", 30.0444, 31.2357),
    ("Los Angeles", 34.0522, -118.2437),
    ("Boundary 60N (Kenai Peninsula)", 60.0, -150.0),
    ("Boundary 60S (near South Orkney)", -60.0, -45.0),
    ("Anchorage (extra, > 60)", 61.2181, -149.9003),
    ("Tromso (extra, polar)", 69.6492, 18.9553),
]

DATES = [
    "2024-02-29",
    "2025-03-20",  # March equinox
    "2025-05-05",
    "2025-06-21",  # June solstice
    "2025-08-15",
    "2025-09-22",  # September equinox
    "2025-11-07",
    "2025-12-21",  # December solstice
    "2030-01-10",
]

# Extra Tromsø days around the end of the midnight sun (sunrise returns in late July) and of
# the polar night (sunrise returns in mid January).
TROMSO = (69.6492, 18.9553)
TROMSO_DAYS = [f"2025-07-{d:02d}" for d in range(18, 29)] + [f"2026-01-{d:02d}" for d in range(8, 19)]

# event -> (horizon, use_center, morning?)  ; solar_noon handled separately
EVENTS = [
    ("sunrise", "-0:34", False, True),
    ("sunset", "-0:34", False, False),
    ("civil_dawn", "-6", True, True),
    ("civil_dusk", "-6", True, False),
    ("nautical_dawn", "-12", True, True),
    ("nautical_dusk", "-12", True, False),
    ("astronomical_dawn", "-18", True, True),
    ("astronomical_dusk", "-18", True, False),
]

DEG = 180.0 / math.pi


def observer(lat, lon):
    o = ephem.Observer()
    o.lat = str(lat)
    o.lon = str(lon)
    o.elevation = 0
    o.pressure = 0  # no PyEphem refraction: the horizons below already include it
    o.temp = 15
    return o


def iso(d):
    # Round to the nearest second.
    t = ephem.Date(round(float(d) * 86400.0) / 86400.0)
    y, mo, da, h, mi, s = t.tuple()
    s = int(round(s))
    if s == 60:  # guard float noise
        t = ephem.Date(float(t) + 0.5 / 86400.0)
        y, mo, da, h, mi, s = t.tuple()
        s = int(s)
    return f"{y:04d}-{mo:02d}-{da:02d}T{h:02d}:{mi:02d}:{s:02d}Z"


def altitude_scan(lat, lon, start, minutes):
    """(time, centre altitude deg, semidiameter deg) every minute from `start`."""
    o = observer(lat, lon)
    sun = ephem.Sun()
    out = []
    for m in range(minutes + 1):
        t = ephem.Date(start + m * ephem.minute)
        o.date = t
        sun.compute(o)
        out.append((float(t), float(sun.alt) * DEG, float(sun.radius) * DEG))
    return out


def scan_crossing(scan, horizon_deg, use_center, rising):
    """Crossing times of the altitude in the scan window, in the wanted direction."""
    hits = []
    for (t0, a0, r0), (t1, a1, r1) in zip(scan, scan[1:]):
        if not use_center:
            a0, a1 = a0 + r0, a1 + r1
        if rising and a0 < horizon_deg <= a1 or not rising and a0 >= horizon_deg > a1:
            hits.append(t0 + (t1 - t0) * (horizon_deg - a0) / (a1 - a0))
    return hits


def rows_for(lat, lon, date, events):
    o = observer(lat, lon)
    sun = ephem.Sun()
    noon_guess = ephem.Date(date.replace("-", "/") + " 12:00:00") - lon / 15.0 / 24.0
    o.date = ephem.Date(noon_guess - 0.5)
    transit = o.next_transit(sun)
    assert abs(transit - noon_guess) < 1.0 / 24.0, (lat, lon, date)

    morning = altitude_scan(lat, lon, transit - 0.5, 720)
    evening = altitude_scan(lat, lon, transit, 720)

    out = []
    for name, horizon, use_center, is_morning in EVENTS:
        if name not in events:
            continue
        o.horizon = horizon
        o.date = transit
        when = None
        try:
            if is_morning:
                when = o.previous_rising(sun, use_center=use_center)
                if transit - when > 0.5:
                    when = None
            else:
                when = o.next_setting(sun, use_center=use_center)
                if when - transit > 0.5:
                    when = None
        except (ephem.AlwaysUpError, ephem.NeverUpError):
            when = None
        hdeg = float(ephem.degrees(horizon)) * DEG
        hits = scan_crossing(morning if is_morning else evening, hdeg, use_center, is_morning)
        if when is None:
            assert not hits, (lat, lon, date, name, "ephem: none, scan:", hits)
        else:
            assert len(hits) == 1, (lat, lon, date, name, "scan hits", hits)
            assert abs(hits[0] - float(when)) * 86400 < 90, (lat, lon, date, name, hits, when)
        out.append((lat, lon, date, name, "" if when is None else iso(when)))
    if "solar_noon" in events:
        out.append((lat, lon, date, "solar_noon", iso(transit)))
    return out


def poles():
    sun = ephem.Sun()
    start = ephem.Date("2025/01/01 00:00:00")
    for lat in (89.5, 89.9, 90.0, -90.0):
        for name, horizon, use_center, is_morning in EVENTS:
            if abs(lat) < 90 and name not in ("sunset", "astronomical_dusk"):
                continue
            o = observer(lat, 0.0)
            o.horizon = horizon
            found = []
            for k in range(366):
                o.date = ephem.Date(start + k)
                try:
                    if is_morning:
                        when = o.next_rising(sun, use_center=use_center)
                    else:
                        when = o.next_setting(sun, use_center=use_center)
                except (ephem.AlwaysUpError, ephem.NeverUpError):
                    continue
                if when < start + k + 1:
                    found.append(iso(when))
            print(f"{lat},0.0,{name}: {len(found)} {found}")


def main():
    if sys.argv[1:] == ["--poles"]:
        poles()
        return
    all_events = [e[0] for e in EVENTS] + ["solar_noon"]
    rows = []
    for _name, lat, lon in LOCATIONS:
        for date in DATES:
            rows.extend(rows_for(lat, lon, date, all_events))
    for date in TROMSO_DAYS:
        rows.extend(rows_for(TROMSO[0], TROMSO[1], date, ["sunrise", "sunset"]))
    w = sys.stdout.write
    w("lat,lon,date,event,utc_iso\n")
    for lat, lon, date, name, when in rows:
        w(f"{lat},{lon},{date},{name},{when}\n")


if __name__ == "__main__":
    main()
