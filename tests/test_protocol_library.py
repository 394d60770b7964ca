"""The protocol library (docs/protocol-library.md): every published regimen in protocols/ expands,
for at least two patients of its synthetic cohort, to the study days, dates, local times, UTC
instants, doses and infusion ends worked out by hand below, and every patient's calendar expands in
four independent parsers to exactly the doses of doses.csv.

Every expected value is computed by hand from the regimen and the cohort file (the arithmetic is in
the comments); none was produced by running `dosing`. Body-surface areas are Mosteller,
sqrt(height cm x weight kg / 3600), with heights and weights chosen so that the square root is exact
(180 cm x 80 kg = 14400 -> sqrt(4) = 2.00 m2), so that no BSA rounding convention can change a dose.
Daylight-saving changes in 2027: Europe 28 March and 31 October (01:00 UTC); the United States
14 March and 7 November; Australia/Sydney ends 4 April. Europe/London, Paris and Berlin are UTC+0/+1/+1
in winter and +1/+2/+2 in summer; New York -5/-4, Chicago -6/-5, Sydney +11 in summer and +10 in winter.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import icalendar
import pandas as pd
import pytest
import recurring_ical_events
from test_ics_parsers import each_parser, written_calendars

import dosing
from dosing.io.write.ics import STYLES
from tests.conftest import PROTOCOLS, shipped

LIBRARY = [
    "mfolfox6",
    "gemcarbo",
    "rchop21",
    "paclitaxel-weekly",
    "prednisone-pmr",
    "amoxicillin-paeds",
    "pemetrexed-maintenance",
]
UTC_MINUTE = "%Y-%m-%dT%H:%M"

Row = tuple[int, str, str, str]  # study day, local date, local time, UTC minute


@functools.cache
def expanded(name: str) -> pd.DataFrame:
    return dosing.expand(*shipped(name))


def doses_of(name: str, patient: str, regimen: str) -> pd.DataFrame:
    doses = expanded(name)
    mine = doses[(doses["patient_id"] == patient) & (doses["regimen"].astype(str) == regimen)]
    return mine.sort_values("planned_at")


def rows(mine: pd.DataFrame) -> list[Row]:
    return [
        (int(day), str(date), str(clock), at.strftime(UTC_MINUTE))
        for day, date, clock, at in zip(mine["study_day"], mine["date"], mine["time"], mine["planned_at"], strict=True)
    ]


def one_dose(mine: pd.DataFrame) -> float:
    """The patient's dose of this regimen, the same at every dose."""
    assert mine["dose"].nunique() == 1, mine["dose"].unique()
    return float(mine["dose"].iloc[0])


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """The study folder `dosing generate` writes for a library protocol, in a calendar style."""
    folders: dict[tuple[str, str], Path] = {}

    def folder(name: str, style: str = "expanded") -> Path:
        if (name, style) not in folders:
            protocol, cohort = shipped(name)
            out = tmp_path_factory.mktemp(f"{name}-{style}")
            folders[(name, style)] = dosing.generate(protocol, cohort, out, ics_style=style, feeds=False).folder
        return folders[(name, style)]

    return folder


