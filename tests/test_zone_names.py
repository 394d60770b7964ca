"""Time zones that mean what they say: a patient's or a study's zone must name a place (see
dosing/protocol/zones.py for the rule); fixed offsets, abbreviations, POSIX rules and old aliases are refused
unless the protocol allows them with a reason; unknown names get a did-you-mean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.errors import CohortError, ProtocolError
from dosing.plan.cohort import cohort_from_rows
from dosing.protocol.zones import suggest, zone_problem
from tests.builders import daily_drug


def study_protocol(zone: str = "America/New_York", **study: Any) -> dosing.Protocol:
    return daily_drug(zone, study_id="Z", last_day=200, **study)


def patient_in(zone: str, protocol: dosing.Protocol) -> dosing.Cohort:
    return cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", "2027-01-04", zone])], protocol
    )


ALLOWED = {"allow_fixed_offset_zones": True, "fixed_offset_zones_reason": "the research vessel keeps UTC"}


@pytest.mark.parametrize(
    "zone",
    ["Asia/Shanghai", "America/New_York", "America/Argentina/Buenos_Aires", "Europe/Oslo", "Pacific/Chatham"],
)
def test_a_place_is_accepted(zone: str) -> None:
    assert zone_problem(zone) is None
    assert patient_in(zone, study_protocol()).patients["timezone"].tolist() == [zone]


@pytest.mark.parametrize(
    ("zone", "kind"),
    [
        ("EST", "a time-zone abbreviation"),
        ("CET", "a time-zone abbreviation"),
        ("HST", "a time-zone abbreviation"),
        ("EST5EDT", "a POSIX-style rule"),
        ("PST8PDT", "a POSIX-style rule"),
        ("UTC", "a fixed UTC offset"),
        ("GMT", "a fixed UTC offset"),
        ("Etc/GMT-8", "a fixed UTC offset"),
        ("Etc/UTC", "a fixed UTC offset"),
        ("Zulu", "a fixed UTC offset"),
        ("US/Eastern", "an old alias"),
        ("Japan", "an old alias"),
        ("Canada/Pacific", "an old alias"),
    ],
)
def test_a_name_that_is_not_a_place_is_refused_for_a_patient(zone: str, kind: str) -> None:
    with pytest.raises(CohortError) as err:
        patient_in(zone, study_protocol())
    assert f"line 2, column 'timezone': {zone!r} is {kind}, not the zone of a place" in str(err.value)
    assert "allow_fixed_offset_zones" in str(err.value)


@pytest.mark.parametrize("zone", ["EST", "UTC", "Etc/GMT-8", "EST5EDT", "US/Eastern"])
def test_a_name_that_is_not_a_place_is_refused_for_the_study(zone: str) -> None:
    with pytest.raises(ProtocolError) as err:
        study_protocol(zone)
    assert f"study.timezone: {zone!r} is " in str(err.value)
    assert "Fix: " in str(err.value)


def test_est_would_put_a_new_york_patient_an_hour_off_all_summer() -> None:
    """The defect: EST was accepted and kept UTC-5 in July. With fixed offsets explicitly allowed
    the table still says what EST means (13:00 UTC), while America/New_York is at 12:00 UTC."""
    allowed = study_protocol(**ALLOWED)
    est = dosing.expand(allowed, patient_in("EST", allowed))
    york = dosing.expand(allowed, patient_in("America/New_York", allowed))
    july = "2027-07-01"
    assert est.loc[est["date"].astype(str) == july, "planned_at"].item() == pd.Timestamp("2027-07-01 13:00", tz="UTC")
    assert york.loc[york["date"].astype(str) == july, "planned_at"].item() == pd.Timestamp("2027-07-01 12:00", tz="UTC")
    with pytest.raises(CohortError, match="'EST' is a time-zone abbreviation"):
        patient_in("EST", study_protocol())


def test_allowing_fixed_offsets_accepts_them_and_validate_says_why(tmp_path: Path) -> None:
    protocol = study_protocol("UTC", **ALLOWED)
    assert patient_in("Etc/GMT-8", protocol).patients["timezone"].tolist() == ["Etc/GMT-8"]
    toml = tmp_path / "p.toml"
    toml.write_text(
        '[study]\nid = "Z"\ntitle = "t"\nblinding = "open"\ntimezone = "UTC"\nlast_day = 7\n'
        'allow_fixed_offset_zones = true\nfixed_offset_zones_reason = "the research vessel keeps UTC"\n'
        '[[arms]]\nid = "a"\nlabel = "A"\nregimens = ["d"]\n'
        '[[regimens]]\nid = "d"\ndrug = "Drug"\ndose = { amount = 1, unit = "mg" }\nroute = "oral"\n'
        'times = ["08:00"]\nschedule = { daily = true }\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["validate", str(toml)])
    assert result.exit_code == 0, result.output
    assert (
        "  zones that are not a place (UTC, Etc/GMT-8, EST) ALLOWED: the research vessel keeps UTC\n" in result.output
    )


def test_an_allowance_needs_a_reason_and_a_reason_needs_an_allowance() -> None:
    with pytest.raises(ProtocolError, match=r"study\.allow_fixed_offset_zones: fixed-offset zones are allowed without"):
        study_protocol("UTC", allow_fixed_offset_zones=True)
    with pytest.raises(ProtocolError, match=r"study\.fixed_offset_zones_reason: a reason is given but"):
        study_protocol(fixed_offset_zones_reason="because")


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("asia/shanghai", "Asia/Shanghai"),
        ("Europe/Berlín", "Europe/Berlin"),
        ("EUROPE/BERLIN", "Europe/Berlin"),
        ("America/New York", "America/New_York"),
        ("america/port au prince", "America/Port-au-Prince"),
        ("Shanghai", "Asia/Shanghai"),
        ("Europe/Berlim", "Europe/Berlin"),
        ("us/eastern", "America/New_York"),
        ("est5edt", "America/New_York"),
        ("posix/Europe/Berlin", "Europe/Berlin"),
        ("Europe/Kiew", "Europe/Kyiv"),  # close to the old spelling Europe/Kiev: the current name is suggested
        ("calcutta", "Asia/Kolkata"),
    ],
)
def test_an_unknown_name_gets_a_did_you_mean_with_case_and_accents_folded(written: str, meant: str) -> None:
    assert suggest(written) == meant
    with pytest.raises(CohortError) as err:
        patient_in(written, study_protocol())
    assert f"unknown time zone {written!r}; did you mean {meant!r}?" in str(err.value)


@pytest.mark.parametrize("written", ["Asia/Beijing", "Mars/Olympus_Mons", "Europe", "localtime", "Factory"])
def test_no_suggestion_when_nothing_is_close(written: str) -> None:
    problem = zone_problem(written, allow_fixed=True)
    assert problem is not None and problem.message == f"unknown time zone {written!r}"


@pytest.mark.parametrize(
    ("written", "etc"), [("GMT+8", "Etc/GMT-8"), ("UTC-05:00", "Etc/GMT+5"), ("+08:00", "Etc/GMT-8")]
)
def test_an_offset_is_not_a_zone_and_the_hint_says_how_tzdata_writes_it(written: str, etc: str) -> None:
    problem = zone_problem(written, allow_fixed=True)
    assert problem is not None
    assert problem.message.startswith(f"{written!r} is a UTC offset, not a time zone")
    assert f'write "{etc}" (the tz database reverses the sign)' in problem.hint


def test_an_old_alias_names_the_place_it_stands_for() -> None:
    problem = zone_problem("US/Eastern")
    assert problem is not None and problem.hint.startswith('write "America/New_York"')
    problem = zone_problem("EST")  # tzdata links EST to America/Panama: never suggested for EST
    assert problem is not None and "Panama" not in problem.hint
