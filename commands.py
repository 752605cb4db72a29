"""Command-line commands: `flask users ...`, `flask seed-demo`, `flask doctor`, `flask report weekly`."""
from __future__ import annotations

import functools

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from blueprints.core.helpers import company_tz, current_settings, current_site
from domain.core import accounts, uow
from domain.core.enums import Role
from domain.core.errors import DomainError
from domain.core.models import User
from extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")


def committed(command):
    """The command owns its transaction: one commit at the end, a rollback if it fails (domain/core/uow.py)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        with uow.transaction():
            return command(*args, **kwargs)

    return run


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default=None, help="Full name shown in the app.")
@click.option("--admin", "is_admin", is_flag=True, help="Also allowed to manage user accounts.")
@committed
def create_user_command(username, role, password, display_name, is_admin):
    """Create a user account."""
    try:
        user = accounts.create_user(username, password, role, display_name=display_name, is_admin=is_admin,
                                    via="cli")
    except DomainError as error:
        raise click.ClickException(str(error.message)) from None
    click.echo(f"created {user.username} ({user.role.value})")


@users_cli.command("list")
def list_users_command():
    """List the user accounts."""
    for user in db.session.execute(select(User).order_by(User.username)).scalars():
        state = "active" if user.active else "deactivated"
        click.echo(f"{user.username:20} {user.role.value:12} {state:12} {user.display_name}")


@users_cli.command("reset-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@committed
def reset_password_command(username, password):
    """Set a new password (signs the user out everywhere)."""
    user = accounts.find_user(username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    try:
        accounts.reset_password(user, password, actor=None, via="cli")
    except DomainError as error:
        raise click.ClickException(str(error.message)) from None
    click.echo(f"new password set for {user.username}")


tokens_cli = AppGroup("tokens", help="API tokens for other systems that file requests.")


@tokens_cli.command("create")
@click.argument("name")
@click.option("--user", "username", required=True, help="The account the system acts as (dispatcher or supervisor).")
@committed
def create_token_command(name, username):
    """Create a bearer token; it is printed once and only its hash is stored."""
    user = accounts.find_user(username)
    if user is None or not user.active:
        raise click.ClickException(f"no active user {username!r}")
    if not user.has_role(Role.DISPATCHER, Role.SUPERVISOR):
        raise click.ClickException("the token's user must be a dispatcher or a supervisor")
    plain, _ = accounts.create_api_token(name, user, via="cli")
    click.echo(plain)


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Create demo users (one per role) and about twenty requests at every stage, then print the logins."""
    from operations.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    with uow.transaction():  # the orders' PDFs are rendered after this commit (queued when they were frozen)
        users, made = seed_demo(company_tz())
    with uow.transaction():  # any left pending
        rendered = render_pending_orders()
    if rendered:
        click.echo(f"service order PDFs rendered: {rendered}")
    click.echo(f"demo requests created: {made}" if made else "demo requests already present, nothing added")
    click.echo("demo logins (username / password / role):")
    for spec in DEMO_USERS:
        click.echo(f"  {spec.username:12} {DEMO_PASSWORD}   {spec.role.value}  {users[spec.username].display_name}")


