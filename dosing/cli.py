"""The ``dosing`` command: thin click wrappers over the library functions of the same name.

Every :class:`~dosing.errors.DosingError` becomes ``Error: <message>`` on stderr with exit
status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .errors import DosingError, ValueParseError
from .io.os_errors import describe, user_caused
from .jobs.progress import Progress

#: Only click and the two light modules above load at start-up, so that ``dosing --help`` answers at
#: once: each command imports what it needs (pandas, pydantic, icalendar, matplotlib) when it runs.
#: These two mirror :data:`dosing.io.write.ics.STYLES` and :data:`dosing.serve.feeds.DEFAULT_BASE_URL`
#: (tests/test_startup.py keeps them equal).
STYLES = ("recurring", "expanded")
DEFAULT_BASE_URL = "http://127.0.0.1:8080"

EXISTING = click.Path(dir_okay=False, path_type=Path)


def format_option(tables: str, rest: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--format csv|parquet`` for a command's ``tables``."""
    return click.option(
        "--format",
        "table_format",
        type=click.Choice(("csv", "parquet")),
        default="csv",
        show_default=True,
        help=f"{tables}: CSV, or Parquet for data people (needs pyarrow: pip install 'dosing[parquet]'). {rest}",
    )


def out_option(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--out DIR`` (default ``output``), shared by the commands that write or read study outputs."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("output"),
        show_default=True,
        help=help_text,
    )


DISCARD_CHANGES = click.option(
    "--discard-changes",
    is_flag=True,
    help="Drop the changes this study's outputs were made with (or use --changes FILE instead); recorded.",
)
QUIET = click.option(
    "--quiet", is_flag=True, help="Show no progress on stderr (it is shown only on a terminal in any case)."
)
GROUP = click.option(
    "--group",
    help="Also let this group read the sensitive outputs (feeds, feeds.csv, unblinded); default: owner only.",
)


def tell(message: str) -> None:
    """Messages while a command runs (e.g. waiting for another run) go to stderr."""
    click.echo(message, err=True)


class OffsetType(click.ParamType):
    """A reminder offset such as "15m", "2h" or "1d" (see :func:`dosing.protocol.values.parse_offset`)."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        if isinstance(value, dt.timedelta):
            return value
        from .protocol.values import parse_offset

        try:
            return parse_offset(str(value))
        except ValueParseError as err:
            self.fail(err.message, param, ctx)


OFFSET = OffsetType()


class DosingGroup(click.Group):
    """Turns user errors, and the machine's refusals (a full disk, no permission; see
    :mod:`dosing.io.os_errors`), into clean messages with exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DosingError as err:
            if ctx.params.get("debug"):
                raise
            click.echo(f"Error: {err}", err=True)
            ctx.exit(2)
        except OSError as err:  # only what the machine causes (disk full, permission); others are bugs
            if ctx.params.get("debug") or not user_caused(err):
                raise
            click.echo(f"Error: {describe(err)}", err=True)
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


class DateType(click.ParamType):
    """A calendar date YYYY-MM-DD, parsed by :func:`dosing.protocol.values.parse_date`."""

    name = "date"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        from .protocol.values import parse_date

        try:
            return parse_date(value)
        except ValueParseError as err:
            self.fail(err.message, param, ctx)