def doses_csv(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "doses.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)


def ends(folder: Path, name: str, patient: str, regimen: str) -> list[tuple[str, str, str]]:
    """(end_date, end_time, planned_end_utc to the minute) of each dose, in planned order."""
    by_uid = doses_csv(folder).set_index("uid")
    uids = doses_of(name, patient, regimen)["uid"]
    return [
        (by_uid.at[u, "end_date"], by_uid.at[u, "end_time"], by_uid.at[u, "planned_end_utc"][:16].replace(" ", "T"))
        for u in uids
    ]


def basis(folder: Path, name: str, patient: str, regimen: str) -> set[str]:
    by_uid = doses_csv(folder).set_index("uid")
    return {by_uid.at[u, "dose_basis"] for u in doses_of(name, patient, regimen)["uid"]}


def test_the_library_has_at_least_eight_protocols_each_with_a_cohort_and_its_sources() -> None:
    tomls = sorted(p.stem for p in PROTOCOLS.glob("*.toml"))
    assert len(tomls) >= 8, tomls
    for name in tomls:
        assert (PROTOCOLS / f"{name}-cohort.csv").exists(), name
        text = (PROTOCOLS / f"{name}.toml").read_text(encoding="utf-8")
        assert "doi:" in text or "https://" in text or "ClinicalTrials.gov" in text, f"{name} cites no source"
    for name in LIBRARY:
        text = (PROTOCOLS / f"{name}.toml").read_text(encoding="utf-8")
        assert "SITE CHOICE" in text, f"{name} does not say which details are site choices"


# ---- mFOLFOX6 ------------------------------------------------------------------------------------
# FOX-001: 180 cm, 80 kg -> BSA sqrt(14400/3600) = 2.00 m2; Berlin, day 1 Friday 2027-03-12.
# FOX-002: 162 cm, 72 kg -> BSA sqrt(11664/3600) = sqrt(3.24) = 1.80 m2; New York, day 1 Fri 2027-11-05.
# Cycles of 14 days: day 1 of cycle c is study day 1 + 14 (c - 1): days 1, 15, ..., 155.
FOX_DAYS = [1 + 14 * k for k in range(12)]


@pytest.mark.parametrize(
    ("patient", "doses"),
    [
        # 85 x 2.00 = 170; 400 x 2.00 = 800; 400 x 2.00 = 800; 2400 x 2.00 = 4800
        ("FOX-001", {"oxaliplatin": 170, "leucovorin": 800, "fluorouracil-bolus": 800, "fluorouracil-infusion": 4800}),
        # 85 x 1.80 = 153; 400 x 1.80 = 720; 400 x 1.80 = 720; 2400 x 1.80 = 4320
        ("FOX-002", {"oxaliplatin": 153, "leucovorin": 720, "fluorouracil-bolus": 720, "fluorouracil-infusion": 4320}),
        # 153 cm x 68 kg = 10404 -> sqrt(2.89) = 1.70 m2: 144.5, 680, 680, 4080
        (
            "FOX-003",
            {"oxaliplatin": 144.5, "leucovorin": 680, "fluorouracil-bolus": 680, "fluorouracil-infusion": 4080},
        ),
        # 171 cm x 76 kg = 12996 -> sqrt(3.61) = 1.90 m2: 161.5, 760, 760, 4560
        (
            "FOX-004",
            {"oxaliplatin": 161.5, "leucovorin": 760, "fluorouracil-bolus": 760, "fluorouracil-infusion": 4560},
        ),
    ],
)
def test_mfolfox6_doses_from_mosteller_bsa(patient: str, doses: dict[str, float]) -> None:
    for regimen, amount in doses.items():
        mine = doses_of("mfolfox6", patient, regimen)
        assert one_dose(mine) == pytest.approx(amount, abs=1e-9), (patient, regimen)
        assert set(mine["unit"].astype(str)) == {"mg"}
        assert mine["study_day"].tolist() == FOX_DAYS
        assert mine["cycle"].tolist() == list(range(1, 13)) and set(mine["cycle_day"]) == {1}
    for regimen in ("ondansetron-pre", "ondansetron-post"):
        assert one_dose(doses_of("mfolfox6", patient, regimen)) == 8


def test_mfolfox6_berlin_patient_day_1_times() -> None:
    # Friday 2027-03-12, CET (UTC+1): oxaliplatin and leucovorin 09:00 (08:00Z); ondansetron 30 min
    # before (08:30, 07:30Z) and 8 h after that (16:30, 15:30Z); 5-FU bolus and pump 11:00 (10:00Z).
    first = {r: rows(doses_of("mfolfox6", "FOX-001", r))[0] for r in ("oxaliplatin", "leucovorin")}
    assert first == {r: (1, "2027-03-12", "09:00", "2027-03-12T08:00") for r in first}
    assert rows(doses_of("mfolfox6", "FOX-001", "ondansetron-pre"))[0] == (1, "2027-03-12", "08:30", "2027-03-12T07:30")
    assert rows(doses_of("mfolfox6", "FOX-001", "ondansetron-post"))[0] == (
        1,
        "2027-03-12",
        "16:30",
        "2027-03-12T15:30",
    )
    for regimen in ("fluorouracil-bolus", "fluorouracil-infusion"):
        assert rows(doses_of("mfolfox6", "FOX-001", regimen))[:2] == [
            (1, "2027-03-12", "11:00", "2027-03-12T10:00"),
            (15, "2027-03-26", "11:00", "2027-03-26T10:00"),  # still CET: clocks change on the 28th
        ]
    # cycle 12, day 155 = 2027-08-13 (12 March + 154 days), CEST (UTC+2): 09:00 = 07:00Z
    assert rows(doses_of("mfolfox6", "FOX-001", "oxaliplatin"))[-1] == (155, "2027-08-13", "09:00", "2027-08-13T07:00")
    assert rows(doses_of("mfolfox6", "FOX-001", "ondansetron-pre"))[-1] == (
        155,
        "2027-08-13",
        "08:30",
        "2027-08-13T06:30",
    )


def test_mfolfox6_relative_doses_copy_the_anchor_cycle_and_number_per_regimen() -> None:
    pre = doses_of("mfolfox6", "FOX-002", "ondansetron-pre")
    assert pre["cycle"].tolist() == list(range(1, 13)) and set(pre["cycle_day"]) == {1}
    assert pre["study_day"].tolist() == FOX_DAYS
    # dose_number counts per regimen: the bolus and the infusion of fluorouracil are numbered 1-12 each
    for regimen in ("fluorouracil-bolus", "fluorouracil-infusion", "ondansetron-pre", "ondansetron-post"):
        assert doses_of("mfolfox6", "FOX-002", regimen)["dose_number"].tolist() == list(range(1, 13)), regimen


def test_mfolfox6_new_york_patient_times() -> None:
    # Friday 2027-11-05, EDT (UTC-4): ondansetron 08:30 = 12:30Z, oxaliplatin 09:00 = 13:00Z,
    # second ondansetron 16:30 = 20:30Z, pump 11:00 = 15:00Z. Cycle 2, day 15 = 2027-11-19, EST (UTC-5).
    assert rows(doses_of("mfolfox6", "FOX-002", "ondansetron-pre"))[:2] == [
        (1, "2027-11-05", "08:30", "2027-11-05T12:30"),
        (15, "2027-11-19", "08:30", "2027-11-19T13:30"),
    ]
    assert rows(doses_of("mfolfox6", "FOX-002", "oxaliplatin"))[:2] == [
        (1, "2027-11-05", "09:00", "2027-11-05T13:00"),
        (15, "2027-11-19", "09:00", "2027-11-19T14:00"),
    ]
    assert rows(doses_of("mfolfox6", "FOX-002", "ondansetron-post"))[0] == (
        1,
        "2027-11-05",
        "16:30",
        "2027-11-05T20:30",
    )
    assert rows(doses_of("mfolfox6", "FOX-002", "fluorouracil-infusion"))[0] == (
        1,
        "2027-11-05",
        "11:00",
        "2027-11-05T15:00",
    )
    # cycle 12: day 155 = 2028-04-07, EDT again (the US changes on 12 March 2028): 09:00 = 13:00Z
    assert rows(doses_of("mfolfox6", "FOX-002", "oxaliplatin"))[-1] == (155, "2028-04-07", "09:00", "2028-04-07T13:00")


def test_mfolfox6_infusion_ends_46_elapsed_hours_later_across_dst(generated: Callable[..., Path]) -> None:
    folder = generated("mfolfox6")
    berlin = ends(folder, "mfolfox6", "FOX-001", "fluorouracil-infusion")
    # cycle 1: 2027-03-12 10:00Z + 46 h = 2027-03-14 08:00Z = 09:00 CET (Sunday)
    assert berlin[0] == ("2027-03-14", "09:00", "2027-03-14T08:00")
    # cycle 2: 2027-03-26 10:00Z + 46 h = 2027-03-28 08:00Z; clocks went forward at 01:00Z: 10:00 CEST
    assert berlin[1] == ("2027-03-28", "10:00", "2027-03-28T08:00")
    new_york = ends(folder, "mfolfox6", "FOX-002", "fluorouracil-infusion")
    # cycle 1: 2027-11-05 15:00Z + 46 h = 2027-11-07 13:00Z; clocks went back at 06:00Z: 08:00 EST
    assert new_york[0] == ("2027-11-07", "08:00", "2027-11-07T13:00")
    # oxaliplatin over 2 hours: 09:00 -> 11:00 the same day (08:00Z -> 10:00Z in Berlin)
    assert ends(folder, "mfolfox6", "FOX-001", "oxaliplatin")[0] == ("2027-03-12", "11:00", "2027-03-12T10:00")
    # a bolus and an oral dose have no duration: their end columns are blank
    assert set(ends(folder, "mfolfox6", "FOX-001", "fluorouracil-bolus")) == {("", "", "")}
    assert set(ends(folder, "mfolfox6", "FOX-001", "ondansetron-pre")) == {("", "", "")}


def test_mfolfox6_dose_basis_names_mosteller(generated: Callable[..., Path]) -> None:
    (text,) = basis(generated("mfolfox6"), "mfolfox6", "FOX-001", "oxaliplatin")
    assert "Mosteller" in text and "180" in text and "80" in text
    assert basis(generated("mfolfox6"), "mfolfox6", "FOX-001", "ondansetron-pre") == {""}


def event_end(event: icalendar.Event) -> dt.datetime:
    """DTEND, or DTSTART + DURATION; an event with neither ends where it starts."""
    if "DTEND" in event or "DURATION" in event:
        return event.end  # type: ignore[no-any-return]
    return event.start  # type: ignore[no-any-return]


def calendar_events(folder: Path, patient: str) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical((folder / "patients" / patient / "calendar.ics").read_bytes())
    return list(recurring_ical_events.of(calendar).all())


@pytest.mark.parametrize("style", STYLES)
def test_mfolfox6_pump_event_ends_at_disconnection_in_the_calendar(generated: Callable[..., Path], style: str) -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    events = calendar_events(generated("mfolfox6", style), "FOX-001")
    start = dt.datetime(2027, 3, 26, 11, 0, tzinfo=berlin)
    at_start = [e for e in events if isinstance(e.start, dt.datetime) and e.start == start]
    assert at_start, "no event at the cycle 2 pump connection"
    longest = max(at_start, key=event_end)
    # the 46-hour pump: 2027-03-28 08:00Z, 10:00 in Berlin (CEST)
    assert event_end(longest).astimezone(dt.UTC) == dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC)
    assert event_end(longest).astimezone(berlin).strftime("%H:%M") == "10:00"