@click.command("doctor")
@with_appcontext
def doctor_command():
    """Report the database and migration state and what PDF rendering needs."""
    from alembic.script import ScriptDirectory

    from operations.doctor import run_checks

    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    checks = run_checks(script)
    for check in checks:
        mark = "ok  " if check.ok else ("WARN" if check.warning else "FAIL")
        click.echo(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok and check.fix:
            click.echo(f"       fix: {check.fix}")
    if not all(c.ok or c.warning for c in checks):
        raise SystemExit(1)


orders_cli = AppGroup("orders", help="Service order documents.")


def render_pending_orders() -> int:
    from domain.documents.orders import pending_orders, render_order

    done = 0
    for order in pending_orders():
        if render_order(order):
            done += 1
    return done


@orders_cli.command("render-pending")
def render_pending_command():
    """Render every service order whose PDF is missing (after a failed render); reports what is left."""
    from domain.documents.orders import pending_orders

    with uow.transaction():
        done = render_pending_orders()
    left = pending_orders()
    click.echo(f"rendered {done}; still pending {len(left)}")
    for order in left:
        click.echo(f"  {order.ticket.number}: {(order.render_error or '').strip().splitlines()[-1:]}")
    if left:
        raise SystemExit(1)


@orders_cli.command("seal-pending")
def seal_pending_command():
    """Seal now every rendered order still without the company seal (after fixing SEAL_PKCS12, SEAL_PASSWORD or
    TSA_URL), whatever its retry time; reports what is left."""
    from domain.core.enums import RenderState, SealState
    from domain.core.types import utcnow
    from domain.documents.models import ServiceOrder
    from domain.documents.orders import seal_order_now

    site = current_site()
    with uow.reading():
        ids = db.session.execute(select(ServiceOrder.id).where(ServiceOrder.render_state == RenderState.RENDERED,
                                                               ServiceOrder.seal_state != SealState.SEALED)
                                 .order_by(ServiceOrder.id)).scalars().all()
    sealed, left = 0, []
    for order_id in ids:
        with uow.transaction():  # one order at a time: what is sealed stays sealed if a later one fails
            order = db.session.get(ServiceOrder, order_id)
            done = seal_order_now(order, site, utcnow())
            sealed += bool(done)
            if done is False:
                left.append((order.ticket.number, order.seal_error or ""))
    click.echo(f"sealed {sealed}; still waiting {len(left)}")
    for number, error in left:
        click.echo(f"  {number}: {error.strip().splitlines()[-1:] or ''}")
    if left:
        raise SystemExit(1)


@orders_cli.command("verify")
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False))
@click.option("--lang", type=click.Choice(["zh_CN", "en"]), default=None, help="the answer's language")
@click.option("--details", is_flag=True, help="also print what the check found (seal, certificate, times)")
def verify_command(pdf: str, lang: str | None, details: bool):
    """Check a service order PDF: prints one sentence; exit status 0 only for a genuine order."""
    from pathlib import Path

    from flask_babel import force_locale

    from domain.documents.verify import Verdict, check_pdf, sentence

    site = current_site()
    limit = max(current_app.config.get("MAX_CONTENT_LENGTH") or 0, 200 * 1024 * 1024)
    path = Path(pdf)
    with uow.reading():  # (a check changes nothing)
        verdict = Verdict(False, "too_large") if path.stat().st_size > limit else \
            check_pdf(path.read_bytes(), site, max_bytes=limit)
        with force_locale(lang or current_settings().locale):
            click.echo(sentence(verdict, site))
    if details:
        click.echo(f"reason: {verdict.reason}")
        for key, value in verdict.facts.items():
            if value is not None and key != "company":
                click.echo(f"{key}: {value}")
    raise SystemExit(0 if verdict.genuine else 1)


report_cli = AppGroup("report", help="The weekly report to customer service.")
REPORT_FORMATS = ("csv", "pdf", "json")


