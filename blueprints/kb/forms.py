"""Forms for CSRF and rendering; the domain (domain.kb) validates the content."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField, TextAreaField

from ..core.forms import SafeForm


class ArticleForm(SafeForm):
    title = StringField(_l("Title"))
    symptoms = TextAreaField(_l("Symptoms"), render_kw={"rows": 4})
    solution = TextAreaField(_l("Solution"), render_kw={"rows": 6})
    precautions = TextAreaField(_l("Precautions"), render_kw={"rows": 3})
    sources = StringField(_l("Source orders (request numbers)"), render_kw={"placeholder": "FS-2026-000123"})


class CaseAnalysisForm(SafeForm):
    summary = TextAreaField(_l("Summary of the case"), render_kw={"rows": 3})
    root_cause = TextAreaField(_l("Root cause"), render_kw={"rows": 3})
    fix = TextAreaField(_l("Fix"), render_kw={"rows": 4})
    prevention = TextAreaField(_l("Prevention"), render_kw={"rows": 3})
    article_title = StringField(_l("FAQ article title"))
    symptoms = TextAreaField(_l("Symptoms, as a customer would describe them"), render_kw={"rows": 3})


class FaultCategoryForm(SafeForm):
    name_zh = StringField(_l("Chinese name"))
    name_en = StringField(_l("English name"))
    active = BooleanField(_l("In use"), default=True)
