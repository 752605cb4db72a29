"""The interface languages, listed once, and the one rule that names any locale by one of them.

The app's names are "zh_CN" (the default: the team is Chinese-speaking) and "en". Babel calls the first
"zh_Hans_CN"; a browser says "zh-CN"; an HTML document says lang="zh-CN".
"""
from __future__ import annotations

SUPPORTED_LOCALES: tuple[str, ...] = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"


def is_english(locale: object) -> bool:
    """True for "en", "en_US", a Babel Locale whose language is English; anything else is Chinese."""
    language = getattr(locale, "language", None) or str(locale or "").replace("-", "_").split("_")[0]
    return language == "en"


def app_locale(locale: object) -> str:
    """The app's name ("zh_CN" or "en") for any locale."""
    return "en" if is_english(locale) else DEFAULT_LOCALE


def html_lang(locale: object) -> str:
    return "en" if is_english(locale) else "zh-CN"


def name_key(locale: object) -> str:
    """Which column of a bilingual name (catalog, fault categories) to show."""
    return "name_en" if is_english(locale) else "name_zh"