# ---- gemcitabine + carboplatin ----------------------------------------------------------------
# Gemcitabine on days 1 and 8 of 21-day cycles, 6 cycles: days 1, 8, 22, 29, ..., 106, 113.
GEM_DAYS = [d + 21 * k for k in range(6) for d in (1, 8)]
DAY_1_OF_21 = [1 + 21 * k for k in range(6)]


@pytest.mark.parametrize(
    ("patient", "gemcitabine", "carboplatin"),
    [
        # M, 162 cm, 72 kg: BSA sqrt(11664/3600) = 1.80 -> 1800 mg (a multiple of 50).
        # CrCl = (140 - 60) x 72 / (72 x 1.0) = 80 mL/min; 5 x (80 + 25) = 525 -> down to 10 mg: 520.
        ("GC-001", 1800, 520),
        # F, 154.88 cm, 72 kg: 11151.36/3600 = 3.0976 -> BSA 1.76 -> 1760 mg -> nearest 50: 1750 (35.2 steps).
        # CrCl = (140 - 68) x 72 / (72 x 0.9) = 80, x 0.85 (F) = 68; 5 x (68 + 25) = 465 -> down: 460.
        ("GC-002", 1750, 460),
        # M, 176.4 cm, 90 kg: 15876/3600 = 4.41 -> BSA 2.10, capped at 2.0 -> 2000 mg.
        # CrCl = (140 - 40) x 90 / (72 x 0.7) = 9000 / 50.4 = 178.57, capped at 125: 5 x 150 = 750.
        ("GC-003", 2000, 750),
        # M, 182.25 cm, 64 kg: 11664/3600 = 3.24 -> BSA 1.80 -> 1800 mg.
        # CrCl = (140 - 59) x 64 / (72 x 1.2) = 5184 / 86.4 = 60; 5 x (60 + 25) = 425 -> down: 420.
        ("GC-004", 1800, 420),
    ],
)
def test_gemcarbo_doses_bsa_cap_calvert_and_rounding(patient: str, gemcitabine: float, carboplatin: float) -> None:
    gem = doses_of("gemcarbo", patient, "gemcitabine")
    carbo = doses_of("gemcarbo", patient, "carboplatin")
    assert one_dose(gem) == gemcitabine and one_dose(carbo) == carboplatin
    assert gem["study_day"].tolist() == GEM_DAYS and carbo["study_day"].tolist() == DAY_1_OF_21
    assert gem["cycle_day"].tolist() == [1, 8] * 6 and gem["cycle"].tolist() == [c for c in range(1, 7) for _ in (1, 8)]