@report_cli.command("weekly")
@click.option("--week", default=None, help="ISO week such as 2026-W47 (default: the last complete week).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="File to write; its extension (.csv, .pdf, .json) gives the format unless --format is set.")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default=None)
def report_weekly_command(week, out, fmt):
    """Write the weekly report (figures overall and per technician, with the week before) to a file."""
    import json
    from pathlib import Path

    from domain.core.types import utcnow
    from domain.reporting import reports

    fmt = fmt or Path(out).suffix.lower().lstrip(".")
    if fmt not in REPORT_FORMATS:
        raise click.ClickException(f"cannot tell the format of {out!r}: use .csv, .pdf or .json, or --format")
    try:
        report = reports.weekly_report(week, utcnow(), company_tz())
    except DomainError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    if fmt == "csv":
        data = reports.report_csv(report)
    elif fmt == "pdf":
        settings = current_settings()
        data = reports.report_pdf(report, company=settings.site.company, templates=settings.site.templates,
                                  locale=settings.locale)
    else:
        data = (json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    Path(out).write_bytes(data)
    click.echo(f"weekly report {report.week.label} ({fmt}) written to {out}")


channels_cli = AppGroup("channels", help="Group robots (DingTalk, WeCom, Feishu) that receive alerts.")


def _clean_arg(value: str | None, what: str) -> str | None:
    """A command-line value that cannot be stored (a lone surrogate from undecodable bytes, a NUL) is a usage
    error, never a traceback."""
    from domain.core.validation import text_problem

    if value is not None and text_problem(value) is not None:
        raise click.UsageError(f"{what}: {text_problem(value)[1]}")
    return value


@channels_cli.command("add")
@click.argument("platform", type=click.Choice(["dingtalk", "wecom", "feishu"]))
@click.argument("webhook_url")
@click.option("--secret", default=None, help="The robot's signing secret (DingTalk SEC…, Feishu).")
@click.option("--alerts", "kinds", default=None,
              help="Comma-separated alert kinds (default: new_request,assigned,due_soon,missed).")
@click.option("--name", default=None, help="A name for the group.")
@committed
def channels_add_command(platform, webhook_url, secret, kinds, name):
    """Add a robot and print its id."""
    from domain.alerts import channels

    _clean_arg(webhook_url, "WEBHOOK_URL"), _clean_arg(secret, "--secret"), _clean_arg(name, "--name")
    kind_list = [k.strip() for k in _clean_arg(kinds, "--alerts").split(",") if k.strip()] if kinds else None
    try:
        channel = channels.add_channel(platform, webhook_url, secret=secret, kinds=kind_list, name=name,
                                       hosts_setting=current_settings().channels.hosts_allowed, actor=None,
                                       via="cli")
    except DomainError as error:
        fields = getattr(error, "fields", None) or {}
        raise click.UsageError("; ".join(f"{k}: {v}" for k, v in fields.items()) or str(error.message)) from None
    click.echo(channel.id)


@channels_cli.command("list")
def channels_list_command():
    """One line per robot: id, platform, state, alerts, name."""
    from domain.alerts import channels

    waiting = channels.waiting_counts()
    for c in channels.list_channels():
        state = c.state if c.active else "off"
        click.echo(f"{c.id}\t{c.platform}\t{state}\twaiting={waiting.get(c.id, 0)}\t{','.join(c.kinds)}\t{c.name}")


@channels_cli.command("test")
@click.argument("channel_id", type=click.IntRange(1, 2**31 - 1))
def channels_test_command(channel_id):
    """Send a test message; exits non-zero with the platform's errcode and message when it refuses."""
    from domain.alerts import channels
    from domain.core.types import utcnow

    with uow.transaction():  # the robot's state and last answer are kept even when the platform refuses
        try:
            channel = channels.get_channel(channel_id)
        except DomainError as error:
            raise click.ClickException(str(error.message)) from None
        answer = channels.send_test(channel, current_settings(), utcnow())
    if answer.outcome != "sent":
        raise click.ClickException(f"refused: {answer.describe()}")
    click.echo(f"sent: {answer.describe()}")


@click.command("worker")
@click.option("--workers", default=1, show_default=True, help="Worker processes running tasks.")
@click.option("--max-tasks", type=int, default=None,
              help="Recycle a worker process after this many tasks (default WORKER_MAX_TASKS, 100).")
@with_appcontext
def worker_command(workers: int, max_tasks: int | None):
    """Run the background worker in the foreground: PDFs, alerts, push, mail, the weekly report (Ctrl-C stops)."""
    import worker

    app = current_app._get_current_object()
    if app.config.get("HUEY_IMMEDIATE"):
        raise click.UsageError("HUEY_IMMEDIATE is set: tasks run in the web process, there is no queue to serve.")
    worker.run_consumer(app, workers=max(workers, 1), max_tasks=max_tasks or app.config["WORKER_MAX_TASKS"],
                        max_growth=app.config["WORKER_MAX_GROWTH"], nice=app.config["WORKER_NICE"])


devices_cli = AppGroup("devices", help="The register of rented devices.")


@devices_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--map", "mappings", multiple=True, metavar="FIELD=COLUMN",
              help="Which column holds a field when its heading is not a known one, e.g. asset_number=编号.")
@committed
def import_devices_command(path, mappings):
    """Import devices from a CSV file (UTF-8 or GBK): all rows, or none when a row is bad."""
    from domain.core.context import Context
    from domain.devices import transfer

    with open(path, "rb") as f:
        raw = f.read()
    ctx = Context(actor=None, tz=company_tz(), via="cli")
    try:
        table = transfer.read_table(raw)
        mapping = transfer.guess_mapping(table.header)
        for item in mappings:
            name, _, heading = item.partition("=")
            if name not in transfer.FIELDS or heading not in table.header:
                raise click.ClickException(f"--map {item}: a field of {', '.join(transfer.FIELDS)} and a column "
                                           f"heading of the file")
            mapping[name] = table.header.index(heading)
        result = transfer.import_devices(raw, ctx, mapping)
    except DomainError as error:
        raise click.ClickException(str(error.message)) from None
    if result.errors:
        for error in result.errors:
            click.echo(f"line {error.line}: {error.field or '-'}: {error.message}", err=True)
        raise click.ClickException(f"{len(result.errors)} problem(s); nothing was imported")
    click.echo(f"imported {len(result.created)} devices")


def register(app: Flask) -> None:
    app.cli.add_command(devices_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(orders_cli)
    app.cli.add_command(report_cli)
    app.cli.add_command(channels_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(doctor_command)
