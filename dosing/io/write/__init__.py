"""Writing outputs: CSV tables, iCalendar feeds (doses and visits), the adherence report."""

from .csv import write_csv

__all__ = ["write_csv"]