def test_gemcarbo_london_patient_across_spring_forward() -> None:
    # Monday 2027-03-15, London. Day 8 = 03-22 (GMT, 10:00 = 10:00Z); cycle 2 day 1 = day 22 = 04-05
    # (BST, 10:00 = 09:00Z); carboplatin 10:30 on day 1 only. Last gemcitabine: day 113 = 2027-07-05.
    assert rows(doses_of("gemcarbo", "GC-001", "gemcitabine"))[:4] == [
        (1, "2027-03-15", "10:00", "2027-03-15T10:00"),
        (8, "2027-03-22", "10:00", "2027-03-22T10:00"),
        (22, "2027-04-05", "10:00", "2027-04-05T09:00"),
        (29, "2027-04-12", "10:00", "2027-04-12T09:00"),
    ]
    assert rows(doses_of("gemcarbo", "GC-001", "gemcitabine"))[-1] == (113, "2027-07-05", "10:00", "2027-07-05T09:00")
    assert rows(doses_of("gemcarbo", "GC-001", "carboplatin"))[:2] == [
        (1, "2027-03-15", "10:30", "2027-03-15T10:30"),
        (22, "2027-04-05", "10:30", "2027-04-05T09:30"),
    ]


def test_gemcarbo_chicago_patient_across_fall_back() -> None:
    # Monday 2027-10-18, Chicago: CDT (UTC-5) 10:00 = 15:00Z; cycle 2 day 1 = day 22 = 11-08, CST (UTC-6)
    # 10:00 = 16:00Z.
    assert rows(doses_of("gemcarbo", "GC-003", "gemcitabine"))[:3] == [
        (1, "2027-10-18", "10:00", "2027-10-18T15:00"),
        (8, "2027-10-25", "10:00", "2027-10-25T15:00"),
        (22, "2027-11-08", "10:00", "2027-11-08T16:00"),
    ]


def test_gemcarbo_infusions_last_30_minutes(generated: Callable[..., Path]) -> None:
    folder = generated("gemcarbo")
    assert ends(folder, "gemcarbo", "GC-001", "gemcitabine")[2] == ("2027-04-05", "10:30", "2027-04-05T09:30")
    assert ends(folder, "gemcarbo", "GC-003", "carboplatin")[1] == ("2027-11-08", "11:00", "2027-11-08T17:00")


def test_gemcarbo_dose_basis_shows_calvert_and_caps(generated: Callable[..., Path]) -> None:
    folder = generated("gemcarbo")
    (carbo,) = basis(folder, "gemcarbo", "GC-002", "carboplatin")
    assert "Calvert" in carbo and "Cockcroft-Gault" in carbo and "68" in carbo and "460" in carbo
    (capped,) = basis(folder, "gemcarbo", "GC-003", "carboplatin")
    assert "Calvert" in capped and "125" in capped
    (gem,) = basis(folder, "gemcarbo", "GC-003", "gemcitabine")
    assert "Mosteller" in gem and "capped" in gem


# ---- R-CHOP-21 ----------------------------------------------------------------------------------
PRED_DAYS = [d + 21 * k for k in range(6) for d in range(1, 6)]


@pytest.mark.parametrize(
    ("patient", "doses"),
    [
        # 180 cm x 80 kg -> 2.00 m2: 375 x 2 = 750; 750 x 2 = 1500; 50 x 2 = 100; 1.4 x 2 = 2.8 -> capped at 2 mg
        (
            "RC-001",
            {"rituximab": 750, "cyclophosphamide": 1500, "doxorubicin": 100, "vincristine": 2, "prednisone": 100},
        ),
        # 147 cm x 48 kg = 7056 -> sqrt(1.96) = 1.40 m2: 525; 1050; 70; 1.4 x 1.4 = 1.96 (under the cap)
        (
            "RC-002",
            {"rituximab": 525, "cyclophosphamide": 1050, "doxorubicin": 70, "vincristine": 1.96, "prednisone": 100},
        ),
        # 171 cm x 76 kg -> 1.90 m2: 712.5; 1425; 95; 2.66 -> capped at 2 mg
        (
            "RC-003",
            {"rituximab": 712.5, "cyclophosphamide": 1425, "doxorubicin": 95, "vincristine": 2, "prednisone": 100},
        ),
    ],
)
def test_rchop_doses_and_vincristine_cap(patient: str, doses: dict[str, float]) -> None:
    for regimen, amount in doses.items():
        mine = doses_of("rchop21", patient, regimen)
        assert one_dose(mine) == pytest.approx(amount, abs=1e-9), (patient, regimen)
        want = PRED_DAYS if regimen == "prednisone" else DAY_1_OF_21  # days 1-5, or day 1, of 21-day cycles
        assert mine["study_day"].tolist() == want, (patient, regimen)