def warning_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--strict`` and ``--today``, shared by the commands that warn about a plan."""
    command = click.option(
        "--today",
        type=DateType(),
        help="The date a patient's first day is compared with (default: today in the study's time zone).",
    )(command)
    return click.option("--strict", is_flag=True, help="Refuse (exit status 2, nothing written) on any warning.")(
        command
    )


def echo_warnings(warnings: Iterable[object]) -> None:
    """Each warning as a ``Warning: ...`` line on stderr."""
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)


@contextmanager
def refused_warnings_shown() -> Iterator[None]:
    """With --strict, print the warnings that made the command refuse before the error."""
    from .plan.warnings import WarningsRefused

    try:
        yield
    except WarningsRefused as err:
        echo_warnings(err.warnings)
        raise


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, help="Also check this cohort file (CSV) against the protocol.")
@out_option("Where `dosing generate` writes: patients already there are not warned about a past first day.")
@warning_options
def validate(
    protocol: Path, cohort: Path | None, out_dir: Path, strict: bool = False, today: dt.date | None = None
) -> None:
    """Check a PROTOCOL file (and a cohort) and print a summary. Writes nothing.

    \b
    With a cohort it also warns (stderr, "Warning: ...") about in-clinic doses on closed
    clinic days, patients whose first day is long past, and end-of-treatment visits
    before the last dose; --strict makes any warning an error.
    \b
    Example:
      dosing validate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
    """
    from .jobs.validate import validate as validate_protocol

    with refused_warnings_shown():
        result = validate_protocol(protocol, cohort, today=today, strict=strict, out_dir=out_dir)
    echo_warnings(result.warnings)
    click.echo(result.summary())


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@out_option("Folder to write into; outputs go to OUT/<study id>/.")
@click.option(
    "--unblinded",
    is_flag=True,
    help="Show arms and true drugs. Writes to OUT/<study id>-UNBLINDED/, never over blinded outputs.",
)
@click.option(
    "--changes",
    "changes_file",
    type=EXISTING,
    help="Per-patient changes (CSV): delays, holds, stops, dose changes, rescheduled visits, withdrawals.",
)
@click.option(
    "--ics-style",
    type=click.Choice(STYLES),
    default="recurring",
    show_default=True,
    help="recurring: one repeating event per regular run of doses; expanded: one event per dose.",
)
@click.option(
    "--remind", type=OFFSET, help='Calendar alarm this long before each dose, e.g. "15m" (default: the protocol\'s).'
)
@click.option(
    "--remind-visits", type=OFFSET, help='Alarm this long before each visit, e.g. "1d" (default: the protocol\'s).'
)
@click.option("--no-remind", is_flag=True, help="No alarms on the patients' calendars (the protocol turns them on).")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Secret key for feed tokens (default ~/.config/dosing/feed.key; created on first use, mode 0600).",
)
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True, help="Where OUT/<study id>/feeds/ is served.")
@click.option("--no-feeds", is_flag=True, help="Do not write feeds/ and feeds.csv.")
@format_option("The study tables (doses, worklist, visits, visit-worklist)", "Patients' files stay CSV.")
@DISCARD_CHANGES
@GROUP
@warning_options
@QUIET
def generate(
    protocol: Path,
    cohort: Path,
    out_dir: Path,
    unblinded: bool,
    changes_file: Path | None = None,
    ics_style: str = "recurring",
    remind: dt.timedelta | None = None,
    remind_visits: dt.timedelta | None = None,
    no_remind: bool = False,
    key_file: Path | None = None,
    base_url: str = DEFAULT_BASE_URL,
    no_feeds: bool = False,
    table_format: str = "csv",
    discard_changes: bool = False,
    group: str | None = None,
    strict: bool = False,
    today: dt.date | None = None,
    quiet: bool = False,
) -> None:
    """Write every patient's dose table, the nurses' worklist and calendars.

    \b
    Writes OUT/<study id>/doses.csv, worklist.csv and patients/<id>/{doses.csv,calendar.ics}.
    With visits in the protocol also visits.csv, visit-worklist.csv and patients/<id>/visits.csv.
    Blinded runs also write staff/<site>.ics (in-clinic doses), feeds/<token>.ics (one
    secret-URL feed per patient, for `dosing serve` or any static web server) and
    feeds.csv (patient -> feed URL, for the coordinator; never publish it).
    Nothing is replaced unless the whole run succeeds. OUT/<study id>/manifest.json records
    the inputs; once a study has changes, each run needs --changes (or --discard-changes).
    Warnings about the plan (see `dosing validate --help`) go to stderr; --strict refuses to
    write on any warning.
    \b
    Example:
      dosing generate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv --out output
      dosing generate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv \\
        --changes protocols/nct02467504-changes.csv
      dosing generate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv --remind 15m
      dosing generate protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv --format parquet
    """
    if no_remind and (remind or remind_visits):
        raise click.UsageError("--no-remind turns every patient alarm off: give it without --remind/--remind-visits")
    from .io.read.changes import load_changes
    from .io.read.files import load_cohort, load_protocol
    from .jobs.generate import generate as generate_outputs
    from .jobs.workers import keep_freed_memory

    keep_freed_memory()  # this process ends with the command (see dosing.jobs.workers)
    progress = Progress(not quiet)
    with progress.stage("reading the protocol, cohort and changes"):
        loaded = load_protocol(protocol)
        patients = load_cohort(cohort, loaded)
        changes = load_changes(changes_file, loaded, patients, unblinded=unblinded) if changes_file else None
    if unblinded:
        click.echo("UNBLINDED: outputs show arms and true drugs; keep them from blinded staff.", err=True)
    with refused_warnings_shown():
        result = generate_outputs(
            loaded,
            patients,
            out_dir,
            unblinded=unblinded,
            progress=progress,
            changes=changes,
            ics_style="expanded" if ics_style == "expanded" else "recurring",
            remind=remind,
            remind_visits=remind_visits,
            reminders=not no_remind,
            feeds=not no_feeds,
            key_file=key_file,
            base_url=base_url,
            discard_changes=discard_changes,
            group=group,
            on_wait=tell,
            today=today,
            strict=strict,
            table_format=table_format,
        )
    echo_warnings(result.warnings)
    click.echo(result.summary())


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option("--patient", "patient_id", required=True, help="Patient id as in the cohort file.")
@click.option("--unblinded", is_flag=True, help="Show the arm and the true drug.")
@out_option("The folder given to `dosing generate --out`: its study's recorded changes are applied.")
@click.option("--changes", "changes_file", type=EXISTING, help="The study's changes file (default: the recorded one).")
@DISCARD_CHANGES
def show(
    protocol: Path,
    cohort: Path,
    patient_id: str,
    unblinded: bool,
    out_dir: Path,
    changes_file: Path | None,
    discard_changes: bool,
) -> None:
    """Print one patient's schedule, grouped by study week, with the study's changes.

    \b
    Example:
      dosing show protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv --patient RA-001
    """
    from .io.manifest import changes_for_show
    from .io.read.changes import load_changes
    from .io.read.files import load_cohort, load_protocol
    from .jobs.show import show as show_schedule

    loaded = load_protocol(protocol)
    patients = load_cohort(cohort, loaded)
    given = load_changes(changes_file, loaded, patients, unblinded=unblinded) if changes_file is not None else None
    changes = changes_for_show(out_dir, loaded, patients, given, discard_changes, unblinded)
    click.echo(show_schedule(loaded, patients, patient_id, unblinded=unblinded, changes=changes), nl=False)


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option(
    "--from",
    "start",
    type=DateType(),
    help="First day, included (default: today in the study's time zone). Days are each patient's own "
    "calendar days, in the time zone of the cohort's timezone column.",
)
@click.option("--to", "end", type=DateType(), help="Last day, included (default: 7 days after --from).")
@click.option("--site", help="Only this site (as in the cohort's site column); default: one sheet per site.")
@click.option("--home", is_flag=True, help="Also list the doses patients take at home (default: in-clinic only).")
@click.option(
    "--paper",
    type=click.Choice(["A4", "Letter"], case_sensitive=False),
    default="A4",
    show_default=True,
    help="Landscape.",
)
@click.option("--unblinded", is_flag=True, help="Show the true drugs; writes to OUT/<study id>-UNBLINDED-worklists/.")
@out_option("Where `dosing generate` writes; sheets go to OUT/<study id>-worklists/<from>_to_<to>[-<site>]/.")
@click.option("--changes", "changes_file", type=EXISTING, help="The study's changes file (default: the recorded one).")
@DISCARD_CHANGES
@QUIET
def worklist(
    protocol: Path,
    cohort: Path,
    start: dt.date | None,
    end: dt.date | None,
    site: str | None,
    home: bool,
    paper: str,
    unblinded: bool,
    out_dir: Path,
    changes_file: Path | None,
    discard_changes: bool,
    quiet: bool = False,
) -> None:
    """Write the nurses' sheet per site and day: CSV and a printable PDF (landscape).

    \b
    The doses staff give (in-clinic; --home adds home doses) from --from to --to, BOTH DAYS
    INCLUDED, grouped by patient; held doses keep their row ("HELD <date>: do not give" and why).
    A day is the patient's own calendar day in the patient's time zone (the cohort's timezone
    column); the default is today in the study's time zone and the next 7 days.
    Writes OUT/<study id>-worklists/<from>_to_<to>[-<site>]/<site>.csv and <site>.pdf.
    \b
    Example:
      dosing worklist protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv \\
        --from 2027-01-04 --to 2027-01-04 --site PKUPH
    """
    from .io.read.changes import load_changes
    from .io.read.files import load_cohort, load_protocol
    from .jobs.worklist import worklist as write_worklist

    progress = Progress(not quiet)
    with progress.stage("reading the protocol, cohort and changes"):
        loaded = load_protocol(protocol)
        patients = load_cohort(cohort, loaded)
        given = load_changes(changes_file, loaded, patients, unblinded=unblinded) if changes_file else None
    if unblinded:
        click.echo("UNBLINDED: the sheets show true drugs; keep them from blinded staff.", err=True)
    with progress.stage("planning and writing the sheets"):
        result = write_worklist(
            loaded,
            patients,
            out_dir,
            start=start,
            end=end,
            site=site,
            home=home,
            unblinded=unblinded,
            changes=given,
            discard_changes=discard_changes,
            paper=paper,
        )
    click.echo(result.summary())


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option(
    "--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV); its language column sets each diary's."
)
@click.option("--patient", "patient_ids", multiple=True, help="Only this patient (repeat for more); default: all.")
@click.option(
    "--paper",
    type=click.Choice(["A4", "Letter"], case_sensitive=False),
    default="A4",
    show_default=True,
    help="Paper size (landscape).",
)
@out_option("Writes OUT/<study id>-diaries/; the changes recorded in OUT/<study id>/ are applied.")
@click.option("--changes", "changes_file", type=EXISTING, help="The study's changes file (default: the recorded one).")
@DISCARD_CHANGES
@QUIET
def diary(
    protocol: Path,
    cohort: Path,
    patient_ids: tuple[str, ...],
    paper: str,
    out_dir: Path,
    changes_file: Path | None,
    discard_changes: bool,
    quiet: bool = False,
) -> None:
    """Write each patient's printable diary (PDF, blinded), in the patient's language.

    \b
    Example:
      dosing diary protocols/nct02467504.toml --cohort protocols/nct02467504-cohort-zh.csv --patient RA-001
    """
    from .io.manifest import changes_for_show
    from .io.read.changes import load_changes
    from .io.read.files import load_cohort, load_protocol
    from .jobs.diary import diary as write_diaries

    progress = Progress(not quiet)
    with progress.stage("reading the protocol, cohort and changes"):
        loaded = load_protocol(protocol)
        patients = load_cohort(cohort, loaded)
        given = load_changes(changes_file, loaded, patients) if changes_file is not None else None
        changes = changes_for_show(out_dir, loaded, patients, given, discard_changes, False)
    with progress.stage("planning and writing the diaries"):
        result = write_diaries(loaded, patients, out_dir, changes=changes, patients=patient_ids, paper=paper)
    click.echo(result.summary())


@main.command("rotate-feed")
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option("--patient", "patient_id", required=True, help="Patient id as in the cohort file.")
@out_option("The folder given to `dosing generate --out`.")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), help="As given to `dosing generate`.")
def rotate_feed(protocol: Path, cohort: Path, patient_id: str, out_dir: Path, key_file: Path | None) -> None:
    """Give a patient a new feed URL; the old one stops working at once.

    \b
    Example:
      dosing rotate-feed protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv --patient RA-001
    """
    from .io.read.files import load_cohort, load_protocol
    from .serve.feeds import rotate_feed as rotate_patient_feed

    loaded = load_protocol(protocol)
    click.echo(rotate_patient_feed(loaded, load_cohort(cohort, loaded), patient_id, out_dir, key_file).summary())


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
def serve(folder: Path, host: str, port: int) -> None:
    """Serve the patients' calendar feeds of a study output FOLDER over HTTP.

    \b
    Only /<token>.ics is answered (from FOLDER/feeds/); anything else is 404. The log
    shows a hash of each token, never the token. Needs: pip install 'dosing[serve]'.
    A request must arrive within 10 s, an idle connection closes after 5 s, a response
    must be taken within 30 s; at most 4096 connections (fewer under a lower ulimit -n).
    \b
    Example:
      dosing serve output/nct02467504 --port 8080
    """
    from .jobs.status import describe as describe_study

    try:
        from .serve.server import serve as serve_feeds
    except ImportError as err:
        raise DosingError(
            f"dosing serve needs starlette and uvicorn ({err.name} is missing)", hint="pip install 'dosing[serve]'"
        ) from None

    def announce(url: str) -> None:
        click.echo(f"Serving the feeds of {folder} on {url}/<token>.ics (Ctrl+C stops)", err=True)
        click.echo(describe_study(folder), err=True)

    serve_feeds(folder, host=host, port=port, on_listening=announce)


@main.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option("--log", "log", type=EXISTING, required=True, help="The filled worklist.csv, or a log (CSV).")
@click.option("--as-of", "as_of", type=DateType(), help="Judge doses planned before this date (default: today).")
@click.option(
    "--changes",
    "changes_file",
    type=EXISTING,
    help="The changes file given to `dosing generate` (default: the one the study's outputs were made with).",
)
@out_option("Folder to write into; outputs go to OUT/<study id>/adherence/.")
@click.option("--strict", is_flag=True, help="Refuse the log if any row is bad (nothing is written).")
@click.option("--unblinded", is_flag=True, help="Show arms and true drugs; writes to OUT/<study id>-UNBLINDED/.")
@format_option("The tables (doses, extra, summary, bad_rows; prn, prn_summary)", "report.html stays.")
@DISCARD_CHANGES
@GROUP
@QUIET
def adherence(
    protocol: Path,
    cohort: Path,
    log: Path,
    as_of: object,
    changes_file: Path | None,
    out_dir: Path,
    strict: bool,
    unblinded: bool,
    table_format: str = "csv",
    discard_changes: bool = False,
    group: str | None = None,
    quiet: bool = False,
) -> None:
    """Check what was given (LOG) against what was planned; write tables and report.html.

    \b
    Writes OUT/<study id>/adherence/{doses,extra,summary,bad_rows}.csv and report.html
    (with --format parquet the tables are .parquet files).
    A dose planned before --as-of and not given is missed; later ones are not due yet.
    The changes the study's outputs were made with (see `dosing status`) apply by default.
    \b
    Example:
      dosing adherence protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv \\
        --log output/nct02467504/worklist.csv --as-of 2027-09-01
      dosing adherence protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv \\
        --log output/nct02467504/worklist.csv --format parquet
    """
    from .io.read.files import load_cohort, load_protocol
    from .jobs.adherence import adherence as adherence_outputs

    progress = Progress(not quiet)
    with progress.stage("reading the protocol and cohort"):
        loaded = load_protocol(protocol)
        patients = load_cohort(cohort, loaded)
    if unblinded:
        click.echo("UNBLINDED: outputs show arms and true drugs; keep them from blinded staff.", err=True)
    result = adherence_outputs(
        loaded,
        patients,
        log,
        out_dir,
        as_of=as_of,
        strict=strict,
        unblinded=unblinded,
        changes=changes_file,
        discard_changes=discard_changes,
        group=group,
        on_wait=tell,
        progress=progress,
        table_format=table_format,
    )
    click.echo(result.summary_text())


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
def status(folder: Path) -> None:
    """Print what made a study FOLDER's outputs and whether those input files changed since.

    \b
    Reads FOLDER/manifest.json and FOLDER/adherence/manifest.json (given OUT, every study in it).
    \b
    Example:
      dosing status output/nct02467504
    """
    from .jobs.status import status as study_status

    click.echo(study_status(folder).summary())


@main.group()
def export() -> None:
    """Export a study's plan (and a log) in a standard a data manager hands on unchanged:
    CDISC SDTM, HL7 FHIR R4 or REDCap.

    \b
    Example:
      dosing export sdtm protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
      dosing export fhir protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
      dosing export redcap protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
    """


@export.command()
@click.argument("protocol", type=EXISTING)
@click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV).")
@click.option("--log", "log", type=EXISTING, help="The filled worklist.csv, or a log (CSV): adds what was given.")
@click.option(
    "--as-of", "as_of", type=DateType(), help="With --log: judge doses planned before this date (default: today)."
)
@click.option(
    "--changes",
    "changes_file",
    type=EXISTING,
    help="The changes file given to `dosing generate` (default: the one the study's outputs were made with).",
)
@out_option("Folder to write into; outputs go to OUT/<study id>/sdtm/.")
@click.option("--unblinded", is_flag=True, help="Also EX and TA, true treatments; writes to OUT/<study id>-UNBLINDED/.")
@DISCARD_CHANGES
@GROUP
@QUIET
def sdtm(
    protocol: Path,
    cohort: Path,
    log: Path | None,
    as_of: dt.date | None,
    changes_file: Path | None,
    out_dir: Path,
    unblinded: bool,
    discard_changes: bool = False,
    group: str | None = None,
    quiet: bool = False,
) -> None:
    """Write CDISC SDTM datasets: EC, TE, TV (and, unblinded, EX and TA).

    \b
    Writes OUT/<study id>/sdtm/<dataset>.json (Dataset-JSON 1.1) and <dataset>.xpt (SAS
    transport v5), define.json (each variable's label, type, length and origin) and
    manifest.json. EC has a SCHEDULED record per planned dose and, with --log, a PERFORMED
    record per dose judged (as `dosing adherence` judges it). A blinded export writes no EX.
    \b
    Example:
      dosing export sdtm protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv \\
        --log output/nct02467504/worklist.csv --as-of 2027-09-01
    """
    from .io.read.files import load_cohort, load_protocol
    from .jobs.export_sdtm import export_sdtm

    progress = Progress(not quiet)
    with progress.stage("reading the protocol and cohort"):
        loaded = load_protocol(protocol)
        patients = load_cohort(cohort, loaded)
    if unblinded:
        click.echo("UNBLINDED: outputs show arms and true drugs; keep them from blinded staff.", err=True)
    with progress.stage("planning, judging the log, writing the datasets"):
        result = export_sdtm(
            loaded,
            patients,
            out_dir,
            log=log,
            as_of=as_of,
            changes=changes_file,
            unblinded=unblinded,
            discard_changes=discard_changes,
            group=group,
            on_wait=tell,
        )
    click.echo(result.summary())


def _export_inputs(protocol: Path, cohort: Path, changes_file: Path | None, unblinded: bool) -> tuple:
    from .io.read.changes import load_changes
    from .io.read.files import load_cohort, load_protocol

    loaded = load_protocol(protocol)
    patients = load_cohort(cohort, loaded)
    changes = load_changes(changes_file, loaded, patients, unblinded=unblinded) if changes_file else None
    if unblinded:
        click.echo("UNBLINDED: the export shows arms and true drugs; keep it from blinded staff.", err=True)
    return loaded, patients, changes


def _run_export(write: Callable[..., Any], inputs: tuple[Path, Path, Path | None, bool], **options: object) -> None:
    """Read the inputs of an export, write it with ``options``, print its summary."""
    protocol, cohort, changes_file, unblinded = inputs
    progress = Progress(not options.pop("quiet", False))
    with progress.stage("reading the protocol, cohort and changes"):
        loaded, patients, changes = _export_inputs(protocol, cohort, changes_file, unblinded)
    with progress.stage("planning, judging the log, writing the export"):
        result = write(loaded, patients, unblinded=unblinded, changes=changes, on_wait=tell, **options)
    click.echo(result.summary())


def export_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every export shares."""
    options: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
        click.argument("protocol", type=EXISTING),
        click.option("--cohort", type=EXISTING, required=True, help="Enrolled patients (CSV)."),
        out_option("Folder to write into; the export goes to OUT/<study id>/<format>/."),
        click.option(
            "--unblinded", is_flag=True, help="Show arms and true drugs; writes to OUT/<study id>-UNBLINDED/."
        ),
        click.option(
            "--changes", "changes_file", type=EXISTING, help="The study's changes file (default: the recorded one)."
        ),
        DISCARD_CHANGES,
        click.option("--log", type=EXISTING, help="Also export what was given: the filled worklist.csv or a log."),
        click.option(
            "--as-of",
            "as_of",
            type=DateType(),
            help="With --log: judge doses planned before this date; log rows given after it are left out "
            "(default: today; the date used is printed and recorded in manifest.json).",
        ),
        GROUP,
        QUIET,
    ]
    for option in reversed(options):
        command = option(command)
    return command


