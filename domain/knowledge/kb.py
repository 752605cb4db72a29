"""The knowledge base 技术知识库: FAQ articles 《常见问题解决方案手册》 by device model and fault type, edited by
experts and supervisors and read by everyone; approved service orders are searchable beside them.

Search works for Chinese text, which has no spaces between words: each query word is looked for as a substring,
and a Chinese word longer than two characters that is not found whole still matches when most of its
overlapping character pairs (bigrams) are there ("摄像机黑屏" finds "摄像机开机后黑屏")."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from jinja2 import Environment
from sqlalchemy import Boolean, Select, String, and_, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.functions import FunctionElement

from ..core import leases
from ..core.audit import record_event
from ..core.context import MAX_TEXT, Context
from ..core.db import db
from ..core.enums import ArticleStatus, Role, TicketStatus
from ..core.errors import Forbidden, NotFound, ValidationError
from ..core.locales import is_english
from ..core.models import User
from ..core.types import in_zone, utcnow
from ..documents.cases import analysis_errors, complete_case_analysis
from ..documents.models import CaseAnalysis
from ..knowledge.models import KbArticle, ManualJob
from ..requests.models import DeviceCategory, DeviceModel, FaultCategory, Ticket

MAX_TITLE = 200
MAX_QUERY = 100
PAGE_SIZE = 30
# A Chinese query word not found whole matches when this share of its bigrams is there.
BIGRAM_SHARE = 0.6
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD_SPLIT = re.compile(r"[\s,，。、;；:：!！?？()（）\[\]【】《》\"'“”‘’/\\|]+")
TICKET_NUMBER = re.compile(r"FS-\d{4}-\d{6}")


# Who writes articles, case analyses and the fault list; everyone signed in reads.
EDITOR_ROLES = (Role.EXPERT, Role.SUPERVISOR)


def can_edit(user: User) -> bool:
    return user.has_role(*EDITOR_ROLES)


def _require_editor(ctx: Context) -> None:
    if not can_edit(ctx.actor):
        raise Forbidden("not_allowed", _l("Only experts and supervisors edit the knowledge base."))


# --- articles -----------------------------------------------------------------------------------------------


@dataclass
class ArticleInput:
    title: str = ""
    device_model_id: int | None = None
    fault_category_id: int | None = None
    symptoms: str = ""
    solution: str = ""
    precautions: str = ""
    sources: str = ""  # request numbers, separated by spaces or commas


def _clean(value: str | None, limit: int = MAX_TEXT) -> str:
    return (value or "").strip()[:limit]


def article_errors(data: ArticleInput) -> tuple[dict, DeviceModel | None, FaultCategory | None, list[Ticket]]:
    """Field errors (empty when valid) and the rows the input names."""
    errors: dict = {}
    if not _clean(data.title):
        errors["title"] = _l("Give the article a title.")
    elif len(data.title.strip()) > MAX_TITLE:
        errors["title"] = _l("At most %(n)d characters.", n=MAX_TITLE)
    if not _clean(data.symptoms):
        errors["symptoms"] = _l("Describe the symptoms.")
    if not _clean(data.solution):
        errors["solution"] = _l("Describe the solution.")
    model = db.session.get(DeviceModel, data.device_model_id) if data.device_model_id else None
    if model is None:
        errors["device_model_id"] = _l("Choose the device model this article is about.")
    fault = db.session.get(FaultCategory, data.fault_category_id) if data.fault_category_id else None
    if data.fault_category_id and fault is None:
        errors["fault_category_id"] = _l("Choose a fault category from the list.")
    elif fault is not None and model is not None and fault.device_category_id != model.category_id:
        errors["fault_category_id"] = _l("This fault category belongs to another kind of device.")
    numbers = list(dict.fromkeys(n.upper() for n in re.split(r"[\s,，;；]+", data.sources or "") if n))
    tickets = []
    if numbers:
        bad = [n for n in numbers if not TICKET_NUMBER.fullmatch(n)]
        found = {t.number: t for t in db.session.execute(select(Ticket).where(Ticket.number.in_(numbers)))
                 .scalars()} if not bad else {}
        missing = bad or [n for n in numbers if n not in found]
        if missing:
            errors["sources"] = _l("No such request: %(numbers)s.", numbers=", ".join(missing[:5]))
        tickets = [found[n] for n in numbers if n in found]
    return errors, model, fault, tickets


def save_article(ctx: Context, article: KbArticle | None, data: ArticleInput, *, publish: bool = False,
                 extra_sources: list[Ticket] = ()) -> KbArticle:
    """Create or update an article; each saved change of an existing article is a new revision."""
    _require_editor(ctx)
    errors, model, fault, tickets = article_errors(data)
    if errors:
        raise ValidationError(errors)
    return _write_article(ctx, article, data, model, fault, [*tickets, *extra_sources], publish=publish)


def _write_article(ctx: Context, article: KbArticle | None, data: ArticleInput, model: DeviceModel,
                   fault: FaultCategory | None, sources: list[Ticket], *, publish: bool) -> KbArticle:
    created = article is None
    with db.session.no_autoflush:  # a half-filled new article must not be flushed by a lazy load
        if created:
            article = KbArticle(created_by=ctx.actor, created_at=ctx.now, revision=1, status=ArticleStatus.DRAFT)
        before = None if created else _content(article)
        article.title = _clean(data.title, MAX_TITLE)
        article.device_model, article.device_category = model, model.category
        article.fault_category = fault
        article.symptoms, article.solution = _clean(data.symptoms), _clean(data.solution)
        article.precautions = _clean(data.precautions) or None
        article.sources = list(dict.fromkeys([*([] if created else article.sources), *sources]))
        article.search_text = search_text_of(article)
        if created:
            db.session.add(article)
    changed = created or _content(article) != before
    if not created and changed:
        article.revision += 1
    if publish and article.status != ArticleStatus.PUBLISHED:
        article.status = ArticleStatus.PUBLISHED
        article.published_at = article.published_at or ctx.now
    if changed or publish:
        article.updated_by, article.updated_at = ctx.actor, ctx.now
    db.session.flush()
    record_event("kb.article_created" if created else "kb.article_updated", actor=ctx.actor, entity=article,
                 via=ctx.via, remote_addr=ctx.remote_addr, revision=article.revision, status=article.status.value)
    return article


def _content(article: KbArticle) -> tuple:
    return (article.title, article.device_model.id if article.device_model else None,
            article.fault_category.id if article.fault_category else None, article.symptoms, article.solution,
            article.precautions, tuple(sorted(t.id for t in article.sources)))


def search_text_of(article: KbArticle) -> str:
    model, fault = article.device_model, article.fault_category
    parts = [article.title, article.symptoms, article.solution, article.precautions or "",
             model.label if model else "", fault.name_zh if fault else "", fault.name_en if fault else ""]
    return " ".join(parts).lower()


def set_status(ctx: Context, article: KbArticle, status: ArticleStatus) -> None:
    _require_editor(ctx)
    if article.status == status:
        return
    old = article.status
    article.status = status
    if status == ArticleStatus.PUBLISHED:
        article.published_at = article.published_at or ctx.now
    article.updated_by, article.updated_at = ctx.actor, ctx.now
    record_event("kb.article_status", actor=ctx.actor, entity=article, from_state=old.value, to_state=status.value,
                 via=ctx.via, remote_addr=ctx.remote_addr)


def get_article(article_id: int, user: User) -> KbArticle:
    article = db.session.get(KbArticle, article_id)
    if article is None or (article.status != ArticleStatus.PUBLISHED and not can_edit(user)):
        raise NotFound("no_article", _l("There is no such article."))
    return article


# --- case analysis -> FAQ article ------------------------------------------------------------------------


def candidate_articles(ticket: Ticket) -> list[KbArticle]:
    """Articles a case analysis may update: same fault type, or same device model."""
    conditions = []
    if ticket.fault_category_id:
        conditions.append(KbArticle.fault_category_id == ticket.fault_category_id)
    if ticket.device_model_id:
        conditions.append(KbArticle.device_model_id == ticket.device_model_id)
    if not conditions:
        return []
    return list(db.session.execute(
        select(KbArticle).where(or_(*conditions), KbArticle.status != ArticleStatus.ARCHIVED)
        .order_by(KbArticle.updated_at.desc()).limit(20)).scalars())


def complete_analysis_with_article(ticket: Ticket, ctx: Context, *, summary: str, root_cause: str, fix: str,
                                   prevention: str, title: str, device_model_id: int | None, symptoms: str,
                                   article_id: int | None) -> KbArticle:
    """The case analysis form: completes the analysis and publishes a new FAQ article or updates the chosen one
    (solution from the fix, precautions from the prevention), with the request as a source."""
    _require_editor(ctx)
    article = None
    if article_id:
        article = db.session.get(KbArticle, article_id)
        if article is None:
            raise ValidationError({"article_id": _l("There is no such article.")})
    data = ArticleInput(title=title, device_model_id=device_model_id, fault_category_id=ticket.fault_category_id,
                        symptoms=symptoms, solution=fix, precautions=prevention)
    errors, model, fault, _tickets = article_errors(data)
    errors = {**analysis_errors(summary=summary, root_cause=root_cause, fix=fix, prevention=prevention),
              **{("article_title" if k == "title" else k): v for k, v in errors.items() if k != "solution"}}
    if errors:
        raise ValidationError(errors)
    analysis = complete_case_analysis(ticket, ctx, summary=summary, root_cause=root_cause, fix=fix,
                                      prevention=prevention)
    article = _write_article(ctx, article, data, model, fault, [ticket], publish=True)
    analysis.article = article
    return article


def open_analyses() -> list[CaseAnalysis]:
    return list(db.session.execute(
        select(CaseAnalysis).where(CaseAnalysis.completed_at.is_(None))
        .options(selectinload(CaseAnalysis.ticket).selectinload(Ticket.clocks)).order_by(CaseAnalysis.due_at)
    ).scalars())


def recent_analyses(limit: int = 20) -> list[CaseAnalysis]:
    return list(db.session.execute(
        select(CaseAnalysis).where(CaseAnalysis.completed_at.is_not(None))
        .options(selectinload(CaseAnalysis.ticket).selectinload(Ticket.clocks), selectinload(CaseAnalysis.article))
        .order_by(CaseAnalysis.completed_at.desc()).limit(limit)).scalars())


# --- fault categories (the managed list) ------------------------------------------------------------------


def save_fault_category(ctx: Context, fault: FaultCategory | None, *, device_category_id: int | None,
                        name_zh: str, name_en: str, active: bool = True) -> FaultCategory:
    _require_editor(ctx)
    errors = {}
    name_zh, name_en = _clean(name_zh, 100), _clean(name_en, 100)
    category = db.session.get(DeviceCategory, device_category_id) if device_category_id else None
    if fault is None and category is None:
        errors["device_category_id"] = _l("Choose the kind of device.")
    if not name_zh:
        errors["name_zh"] = _l("Give the Chinese name.")
    if errors:
        raise ValidationError(errors)
    category = category or fault.device_category
    clash = db.session.execute(select(FaultCategory.id).where(
        FaultCategory.device_category_id == category.id, FaultCategory.name_zh == name_zh,
        FaultCategory.id != (fault.id if fault else -1))).first()
    if clash:
        raise ValidationError({"name_zh": _l("This kind of device already has a fault category of that name.")})
    created = fault is None
    if created:
        fault = FaultCategory(device_category=category, code=_fresh_code(category, name_en or name_zh))
        db.session.add(fault)
    fault.name_zh, fault.name_en, fault.active = name_zh, name_en or name_zh, active
    db.session.flush()
    if not created:  # the fault type's names are searchable in its articles
        for article in db.session.execute(select(KbArticle).where(KbArticle.fault_category_id == fault.id)).scalars():
            article.search_text = search_text_of(article)
    record_event("kb.fault_category_created" if created else "kb.fault_category_updated", actor=ctx.actor,
                 entity=fault, via=ctx.via, remote_addr=ctx.remote_addr, name=name_zh, active=active)
    return fault


def _fresh_code(category: DeviceCategory, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40] or "fault"
    taken = set(db.session.execute(select(FaultCategory.code).where(
        FaultCategory.device_category_id == category.id)).scalars())
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}_{n}"
    return code


# --- search -------------------------------------------------------------------------------------------------


@dataclass
class SearchQuery:
    text: str = ""
    device_category_id: int | None = None
    device_model_id: int | None = None
    fault_category_id: int | None = None
    include_drafts: bool = False
    page: int = 1


def query_words(text: str) -> list[str]:
    """The words of a query, lower-cased: split on spaces and punctuation (Chinese has no spaces inside)."""
    words = [w for w in WORD_SPLIT.split((text or "").strip().lower()[:MAX_QUERY]) if w]
    return list(dict.fromkeys(words))[:8]


def bigrams(word: str) -> list[str]:
    return list(dict.fromkeys(word[i:i + 2] for i in range(len(word) - 1)))


class text_contains(FunctionElement):  # noqa: N801 - named like the SQL functions it stands for
    """`needle` occurs in `haystack`: a plain substring test (no LIKE wildcards to escape, and faster)."""

    type = Boolean()
    inherit_cache = True


@compiles(text_contains)
def _text_contains_default(element, compiler, **kw):
    haystack, needle = list(element.clauses)
    return f"(strpos({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)}) > 0)"


@compiles(text_contains, "sqlite")
def _text_contains_sqlite(element, compiler, **kw):
    haystack, needle = list(element.clauses)
    return f"(instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)}) > 0)"


def _contains(haystack, needle: str):
    return text_contains(haystack, literal(needle, String))


def _word_match(haystack, word: str):
    """(condition, score) of one query word against a lower-cased text column expression."""
    whole = _contains(haystack, word)
    if not CJK.search(word) or len(word) <= 2:
        return whole, case((whole, 10), else_=0)
    pairs = bigrams(word)
    hits = sum((case((_contains(haystack, p), 1), else_=0) for p in pairs), literal(0))
    needed = max(2, round(len(pairs) * BIGRAM_SHARE))
    return or_(whole, hits >= needed), case((whole, 10), else_=0) + hits


def search_articles(q: SearchQuery) -> tuple[list[KbArticle], int]:
    """Matching articles (best first) for one page, and how many match in all."""
    haystack = KbArticle.search_text
    title = func.lower(KbArticle.title)
    conditions, score = [], literal(0)
    for word in query_words(q.text):
        condition, word_score = _word_match(haystack, word)
        conditions.append(condition)
        score = score + word_score + case((_contains(title, word), 5), else_=0)
    if not q.include_drafts:
        conditions.append(KbArticle.status == ArticleStatus.PUBLISHED)
    else:
        conditions.append(KbArticle.status != ArticleStatus.ARCHIVED)
    if q.device_category_id:
        conditions.append(KbArticle.device_category_id == q.device_category_id)
    if q.device_model_id:
        conditions.append(KbArticle.device_model_id == q.device_model_id)
    if q.fault_category_id:
        conditions.append(KbArticle.fault_category_id == q.fault_category_id)
    # One statement: the page of ids with the total beside each row (a window count), best first.
    statement: Select = (
        select(KbArticle.id, func.count().over().label("total"))
        .where(and_(*conditions))
        .order_by(score.desc(), KbArticle.updated_at.desc(), KbArticle.id.desc())
        .limit(PAGE_SIZE).offset((max(1, q.page) - 1) * PAGE_SIZE))
    rows = db.session.execute(statement).all()
    ids = [row.id for row in rows]
    total = rows[0].total if rows else (
        0 if q.page <= 1 else db.session.execute(select(func.count()).select_from(
            statement.limit(None).offset(None).order_by(None).subquery())).scalar_one())
    if not ids:
        return [], total
    rows = {a.id: a for a in db.session.execute(
        select(KbArticle).where(KbArticle.id.in_(ids))
        .options(selectinload(KbArticle.device_model), selectinload(KbArticle.fault_category))).scalars()}
    return [rows[i] for i in ids], total


def search_orders(text: str, limit: int = 10) -> list[Ticket]:
    """Approved service orders whose problem or write-up contains every query word (the archive of solved cases).
    Only substrings here: there are many more orders than articles."""
    words = query_words(text)
    if not words:
        return []
    columns = [Ticket.problem, Ticket.device_model_text, Ticket.cause, Ticket.work_done, Ticket.root_cause,
               Ticket.solution_summary]

    def found(word: str):
        # Chinese and digits have no case: lower-casing every column of every order would only cost time.
        cased = word != word.upper()
        return or_(*[_contains(func.lower(column) if cased else column, word) for column in columns])

    return list(db.session.execute(
        select(Ticket).where(Ticket.status == TicketStatus.APPROVED, *[found(w) for w in words])
        .options(selectinload(Ticket.fault_category)).order_by(Ticket.closed_at.desc()).limit(limit)).scalars())


def articles_for_manual(device_category_id: int | None = None) -> list[KbArticle]:
    """Published articles in manual order: device kind, model, fault type, title."""
    statement = (select(KbArticle).where(KbArticle.status == ArticleStatus.PUBLISHED)
                 .outerjoin(DeviceCategory, DeviceCategory.id == KbArticle.device_category_id)
                 .outerjoin(DeviceModel, DeviceModel.id == KbArticle.device_model_id)
                 .outerjoin(FaultCategory, FaultCategory.id == KbArticle.fault_category_id)
                 .options(selectinload(KbArticle.device_model), selectinload(KbArticle.device_category),
                          selectinload(KbArticle.fault_category), selectinload(KbArticle.sources))
                 .order_by(DeviceCategory.position, DeviceCategory.id, DeviceModel.brand, DeviceModel.model,
                           FaultCategory.name_zh, KbArticle.title, KbArticle.id))
    if device_category_id:
        statement = statement.where(KbArticle.device_category_id == device_category_id)
    return list(db.session.execute(statement).scalars())


def root_causes(article: KbArticle) -> list[CaseAnalysis]:
    """The case analyses that fed an article: their root causes belong in the manual."""
    return list(db.session.execute(select(CaseAnalysis).where(CaseAnalysis.article_id == article.id)
                                   .order_by(CaseAnalysis.completed_at)).scalars())


# --- the printable manual ------------------------------------------------------------------------------------


def manual_html(articles: list[KbArticle], *, locale: str, company: str, tz, now, templates: Environment,
                scope: str | None = None) -> str:
    """The print template (from the app's `templates`) of the FAQ manual, grouped by kind of device, in the
    reader's language."""
    from flask_babel import force_locale

    english = is_english(locale)
    groups: list[dict] = []
    for article in articles:
        category = article.device_category
        title = (category.name_en if english else category.name_zh) if category else "—"
        if not groups or groups[-1]["title"] != title:
            groups.append({"title": title, "articles": []})
        groups[-1]["articles"].append(article)
    ids = [a.id for a in articles]
    causes_of: dict[int, list[CaseAnalysis]] = {i: [] for i in ids}
    if ids:
        for analysis in db.session.execute(select(CaseAnalysis).where(CaseAnalysis.article_id.in_(ids))
                                           .order_by(CaseAnalysis.completed_at)).scalars():
            causes_of[analysis.article_id].append(analysis)

    def local(value) -> str:
        return in_zone(value, tz).strftime("%Y-%m-%d") if value else ""

    with force_locale("en" if english else "zh_CN"):
        template = templates.get_template("print/faq_manual.html")
        return template.render(articles=articles, groups=groups, causes_of=causes_of, company=company, scope=scope,
                               generated=local(now), local=local, fault_key="name_en" if english else "name_zh",
                               html_lang="en" if english else "zh-CN")


def manual_pdf(html: str) -> bytes:
    """WeasyPrint with the same fetcher as the service order: only our print stylesheets, nothing from outside."""
    from weasyprint import HTML

    from ..documents.orders import make_fetcher

    fetcher = make_fetcher()
    return HTML(string=html, base_url="fs-static:", url_fetcher=fetcher).write_pdf(optimize_images=True)


# --- the manual built by the worker ----------------------------------------------------------------------------

PENDING = ("queued", "running")


def start_manual(user: User, device_category_id: int | None, locale: str) -> ManualJob:
    """Ask the worker for the manual of one selection (a kind of device or all, in `locale`): a request for a
    selection already queued or being built joins that job, one already built from the same articles gets that
    one; otherwise a new one is recorded (the caller commits; the worker builds it after the commit)."""
    from ..core.deferred import after_commit_task

    category = db.session.get(DeviceCategory, device_category_id) if device_category_id else None
    if device_category_id and category is None:
        raise NotFound("no_device_category", _l("There is no such kind of device."))
    pending = db.session.execute(
        select(ManualJob).where(ManualJob.locale == locale, ManualJob.state.in_(PENDING),
                                ManualJob.device_category_id.is_(None) if category is None
                                else ManualJob.device_category_id == category.id)
        .order_by(ManualJob.id.desc()).limit(1)).scalar_one_or_none()
    if pending is not None:
        return pending
    built = _manual_still_current(locale, category)
    if built is not None:
        return built
    job = ManualJob(user_id=user.id, device_category_id=category.id if category else None, locale=locale)
    db.session.add(job)
    db.session.flush()
    after_commit_task("build_manual", job.id)
    return job


def _manual_still_current(locale: str, category: DeviceCategory | None) -> ManualJob | None:
    """The newest manual built for this selection, if nothing it is made of changed since it was asked for: an
    article written, published or withdrawn (updated_at), or a case analysis completed (its root causes are
    printed). The same PDF is handed out instead of laying 100 pages out again."""
    changed = db.session.execute(select(func.max(KbArticle.updated_at))).scalar_one()
    analysed = db.session.execute(select(func.max(CaseAnalysis.completed_at))).scalar_one()
    since = max((t for t in (changed, analysed) if t is not None), default=None)
    query = (select(ManualJob).where(ManualJob.locale == locale, ManualJob.state == "done",
                                     ManualJob.device_category_id.is_(None) if category is None
                                     else ManualJob.device_category_id == category.id)
             .order_by(ManualJob.id.desc()).limit(1))
    if since is not None:
        query = query.where(ManualJob.created_at > since)
    return db.session.execute(query).scalar_one_or_none()


def manual_job(job_id: int) -> ManualJob | None:
    if not 0 < job_id < 2**31:  # beyond any id: never a database overflow
        return None
    return db.session.get(ManualJob, job_id)


def manual_file_name(job: ManualJob) -> str:
    return "faq-manual" + (f"-{job.device_category.code}" if job.device_category else "") + ".pdf"


# A manual still queued this long after it was asked for lost its task (a queue emptied, a failed enqueue).
MANUAL_LOST_AFTER = timedelta(minutes=10)


MANUAL_LEASE = timedelta(minutes=10)  # a manual takes seconds; a worker holding one longer was killed


def lost_manual_jobs(now: datetime) -> list[int]:
    """Jobs still queued long after they were asked for, or running past their lease (the worker was killed
    mid-render): the minute tick queues their task again (a task that runs twice builds once: claim_manual)."""
    return leases.lost(ManualJob, now, MANUAL_LOST_AFTER)


def claim_manual(job_id: int, now: datetime | None = None) -> bool:
    """The worker's first step (a short write): the job marked running under a lease; False when there is nothing
    to build, or another worker holds it still. One left running by a killed worker is taken over once its lease
    has passed."""
    now = now or utcnow()
    job = db.session.get(ManualJob, job_id)
    if job is None or job.state not in PENDING or leases.held(job, now):
        return False
    leases.take(job, now, MANUAL_LEASE)
    return True


def manual_job_html(job_id: int, *, company: str, tz, templates: Environment) -> tuple[str, int]:
    """The HTML of a job's manual and its number of articles (a read; the caller ends it before WeasyPrint)."""
    from ..core.locales import name_key

    job = db.session.get(ManualJob, job_id)
    category = job.device_category
    articles = articles_for_manual(category.id if category else None)
    return manual_html(articles, locale=job.locale, company=company, tz=tz, now=utcnow(), templates=templates,
                       scope=getattr(category, name_key(job.locale)) if category else None), len(articles)


def finish_manual(job_id: int, pdf: bytes | None, error: str | None = None, articles: int = 0) -> None:
    from ..core.blobs import store_blob

    job = db.session.get(ManualJob, job_id)
    job.finished_at, job.articles, job.lease_until = utcnow(), articles, None
    if pdf is None:
        job.state, job.error = "failed", error
    else:
        job.state, job.pdf_sha256 = "done", store_blob(pdf, "application/pdf").sha256