def test_rchop_paris_patient_prednisone_across_spring_forward() -> None:
    # Thursday 2027-03-25, Paris: prednisone 08:00 on days 1-5 (03-25 .. 03-29). CET (UTC+1) until
    # 03-27, CEST (UTC+2) from 03-28. Cycle 2 starts on day 22 = 2027-04-15.
    assert rows(doses_of("rchop21", "RC-001", "prednisone"))[:6] == [
        (1, "2027-03-25", "08:00", "2027-03-25T07:00"),
        (2, "2027-03-26", "08:00", "2027-03-26T07:00"),
        (3, "2027-03-27", "08:00", "2027-03-27T07:00"),
        (4, "2027-03-28", "08:00", "2027-03-28T06:00"),
        (5, "2027-03-29", "08:00", "2027-03-29T06:00"),
        (22, "2027-04-15", "08:00", "2027-04-15T06:00"),
    ]
    assert rows(doses_of("rchop21", "RC-001", "rituximab"))[:2] == [
        (1, "2027-03-25", "09:00", "2027-03-25T08:00"),
        (22, "2027-04-15", "09:00", "2027-04-15T07:00"),
    ]
    assert rows(doses_of("rchop21", "RC-001", "vincristine"))[0] == (1, "2027-03-25", "14:45", "2027-03-25T13:45")
    # cycle 6: day 106 = 2027-07-08
    assert rows(doses_of("rchop21", "RC-001", "doxorubicin"))[-1] == (106, "2027-07-08", "14:30", "2027-07-08T12:30")


def test_rchop_new_york_patient() -> None:
    # Monday 2027-02-01, New York: EST (UTC-5) until cycle 3, which starts on day 43 = 2027-03-15 (EDT).
    assert rows(doses_of("rchop21", "RC-002", "rituximab"))[:3] == [
        (1, "2027-02-01", "09:00", "2027-02-01T14:00"),
        (22, "2027-02-22", "09:00", "2027-02-22T14:00"),
        (43, "2027-03-15", "09:00", "2027-03-15T13:00"),
    ]
    assert rows(doses_of("rchop21", "RC-002", "prednisone"))[4] == (5, "2027-02-05", "08:00", "2027-02-05T13:00")


def test_rchop_cyclophosphamide_over_30_minutes_and_cap_in_basis(generated: Callable[..., Path]) -> None:
    folder = generated("rchop21")
    assert ends(folder, "rchop21", "RC-001", "cyclophosphamide")[0] == ("2027-03-25", "14:30", "2027-03-25T13:30")
    assert set(ends(folder, "rchop21", "RC-001", "rituximab")) == {("", "", "")}  # no fixed duration
    (vincristine,) = basis(folder, "rchop21", "RC-001", "vincristine")
    assert "capped" in vincristine
    assert basis(folder, "rchop21", "RC-001", "prednisone") == {""}  # a fixed dose has no basis


# ---- weekly paclitaxel --------------------------------------------------------------------------
PAC_DAYS = [1 + 7 * k for k in range(12)]  # days 1, 8, ..., 78


@pytest.mark.parametrize(("patient", "dose"), [("PAC-001", 146.4), ("PAC-002", 132), ("PAC-003", 164)])
def test_paclitaxel_80_mg_per_m2_weekly_12_doses(patient: str, dose: float) -> None:
    # 80 x 1.83 = 146.4; 80 x 1.65 = 132; 80 x 2.05 = 164 (bsa from the cohort file, no rounding)
    mine = doses_of("paclitaxel-weekly", patient, "paclitaxel")
    assert one_dose(mine) == pytest.approx(dose, abs=1e-9)
    assert mine["study_day"].tolist() == PAC_DAYS
    assert mine["cycle"].tolist() == list(range(1, 13)) and mine["dose_number"].tolist() == list(range(1, 13))


def test_paclitaxel_new_york_patient_keeps_10_00_across_spring_forward() -> None:
    # Tuesday 2027-03-02: 03-02 and 03-09 in EST (10:00 = 15:00Z), 03-16 in EDT (10:00 = 14:00Z);
    # the 12th dose is day 78 = 2027-05-18.
    mine = rows(doses_of("paclitaxel-weekly", "PAC-001", "paclitaxel"))
    assert mine[:3] == [
        (1, "2027-03-02", "10:00", "2027-03-02T15:00"),
        (8, "2027-03-09", "10:00", "2027-03-09T15:00"),
        (15, "2027-03-16", "10:00", "2027-03-16T14:00"),
    ]
    assert mine[-1] == (78, "2027-05-18", "10:00", "2027-05-18T14:00")


def test_paclitaxel_berlin_patient_across_fall_back() -> None:
    # Tuesday 2027-09-14: day 43 = 10-26 (CEST, 10:00 = 08:00Z), day 50 = 11-02 (CET, 10:00 = 09:00Z)
    mine = rows(doses_of("paclitaxel-weekly", "PAC-002", "paclitaxel"))
    assert mine[6:8] == [
        (43, "2027-10-26", "10:00", "2027-10-26T08:00"),
        (50, "2027-11-02", "10:00", "2027-11-02T09:00"),
    ]


def test_paclitaxel_one_hour_infusion_ends(generated: Callable[..., Path]) -> None:
    folder = generated("paclitaxel-weekly")
    assert ends(folder, "paclitaxel-weekly", "PAC-001", "paclitaxel")[:3] == [
        ("2027-03-02", "11:00", "2027-03-02T16:00"),
        ("2027-03-09", "11:00", "2027-03-09T16:00"),
        ("2027-03-16", "11:00", "2027-03-16T15:00"),
    ]


# ---- prednisone taper (polymyalgia rheumatica) ------------------------------------------------
def pmr_amount(day: int) -> float:
    """The hand-written taper: 15 mg days 1-28, 12.5 mg days 29-42, then 10 mg from day 43 and 1 mg
    less every 28 days (days 43-70: 10, 71-98: 9, ..., 295-322: 1)."""
    if day <= 28:
        return 15
    if day <= 42:
        return 12.5
    return 10 - (day - 43) // 28


