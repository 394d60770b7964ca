"""Study tables as Parquet (``dosing generate --format parquet``, and the adherence tables of
``dosing adherence --format parquet``), for data people.

Parquet keeps the types (numbers as numbers, dates as text as in the CSV files, categories as
dictionaries) and is the fastest format to write. It is not for spreadsheets, so cells are written
as they are: formulas are not neutralised as in :mod:`dosing.io.write.csv` (nothing executes a
Parquet cell). Unused categories are dropped first: a Parquet dictionary holds every category of
a column, and a blinded table's categories may still name what its rows no longer show. A column
of text mixed with numbers is written as text, as the CSV files show it.

pyarrow is optional (``pip install 'dosing[parquet]'``); :func:`require_pyarrow` says so before
anything is planned or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import OutputError

#: File formats of the study tables.
FORMATS = ("csv", "parquet")
INSTALL = "pip install 'dosing[parquet]'  (or: pip install pyarrow)"


def require_pyarrow() -> Any:
    """The ``pyarrow.parquet`` module, or an :class:`OutputError` naming the command that installs it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise OutputError("--format parquet needs the pyarrow package, which is not installed", hint=INSTALL) from None
    return pq


def parquet_table(frame: pd.DataFrame) -> Any:
    """``frame`` as a pyarrow table: no index, categories trimmed to those in use, and columns of
    text mixed with numbers (:func:`mixed_as_text`) as text."""
    import pyarrow as pa

    trimmed = frame.copy(deep=False)
    for column in trimmed.columns:
        if isinstance(trimmed[column].dtype, pd.CategoricalDtype):
            trimmed[column] = trimmed[column].cat.remove_unused_categories()
        elif trimmed[column].dtype == object:
            trimmed[column] = mixed_as_text(trimmed[column])
    table = pa.Table.from_pandas(trimmed, preserve_index=False)
    fields = [
        pa.field(f.name, pa.dictionary(pa.int32(), f.type.value_type, f.type.ordered))
        if pa.types.is_dictionary(f.type)
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))  # one index type for every chunk


def mixed_as_text(column: pd.Series) -> pd.Series:
    """A column of Python objects of more than one kind (a blinded study's ``dose``: the blinded dose
    "1 tablet" of the study drug beside the open-label drugs' amounts) as text, each value as the
    CSV files show it (``str``: 2275.0 -> "2275.0"; missing stays missing); other columns as they are.
    A Parquet column has one type, and pyarrow refuses such a column."""
    if pd.api.types.infer_dtype(column, skipna=True) not in ("mixed", "mixed-integer"):
        return column
    return column.astype(str).where(column.notna())


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as one Parquet file (zstd-compressed)."""
    pq = require_pyarrow()
    pq.write_table(parquet_table(frame), path, compression="zstd")


class ParquetParts:
    """One Parquet file written a table at a time (chunks of patients), each part a row group.

    Each part has its own categories (dictionaries are per row group); the types, and so the
    schema, are the same for every part."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        pq = require_pyarrow()
        table = parquet_table(frame)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        else:
            table = table.cast(self.writer.schema)
        self.writer.write_table(table)

    def write_all(self, frame: pd.DataFrame) -> None:
        """``frame`` as the whole file."""
        self.write(frame)
        self.close()

    def append_file(self, path: Path) -> None:
        """Every row group of the Parquet file ``path`` (written by :meth:`write_all`), as parts."""
        pq = require_pyarrow()
        source = pq.ParquetFile(path)
        for group in range(source.num_row_groups):
            table = source.read_row_group(group)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self.writer.write_table(table.cast(self.writer.schema))
        source.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
