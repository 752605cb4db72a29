"""Role checks for views. Every view declares who may use it; a test walks the URL map to hold us to it."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user

from domain.core.enums import Role
from extensions import login_manager

ALL_ROLES = frozenset(Role)
PUBLIC = "public"


def roles_required(*roles: Role) -> Callable:
    """Only signed-in users holding one of `roles` (an administrator flag counts as the admin role)."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*allowed):
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = allowed
        return wrapped

    return decorator


def signed_in(view: Callable) -> Callable:
    """Any signed-in user, whatever the role."""
    return roles_required(*ALL_ROLES)(view)


def public(view: Callable) -> Callable:
    """Open to everyone, signed in or not (sign-in page, health check)."""
    view.allowed_roles = PUBLIC
    return view


def csrf_unless_api_token() -> None:
    """For API views exempted from the global CSRF check: a browser session still needs the token;
    a request authenticated by a bearer token carries no ambient credentials and needs none."""
    from flask import current_app, g

    from extensions import csrf

    if not g.get("via_api_token") and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