def test_pmr_taper_by_hand() -> None:
    assert [pmr_amount(d) for d in (1, 28, 29, 42, 43, 70, 71, 98, 99, 294, 295, 322)] == [
        15, 15, 12.5, 12.5, 10, 10, 9, 9, 8, 2, 1, 1,
    ]  # fmt: skip
    # 15 x 28 + 12.5 x 14 + 28 x (10 + 9 + ... + 1) = 420 + 175 + 28 x 55 = 2135 mg in all
    assert sum(pmr_amount(d) for d in range(1, 323)) == 2135


@pytest.mark.parametrize("patient", ["PMR-001", "PMR-002", "PMR-003"])
def test_pmr_daily_amounts_follow_the_steps_then_the_taper(patient: str) -> None:
    start = doses_of("prednisone-pmr", patient, "prednisone-start")
    taper = doses_of("prednisone-pmr", patient, "prednisone-taper")
    assert start["study_day"].tolist() == list(range(1, 43))
    assert taper["study_day"].tolist() == list(range(43, 323))  # last dose day 322; the study runs to 364
    both = pd.concat([start, taper])
    assert [float(x) for x in both["dose"]] == [pmr_amount(d) for d in range(1, 323)]
    assert float(both["dose"].sum()) == 2135
    assert set(both["unit"].astype(str)) == {"mg"}


def test_pmr_london_patient_dates_and_clock_changes() -> None:
    start = rows(doses_of("prednisone-pmr", "PMR-001", "prednisone-start"))
    taper = rows(doses_of("prednisone-pmr", "PMR-001", "prednisone-taper"))
    # Monday 2027-03-01: day 27 = 03-27 (GMT, 08:00 = 08:00Z), day 28 = 03-28 (BST, 08:00 = 07:00Z)
    assert start[26:29] == [
        (27, "2027-03-27", "08:00", "2027-03-27T08:00"),
        (28, "2027-03-28", "08:00", "2027-03-28T07:00"),
        (29, "2027-03-29", "08:00", "2027-03-29T07:00"),
    ]
    # day 43 = 2027-04-12 (first 10 mg); day 71 = 05-10 (first 9 mg); day 245 = 10-31 (GMT again);
    # day 295 = 12-20 (first 1 mg); day 322 = 2028-01-16 (the last dose)
    assert taper[0] == (43, "2027-04-12", "08:00", "2027-04-12T07:00")
    assert taper[71 - 43] == (71, "2027-05-10", "08:00", "2027-05-10T07:00")
    assert taper[244 - 43 : 246 - 43] == [
        (244, "2027-10-30", "08:00", "2027-10-30T07:00"),
        (245, "2027-10-31", "08:00", "2027-10-31T08:00"),
    ]
    assert taper[295 - 43] == (295, "2027-12-20", "08:00", "2027-12-20T08:00")
    assert taper[-1] == (322, "2028-01-16", "08:00", "2028-01-16T08:00")


def test_pmr_sydney_patient_across_the_april_change() -> None:
    # Monday 2027-01-04, Sydney: AEDT (UTC+11) until 04-04 03:00, then AEST (UTC+10).
    # Day 90 = 04-03: 08:00 = 21:00Z the day before; day 91 = 04-04: 08:00 AEST = 22:00Z the day before.
    start = rows(doses_of("prednisone-pmr", "PMR-002", "prednisone-start"))
    taper = rows(doses_of("prednisone-pmr", "PMR-002", "prednisone-taper"))
    assert start[0] == (1, "2027-01-04", "08:00", "2027-01-03T21:00")
    assert taper[90 - 43 : 92 - 43] == [
        (90, "2027-04-03", "08:00", "2027-04-02T21:00"),
        (91, "2027-04-04", "08:00", "2027-04-03T22:00"),
    ]


# ---- paediatric amoxicillin every 12 hours ----------------------------------------------------
def every_12_hours(first_utc: dt.datetime, zone: str, start: dt.date, n: int = 20) -> list[Row]:
    """Doses exactly 12 elapsed hours apart, shown in the patient's zone (a hand model of clock = "elapsed")."""
    out = []
    for k in range(n):
        at = first_utc + dt.timedelta(hours=12 * k)
        local = at.astimezone(zoneinfo.ZoneInfo(zone))
        day = (local.date() - start).days + 1
        out.append((day, local.strftime("%Y-%m-%d"), local.strftime("%H:%M"), at.strftime(UTC_MINUTE)))
    return out


