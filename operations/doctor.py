"""Health checks for `flask doctor`: the database, migrations, and what PDF rendering needs."""
from __future__ import annotations

import ctypes.util
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date

from sqlalchemy import inspect, text

from domain.core.db import db


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # not ok, but the app works: reported, and the exit status stays 0


def check_database() -> Check:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - report any failure
        return Check("database", False, f"{db.engine.url.render_as_string(hide_password=True)}: {error}",
                     "Check DATABASE_URL and that the database server is running.")
    return Check("database", True, f"{db.engine.dialect.name} at "
                 f"{db.engine.url.render_as_string(hide_password=True)}")


def check_migrations(script_directory) -> Check:
    heads = set(script_directory.get_heads())
    if not inspect(db.engine).has_table("alembic_version"):
        return Check("migrations", False, f"not migrated (head is {', '.join(sorted(heads))})",
                     "flask --app app db upgrade")
    current = {row[0] for row in db.session.execute(text("SELECT version_num FROM alembic_version"))}
    if current == heads:
        return Check("migrations", True, f"at head {', '.join(sorted(heads))}")
    return Check("migrations", False, f"at {', '.join(sorted(current)) or 'nothing'}, head is "
                 f"{', '.join(sorted(heads))}", "flask --app app db upgrade")


def check_statistics() -> Check | None:
    """PostgreSQL only: autovacuum keeps the planner's statistics. Without it a table is never analyzed, and a
    statement a connection prepared while the table was small keeps reading it whole as it grows: a sync batch's
    check of the ops and notes it already has took 10 ms instead of 0.8 ms after 30,000 notes (docs/benchmarks.md)."""
    if db.engine.dialect.name != "postgresql":
        return None
    settings = {name: db.session.execute(text(f"SHOW {name}")).scalar_one() for name in ("autovacuum", "track_counts")}
    off = [name for name, value in settings.items() if value != "on"]
    if not off:
        return Check("statistics", True, "autovacuum on: the tables' statistics are kept")
    return Check("statistics", False,
                 f"{' and '.join(off)} off: tables are never analyzed, and the plans prepared while they were small "
                 "read them whole as they grow (each sync batch slows down with the history)",
                 "ALTER SYSTEM SET autovacuum = on; ALTER SYSTEM SET track_counts = on; SELECT pg_reload_conf(); "
                 "(or run ANALYZE every night)", warning=True)


def check_weasyprint() -> Check:
    try:
        import weasyprint
        from weasyprint.text.ffi import pango
    except Exception as error:  # noqa: BLE001 - missing Pango shows as an import error
        return Check("weasyprint", False, str(error),
                     "apt-get install libpango-1.0-0 libpangoft2-1.0-0 (Debian) and pip install weasyprint")
    pango_version = pango.pango_version() if hasattr(pango, "pango_version") else "?"
    major, rest = divmod(pango_version, 10000) if isinstance(pango_version, int) else (0, 0)
    minor, micro = divmod(rest, 100)
    return Check("weasyprint", True, f"WeasyPrint {weasyprint.__version__}, Pango {major}.{minor}.{micro}")


def check_harfbuzz_subset() -> Check:
    found = ctypes.util.find_library("harfbuzz-subset")
    if found:
        return Check("font subsetting", True, f"{found} (fast subsetting of Chinese fonts)")
    return Check("font subsetting", False,
                 "libharfbuzz-subset not found: WeasyPrint falls back to fontTools, a Chinese PDF takes seconds",
                 "apt-get install libharfbuzz-subset0")


def check_chinese_font() -> Check:
    if not shutil.which("fc-list"):
        return Check("Chinese font", False, "fontconfig (fc-list) is not installed", "apt-get install fontconfig")
    out = subprocess.run(["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, timeout=30).stdout
    families = sorted({name.strip() for line in out.splitlines() for name in line.split(",")})
    wanted = [f for f in families if f in {"Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei",
                                           "WenQuanYi Micro Hei", "Source Han Sans SC"}]
    if wanted:
        return Check("Chinese font", True, ", ".join(wanted))
    return Check("Chinese font", False, "no Simplified Chinese font (e.g. Noto Sans CJK SC) is installed",
                 "apt-get install fonts-noto-cjk")


def check_holiday_calendar(today: date) -> Check:
    """Working-day deadlines need this year's and next year's holidays (State Council notice, usually in
    November): from the holiday package, or entered by an administrator."""
    from domain.sla.workdays import unknown_years

    missing = unknown_years(today)
    if missing:
        years = ", ".join(str(y) for y in missing)
        return Check("holiday calendar", False,
                     f"{years} unknown to the chinesecalendar package and no admin entries: working-day deadlines "
                     "are counted Monday to Friday (1 January would count as a working day)",
                     "pip install -U chinesecalendar, or enter the holidays at /admin/calendar", warning=True)
    return Check("holiday calendar", True, f"{today.year} and {today.year + 1} known")


def run_checks(script_directory, today: date | None = None) -> list[Check]:
    database = check_database()
    checks = [database]
    if database.ok:
        migrations = check_migrations(script_directory)
        checks.append(migrations)
        if migrations.ok:  # the administrator's calendar entries are in a table of the schema
            checks.append(check_holiday_calendar(today or date.today()))
        if (statistics := check_statistics()) is not None:
            checks.append(statistics)
    checks += [check_weasyprint(), check_harfbuzz_subset(), check_chinese_font()]
    return checks
