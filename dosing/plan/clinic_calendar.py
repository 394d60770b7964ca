"""Which days the clinic is closed (closed weekdays and public holidays), for visits and in-clinic
doses. Pure. (Its own module so that dose expansion need not import the visit planner.)"""

from __future__ import annotations

import numpy as np

from ..protocol.model import ClinicPolicy
from ..protocol.values import WEEKDAYS


class ClinicCalendar:
    """Which days the clinic is closed, and why: closed weekdays and public holidays."""

    def __init__(self, policy: ClinicPolicy | None, years: range) -> None:
        self.closed_weekdays = set(policy.closed_weekdays) if policy else set()
        self.holidays: dict[np.datetime64, str] = {}
        if policy is not None and policy.holidays is not None:
            import holidays

            found = holidays.country_holidays(policy.holidays, subdiv=policy.subdivision, years=list(years))
            self.holidays = {np.datetime64(day, "D"): str(name) for day, name in found.items()}
        self._holiday_days = np.array(sorted(self.holidays), dtype="datetime64[D]")

    def closed(self, days: np.ndarray) -> np.ndarray:
        """For each day (datetime64[D]): "" when open, else why it is closed."""
        days = days.astype("datetime64[D]")
        why = np.full(len(days), "", dtype=object)
        weekday = (days.astype(np.int64) + 3) % 7
        for closed in self.closed_weekdays:
            why[weekday == closed] = WEEKDAYS[closed]
        holiday = np.isin(days, self._holiday_days)
        why[holiday] = [self.holidays[d] for d in days[holiday]]
        return why


__all__ = ["ClinicCalendar"]