@pytest.mark.parametrize(("patient", "dose"), [("AMX-001", 558), ("AMX-002", 2000), ("AMX-003", 900)])
def test_amoxicillin_45_mg_per_kg_capped_at_2000_mg(patient: str, dose: float) -> None:
    # 45 x 12.4 = 558; 45 x 50 = 2250 -> capped at 2000; 45 x 20 = 900
    mine = doses_of("amoxicillin-paeds", patient, "amoxicillin")
    assert one_dose(mine) == pytest.approx(dose, abs=1e-9)
    assert len(mine) == 20  # two a day, local dates on days 1-10
    assert mine["study_day"].tolist() == [k // 2 + 1 for k in range(20)]
    assert mine["dose_number"].tolist() == list(range(1, 21))


def test_amoxicillin_london_child_moves_an_hour_later_after_spring_forward() -> None:
    mine = rows(doses_of("amoxicillin-paeds", "AMX-001", "amoxicillin"))
    # Wednesday 2027-03-24 08:00 GMT = 08:00Z; 12 h steps: ... 03-27 20:00Z = 20:00 GMT, then
    # 03-28 08:00Z = 09:00 BST; the 20th dose is 03-24 08:00Z + 228 h = 04-02 20:00Z = 21:00 BST (day 10).
    assert mine[6:10] == [
        (4, "2027-03-27", "08:00", "2027-03-27T08:00"),
        (4, "2027-03-27", "20:00", "2027-03-27T20:00"),
        (5, "2027-03-28", "09:00", "2027-03-28T08:00"),
        (5, "2027-03-28", "21:00", "2027-03-28T20:00"),
    ]
    assert mine[-1] == (10, "2027-04-02", "21:00", "2027-04-02T20:00")
    assert mine == every_12_hours(dt.datetime(2027, 3, 24, 8, tzinfo=dt.UTC), "Europe/London", dt.date(2027, 3, 24))


def test_amoxicillin_new_york_child_moves_an_hour_earlier_after_fall_back() -> None:
    mine = rows(doses_of("amoxicillin-paeds", "AMX-002", "amoxicillin"))
    # Monday 2027-11-01 08:00 EDT = 12:00Z; dose 12 is 11-07 00:00Z = 11-06 20:00 EDT; clocks go back
    # at 06:00Z on 11-07, so dose 13 (11-07 12:00Z) is 07:00 EST; the 20th is 11-11 00:00Z = 11-10 19:00.
    assert mine[0] == (1, "2027-11-01", "08:00", "2027-11-01T12:00")
    assert mine[11:13] == [
        (6, "2027-11-06", "20:00", "2027-11-07T00:00"),
        (7, "2027-11-07", "07:00", "2027-11-07T12:00"),
    ]
    assert mine[-1] == (10, "2027-11-10", "19:00", "2027-11-11T00:00")
    assert mine == every_12_hours(dt.datetime(2027, 11, 1, 12, tzinfo=dt.UTC), "America/New_York", dt.date(2027, 11, 1))


def test_amoxicillin_cap_is_in_the_dose_basis(generated: Callable[..., Path]) -> None:
    folder = generated("amoxicillin-paeds")
    (capped,) = basis(folder, "amoxicillin-paeds", "AMX-002", "amoxicillin")
    assert "capped" in capped and "2000" in capped.replace(",", "")
    (plain,) = basis(folder, "amoxicillin-paeds", "AMX-001", "amoxicillin")
    assert "12.4" in plain and "capped" not in plain


# ---- every patient's calendar, in four parsers ----------------------------------------------------
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", LIBRARY)
def test_library_calendars_expand_to_doses_csv_in_every_parser(
    name: str, style: str, generated: Callable[..., Path], tmp_path: Path
) -> None:
    _, cohort = shipped(name)
    written = written_calendars(generated(name, style), cohort.patients)
    assert set(written.texts) == set(cohort.patients["patient_id"].astype(str))
    assert all(n.total() > 0 for n in written.doses.values())
    each_parser(written.texts, tmp_path, written.check)


# ---- maintenance pemetrexed until progression ---------------------------------------------------
# Day 1 is the first folic acid dose; pemetrexed on day 8 of the study, then every 21 days until the
# study's last day (364): days 8, 29, ..., 344 (8 + 21 x 16), 17 cycles.
PEM_DAYS = [8 + 21 * k for k in range(17)]


@pytest.mark.parametrize(("patient", "dose"), [("PEM-001", 860), ("PEM-002", 975), ("PEM-003", 790)])
def test_pemetrexed_runs_until_the_study_ends(patient: str, dose: float) -> None:
    # 500 x 1.72 = 860; 500 x 1.95 = 975; 500 x 1.58 = 790
    mine = doses_of("pemetrexed-maintenance", patient, "pemetrexed")
    assert one_dose(mine) == dose
    assert mine["study_day"].tolist() == PEM_DAYS and mine["cycle"].tolist() == list(range(1, 18))
    # folic acid every day of the study; vitamin B12 on day 1, then every 9 weeks from day 71 (cycle 4)
    assert doses_of("pemetrexed-maintenance", patient, "folic-acid")["study_day"].tolist() == list(range(1, 365))
    b12 = doses_of("pemetrexed-maintenance", patient, "vitamin-b12")["study_day"].tolist()
    assert b12 == [1, 71, 134, 197, 260, 323] and all(d in PEM_DAYS for d in b12[1:])
    # dexamethasone twice on the day before (days 7, 28, ...), the day of and the day after
    for regimen, shift in (("dexamethasone-eve-morning", -1), ("dexamethasone-eve-evening", -1)):
        days = doses_of("pemetrexed-maintenance", patient, regimen)["study_day"].tolist()
        assert days == [d + shift for d in PEM_DAYS], regimen
    for regimen, shift in (("dexamethasone-day-of", 0), ("dexamethasone-day-after", 1)):
        days = doses_of("pemetrexed-maintenance", patient, regimen)["study_day"].tolist()
        assert days == [d + shift for d in PEM_DAYS for _ in (1, 2)], regimen


def test_pemetrexed_prn_antiemetic_has_no_planned_doses() -> None:
    doses = expanded("pemetrexed-maintenance")
    assert "metoclopramide-prn" not in set(doses["regimen"].astype(str))


def test_pemetrexed_madrid_patient_dexamethasone_the_day_before_on_the_night_clocks_change() -> None:
    # Monday 2027-03-22, Madrid. Pemetrexed day 8 = 03-29, 10:00 CEST = 08:00Z. The day before is
    # 03-28, the night clocks go forward (01:00Z): 08:00Z - 26 h = 03-28 06:00Z = 08:00 CEST, and
    # 08:00Z - 14 h = 03-28 18:00Z = 20:00 CEST.
    assert rows(doses_of("pemetrexed-maintenance", "PEM-001", "pemetrexed"))[:2] == [
        (8, "2027-03-29", "10:00", "2027-03-29T08:00"),
        (29, "2027-04-19", "10:00", "2027-04-19T08:00"),
    ]
    assert rows(doses_of("pemetrexed-maintenance", "PEM-001", "dexamethasone-eve-morning"))[0] == (
        7, "2027-03-28", "08:00", "2027-03-28T06:00",
    )  # fmt: skip
    assert rows(doses_of("pemetrexed-maintenance", "PEM-001", "dexamethasone-eve-evening"))[0] == (
        7, "2027-03-28", "20:00", "2027-03-28T18:00",
    )  # fmt: skip
    # cycle 17: day 344 = 2028-02-28, CET: 10:00 = 09:00Z; the day before 2028-02-27 08:00 CET = 07:00Z
    assert rows(doses_of("pemetrexed-maintenance", "PEM-001", "pemetrexed"))[-1] == (
        344, "2028-02-28", "10:00", "2028-02-28T09:00",
    )  # fmt: skip
    assert rows(doses_of("pemetrexed-maintenance", "PEM-001", "dexamethasone-eve-morning"))[-1] == (
        343, "2028-02-27", "08:00", "2028-02-27T07:00",
    )  # fmt: skip
    # vitamin B12 on day 1 (2027-03-22, CET, 09:30 = 08:30Z) and day 71 (05-31, CEST, 07:30Z)
    assert rows(doses_of("pemetrexed-maintenance", "PEM-001", "vitamin-b12"))[:2] == [
        (1, "2027-03-22", "09:30", "2027-03-22T08:30"),
        (71, "2027-05-31", "09:30", "2027-05-31T07:30"),
    ]


def test_pemetrexed_new_york_patient_across_fall_back() -> None:
    # Monday 2027-10-25. Day 8 = 11-01, EDT: 10:00 = 14:00Z; the day before 10-31 08:00 EDT = 12:00Z
    # and 20:00 EDT = 11-01 00:00Z. Cycle 2, day 29 = 11-22, EST: 10:00 = 15:00Z; the day before,
    # 11-21, 08:00 EST = 13:00Z and 20:00 EST = 11-22 01:00Z.
    assert rows(doses_of("pemetrexed-maintenance", "PEM-002", "pemetrexed"))[:2] == [
        (8, "2027-11-01", "10:00", "2027-11-01T14:00"),
        (29, "2027-11-22", "10:00", "2027-11-22T15:00"),
    ]
    assert rows(doses_of("pemetrexed-maintenance", "PEM-002", "dexamethasone-eve-morning"))[:2] == [
        (7, "2027-10-31", "08:00", "2027-10-31T12:00"),
        (28, "2027-11-21", "08:00", "2027-11-21T13:00"),
    ]
    assert rows(doses_of("pemetrexed-maintenance", "PEM-002", "dexamethasone-eve-evening"))[:2] == [
        (7, "2027-10-31", "20:00", "2027-11-01T00:00"),
        (28, "2027-11-21", "20:00", "2027-11-22T01:00"),
    ]
    assert rows(doses_of("pemetrexed-maintenance", "PEM-002", "dexamethasone-day-after"))[:2] == [
        (9, "2027-11-02", "08:00", "2027-11-02T12:00"),
        (9, "2027-11-02", "20:00", "2027-11-03T00:00"),
    ]


def test_pemetrexed_stop_at_progression_ends_the_open_cycles_and_their_premedication(tmp_path: Path) -> None:
    protocol, cohort = shipped("pemetrexed-maintenance")
    path = tmp_path / "changes.csv"
    path.write_text(
        "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
        "PEM-001,stop,pemetrexed,,2027-08-01,,,,,progression on the cycle 7 scan\n",
        encoding="utf-8",
    )
    doses = dosing.apply_changes(dosing.expand(protocol, cohort), dosing.load_changes(path, protocol, cohort))
    mine = doses[doses["patient_id"] == "PEM-001"]
    kept = mine[mine["regimen"].astype(str) == "pemetrexed"]
    # cycles 1-6 (days 8 .. 113, up to 2027-07-12) are kept; cycle 7 (day 134 = 2027-08-02) and later are not
    assert kept["study_day"].tolist() == PEM_DAYS[:6] and str(kept["date"].iloc[-1]) == "2027-07-12"
    # the dexamethasone of the day before follows its pemetrexed dose: 6 left (days 7 .. 112)
    before = mine[mine["regimen"].astype(str) == "dexamethasone-eve-morning"]
    assert before["study_day"].tolist() == [d - 1 for d in PEM_DAYS[:6]]
    # the other patients keep all 17 cycles
    other = doses[(doses["patient_id"] == "PEM-002") & (doses["regimen"].astype(str) == "pemetrexed")]
    assert len(other) == 17


def test_pemetrexed_ten_minute_infusion(generated: Callable[..., Path]) -> None:
    folder = generated("pemetrexed-maintenance")
    assert ends(folder, "pemetrexed-maintenance", "PEM-001", "pemetrexed")[0] == (
        "2027-03-29", "10:10", "2027-03-29T08:10",
    )  # fmt: skip


@pytest.mark.parametrize("route", ["intramuscular", "i.m.", "IM"])
def test_the_fhir_export_codes_the_intramuscular_route_of_vitamin_b12(
    route: str, seed_protocol: dosing.Protocol
) -> None:
    # SNOMED CT 78421000 |Intramuscular route| (the FHIR R4 "SNOMED CT Route Codes" value set); every
    # shipped protocol is exported to FHIR in tests/test_export_fhir.py, the pemetrexed one included
    from dosing.io.write.fhir.codes import route_coding

    coded = route_coding(route, seed_protocol, "il2")
    assert coded["coding"][0]["code"] == "78421000" and coded["text"] == "intramuscular"
