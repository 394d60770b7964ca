"""A log row with a cell too many or too few is refused, naming its line; quoted separators and line
ends are inside a cell (the byte-wise count of issue 15, checked against the count by positions it
replaced)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.errors import LogError
from dosing.io.read.log import _check_row_lengths

HEADER = b"patient_id,drug,given_at,dose_given\n"


def ragged_lines(data: bytes, columns: int, sep: str = ",") -> list[int]:
    """The line numbers refused, [] when the rows are whole."""
    try:
        _check_row_lengths(data, columns, "log.csv", sep)
    except LogError as err:
        return [int(part.split(":")[0].split()[1]) for part in err.message.split(": ", 1)[1].split("; ")]
    return []


def by_positions(data: bytes, columns: int, sep: str = ",") -> list[int]:
    """The count as it was before (positions of quotes, separators and line ends), as the reference."""
    array = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(array == ord('"'))
    ends, commas = np.flatnonzero(array == ord("\n")), np.flatnonzero(array == ord(sep))
    if len(quotes):
        ends = ends[np.searchsorted(quotes, ends) % 2 == 0]
        commas = commas[np.searchsorted(quotes, commas) % 2 == 0]
    starts, stops = np.r_[0, ends + 1], np.r_[ends, len(array)]
    cells = np.diff(np.r_[0, np.searchsorted(commas, stops)]) + 1
    blank = (stops - starts) <= 1
    return [int(i) + 1 for i in np.flatnonzero((cells != columns) & ~blank)][:5]


def test_a_row_with_a_cell_too_many_or_too_few_is_refused_by_its_line() -> None:
    data = HEADER + b"RA-001,Folic acid,2027-01-04 08:00,1 mg\nRA-001,Folic acid,2027-01-05 08:00\n"
    data += b"RA-001,Folic acid,2027-01-06 08:00,1 mg,extra\n"
    assert ragged_lines(data, 4) == [3, 4]


def test_quoted_separators_and_line_ends_are_inside_their_cell() -> None:
    data = HEADER + b'RA-001,"Folic, acid","2027-01-04\n08:00","1 ""mg"""\n\nRA-001,Folic acid,2027-01-05 08:00,1\n'
    assert ragged_lines(data, 4) == []
    assert ragged_lines(data.replace(b"\n\n", b"\nRA-002\n"), 4) == [3]  # a record with a line feed is one row


def test_more_quotes_than_a_byte_counts_before_a_ragged_row() -> None:
    """The quote parity wraps at 128 (int8): 300 quoted cells, then a quoted comma, then a short row."""
    rows = b'RA-001,"Folic acid",2027-01-04 08:00,"1,0"\n' * 150
    data = HEADER + rows + b"RA-001,Folic acid,2027-01-05 08:00\n"
    assert ragged_lines(data, 4) == [152]


def test_semicolons_and_no_line_end_at_the_end() -> None:
    data = b"patient_id;drug;given_at;dose_given\nRA-001;Folic acid;2027-01-04 08:00;1,5 mg"
    assert ragged_lines(data, 4, ";") == []
    assert ragged_lines(data + b";", 4, ";") == [2]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80).map(lambda b: bytes(c for c in b if c in b'a,"\n\r;')), st.integers(1, 4))
def test_the_count_by_bytes_agrees_with_the_count_by_positions(data: bytes, columns: int) -> None:
    assert ragged_lines(data, columns) == by_positions(data, columns)