@export.command("fhir")
@export_options
def export_fhir(
    protocol: Path,
    cohort: Path,
    out_dir: Path,
    unblinded: bool,
    changes_file: Path | None,
    discard_changes: bool,
    log: Path | None,
    as_of: dt.date | None,
    group: str | None,
    quiet: bool,
) -> None:
    """Write HL7 FHIR R4 JSON: the protocol as a PlanDefinition, one Bundle per patient.

    \b
    Writes OUT/<study id>/fhir/plan-definition.json and bundles/<patient id>.json
    (MedicationRequest per regimen with its Timing; with --log a MedicationAdministration
    per judged dose; the visits as a CarePlan). See docs/exports-fhir-redcap.md.
    \b
    Example:
      dosing export fhir protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
    """
    from .jobs.export_fhir import export_fhir as export_fhir_files

    _run_export(
        export_fhir_files,
        (protocol, cohort, changes_file, unblinded),
        out_dir=out_dir,
        discard_changes=discard_changes,
        log=log,
        as_of=as_of,
        group=group,
        quiet=quiet,
    )


@export.command("redcap")
@export_options
def export_redcap(
    protocol: Path,
    cohort: Path,
    out_dir: Path,
    unblinded: bool,
    changes_file: Path | None,
    discard_changes: bool,
    log: Path | None,
    as_of: dt.date | None,
    group: str | None,
    quiet: bool,
) -> None:
    """Write a REDCap data dictionary and an import file of the planned doses and visits.

    \b
    Writes OUT/<study id>/redcap/data-dictionary.csv (instruments patient, dose_administration
    and visit, the last two repeating) and import.csv (with --log: what was given, missed, held).
    `dosing adherence --log` reads REDCap's export of dose_administration back.
    See docs/exports-fhir-redcap.md.
    \b
    Example:
      dosing export redcap protocols/nct02467504.toml --cohort protocols/nct02467504-cohort.csv
    """
    from .jobs.export_redcap import export_redcap as export_redcap_files

    _run_export(
        export_redcap_files,
        (protocol, cohort, changes_file, unblinded),
        out_dir=out_dir,
        discard_changes=discard_changes,
        log=log,
        as_of=as_of,
        group=group,
        quiet=quiet,
    )
