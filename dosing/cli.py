"""The ``dosing`` command: thin click wrappers over the library functions of the same name.

Every :class:`~dosing.errors.DosingError` becomes ``Error: <message>`` on stderr with exit
status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .adherence import adherence as adherence_outputs
from .errors import DosingError, ValueParseError
from .generate import generate as generate_outputs
from .io.readers import load_cohort, load_protocol
from .parse import parse_date
from .show import show as show_schedule
from .validate import validate as validate_protocol

EXISTING = click.Path(dir_okay=False, path_type=Path)


class DosingGroup(click.Group):
    """Turns user errors into clean messages with exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DosingError as err:
            if ctx.params.get("debug"):
                raise
            click.echo(f"Error: {err}", err=True)
            ctx.exit(2)


@click.group(cls=DosingGroup)
@click.version_option(package_name="dosing")
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
def main(debug: bool) -> None:
    """Turn a clinical dosing protocol into dose tables, worklists and calendars.

    \b
    Example:
      dosing validate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
      dosing generate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
    """


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, help="Also check this cohort file (CSV) against the protocol.")
def validate(protocol: Path, cohort: Path | None) -> None:
    """Check a PROTOCOL file (and a cohort) and print a summary. Writes nothing.

    \b
    Example:
      dosing validate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
    """
    click.echo(validate_protocol(protocol, cohort).summary())


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Folder to write into; outputs go to OUT/<study id>/.",
)
@click.option(
    "--unblinded",
    is_flag=True,
    help="Show arms and true drugs. Writes to OUT/<study id>-UNBLINDED/, never over blinded outputs.",
)
def generate(protocol: Path, cohort: Path, out_dir: Path, unblinded: bool) -> None:
    """Write every patient's dose table, the nurses' worklist and calendars.

    \b
    Writes OUT/<study id>/doses.csv, worklist.csv and patients/<id>/{doses.csv,calendar.ics}.
    Nothing is replaced unless the whole run succeeds.
    \b
    Example:
      dosing generate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv --out output
    """
    loaded = load_protocol(protocol)
    patients = load_cohort(cohort, loaded)
    if unblinded:
        click.echo("UNBLINDED: outputs show arms and true drugs; keep them from blinded staff.", err=True)
    with click.progressbar(length=len(patients), label="patients", file=sys.stderr, hidden=len(patients) < 200) as bar:
        result = generate_outputs(
            loaded, patients, out_dir, unblinded=unblinded, progress=lambda done, total: bar.update(1)
        )
    click.echo(result.summary())


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option("--patient", "patient_id", required=True, help="Patient id as in the cohort file.")
@click.option("--unblinded", is_flag=True, help="Show the arm and the true drug.")
def show(protocol: Path, cohort: Path, patient_id: str, unblinded: bool) -> None:
    """Print one patient's schedule, grouped by study week.

    \b
    Example:
      dosing show protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv --patient RA-001
    """
    loaded = load_protocol(protocol)
    click.echo(show_schedule(loaded, load_cohort(cohort, loaded), patient_id, unblinded=unblinded), nl=False)


class DateType(click.ParamType):
    """A calendar date YYYY-MM-DD, parsed by :func:`dosing.parse.parse_date`."""

    name = "date"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        try:
            return parse_date(value)
        except ValueParseError as err:
            self.fail(err.message, param, ctx)


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option("--log", "log", type=EXISTING, required=True, help="The filled worklist.csv, or a log (CSV).")
@click.option("--as-of", "as_of", type=DateType(), help="Judge doses planned before this date (default: today).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Folder to write into; outputs go to OUT/<study id>/adherence/.",
)
@click.option("--strict", is_flag=True, help="Refuse the log if any row is bad (nothing is written).")
@click.option("--unblinded", is_flag=True, help="Show arms and true drugs; writes to OUT/<study id>-UNBLINDED/.")
def adherence(
    protocol: Path, cohort: Path, log: Path, as_of: object, out_dir: Path, strict: bool, unblinded: bool
) -> None:
    """Check what was given (LOG) against what was planned; write tables and report.html.

    \b
    Writes OUT/<study id>/adherence/{doses,extra,summary,bad_rows}.csv and report.html.
    A dose planned before --as-of and not given is missed; later ones are not due yet.
    \b
    Example:
      dosing adherence protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv \\
        --log output/nct02467504/worklist.csv --as-of 2027-09-01
    """
    loaded = load_protocol(protocol)
    patients = load_cohort(cohort, loaded)
    if unblinded:
        click.echo("UNBLINDED: outputs show arms and true drugs; keep them from blinded staff.", err=True)
    result = adherence_outputs(loaded, patients, log, out_dir, as_of=as_of, strict=strict, unblinded=unblinded)
    click.echo(result.summary_text())
