"""Every route against every role: who may open what. A new route must be added to this table."""
from __future__ import annotations

import pytest

from blueprints.access import PUBLIC
from domain.core.enums import Role

from .helpers import PASSWORD, AuthActions, module_app

ANON = "anonymous"
EVERY_ROLE = set(Role)
ADMIN_ONLY = {Role.ADMIN}
SUPERVISOR = {Role.SUPERVISOR}
TECHNICIAN = {Role.TECHNICIAN}
INTAKE = {Role.DISPATCHER, Role.SUPERVISOR}
EDITORS = {Role.EXPERT, Role.SUPERVISOR}
# Who may see a request nobody has been assigned or escalated to: the rest get 403 from the object check.
SEES_ANY_REQUEST = {Role.DISPATCHER, Role.SUPERVISOR}

# (method, url, endpoint, declared roles[, who gets in when that differs: object-level checks]).
# "public" means everyone, signed in or not. {n} is an unassigned request.
ROUTES = [
    ("GET", "/auth/login", "auth.login", PUBLIC),
    ("POST", "/auth/logout", "auth.logout", PUBLIC),
    ("GET", "/healthz", "core.healthz", PUBLIC),
    ("POST", "/lang", "core.set_language", PUBLIC),
    ("GET", "/", "core.index", EVERY_ROLE),
    ("GET", "/auth/account", "auth.account", EVERY_ROLE),
    ("GET", "/api/v1/session", "auth_api.api_session", EVERY_ROLE),
    ("GET", "/admin/users", "admin.users", ADMIN_ONLY),
    ("GET", "/admin/users/new", "admin.new_user", ADMIN_ONLY),
    ("GET", "/admin/users/{user_id}", "admin.edit_user", ADMIN_ONLY),
    ("POST", "/admin/users/{user_id}/active", "admin.set_active", ADMIN_ONLY),
    ("POST", "/admin/users/{user_id}/password", "admin.reset_password", ADMIN_ONLY),
    ("GET", "/admin/policy", "admin.policy", ADMIN_ONLY),
    ("GET", "/admin/calendar", "admin.calendar", ADMIN_ONLY),
    ("POST", "/admin/calendar/2031-01-06/delete", "admin.delete_override", ADMIN_ONLY),
    ("GET", "/dispatch/new", "dispatch.new_request", INTAKE),
    ("GET", "/dispatch/board", "dispatch.board", SEES_ANY_REQUEST),
    ("GET", "/dispatch/mine", "dispatch.mine", TECHNICIAN),
    ("GET", "/dispatch/escalated", "dispatch.escalated", {Role.EXPERT}),
    ("GET", "/dispatch/requests/{n}", "dispatch.detail", EVERY_ROLE, SEES_ANY_REQUEST),
    ("GET", "/dispatch/requests/{n}/photos/6f1d3d9e-3c35-4f8a-9d2e-0a8c3b8f6d10", "dispatch.photo", EVERY_ROLE,
     SEES_ANY_REQUEST),
    ("GET", "/dispatch/requests/{n}/signature.png", "dispatch.signature", EVERY_ROLE, SEES_ANY_REQUEST),
    ("POST", "/dispatch/requests/{n}/assign", "dispatch.assign", SUPERVISOR),
    ("POST", "/dispatch/requests/{n}/escalate", "dispatch.escalate", SUPERVISOR),
    ("POST", "/dispatch/requests/{n}/cancel", "dispatch.cancel", SUPERVISOR),
    ("POST", "/dispatch/requests/{n}/notes", "dispatch.add_note", {Role.TECHNICIAN, Role.EXPERT, Role.SUPERVISOR},
     SUPERVISOR),
    ("POST", "/dispatch/requests/{n}/contact", "dispatch.contact", TECHNICIAN, set()),
    ("POST", "/dispatch/requests/{n}/remote", "dispatch.remote", TECHNICIAN, set()),
    ("POST", "/dispatch/requests/{n}/resolve", "dispatch.resolve", TECHNICIAN, set()),
    ("POST", "/dispatch/requests/{n}/visit", "dispatch.visit", TECHNICIAN, set()),
    ("POST", "/dispatch/requests/{n}/prepare", "dispatch.prepare", TECHNICIAN, set()),
    # {n} has no service order yet: the allowed roles get 404, not 403.
    ("GET", "/orders/{n}/pdf", "orders.pdf", {Role.SUPERVISOR, Role.EXPERT, Role.TECHNICIAN},
     {Role.SUPERVISOR, Role.EXPERT}),
    ("GET", "/orders/{n}/internal.pdf", "orders.internal_pdf", {Role.SUPERVISOR, Role.EXPERT, Role.TECHNICIAN},
     {Role.SUPERVISOR, Role.EXPERT}),
    ("POST", "/orders/{n}/share", "orders.share", {Role.SUPERVISOR, Role.TECHNICIAN}, SUPERVISOR),
    ("POST", "/orders/{n}/share/revoke", "orders.revoke_share", {Role.SUPERVISOR, Role.TECHNICIAN}, SUPERVISOR),
    ("GET", "/orders/export.zip?from=2026-01-01&to=2026-01-31", "orders.export_zip", SUPERVISOR),
    ("GET", "/orders/review", "orders.review_queue", SUPERVISOR),
    ("POST", "/orders/{n}/internal", "orders.save_internal", TECHNICIAN, set()),
    ("POST", "/orders/{n}/review", "orders.review_order", SUPERVISOR),
    ("GET", "/o/bad-token", "orders.customer_copy", PUBLIC),
    ("GET", "/d/abcdefghijkmnpqr", "customer.report_device", PUBLIC),
    ("GET", "/report", "customer.report_web", PUBLIC),
    ("GET", "/c/bad-token", "customer.track", PUBLIC),
    ("POST", "/c/bad-token/confirm", "customer.confirm_signature", PUBLIC),
    ("POST", "/hooks/sms/aliyun/bad-token", "alerts.sms_reply", PUBLIC),
    ("POST", "/auth/account/phone", "auth.account_phone", EVERY_ROLE),
    ("GET", "/dispatch/day", "dispatch.day", INTAKE),
    ("POST", "/dispatch/requests/{n}/unsigned", "dispatch.decide_unsigned", SUPERVISOR),
    ("POST", "/dispatch/requests/{n}/another-visit", "dispatch.another_visit", SUPERVISOR),
    ("GET", "/orders/{n}/review", "orders.review_page", SUPERVISOR),
    ("POST", "/api/v1/requests/{n}/signing-code", "field_api.signing_code", TECHNICIAN),
    ("POST", "/admin/sms/opt-outs/lift", "alerts.sms_lift_opt_out", ADMIN_ONLY),
    ("POST", "/dispatch/requests/{n}/forward", "dispatch.forward", INTAKE, SEES_ANY_REQUEST),
    ("POST", "/dispatch/requests/{n}/tracking/revoke", "dispatch.revoke_tracking", INTAKE, SEES_ANY_REQUEST),
    ("POST", "/c/bad-token/rating", "customer.rate", PUBLIC),
    ("GET", "/verify/bad-token", "orders.verify", PUBLIC),
    ("GET", "/verify", "orders.verify_any", PUBLIC),
    ("POST", "/api/v1/verify", "orders.verify_api", PUBLIC),
    ("GET", "/field/", "field.app", TECHNICIAN),
    ("GET", "/field/offline", "field.offline", PUBLIC),
    ("GET", "/field/manifest.webmanifest", "field.manifest", PUBLIC),
    ("GET", "/sw.js", "field.service_worker", PUBLIC),
    ("GET", "/static/field/app.bundle.js", "field.bundle", PUBLIC),
    ("POST", "/api/v1/sync", "field_api.sync", TECHNICIAN),
    ("POST", "/api/v1/sync/photo", "field_api.sync_photo", TECHNICIAN),
    ("GET", "/api/v1/me/jobs", "field_api.my_jobs", TECHNICIAN),
    ("GET", "/api/v1/openapi.json", "field_api.openapi", PUBLIC),
    ("POST", "/api/v1/requests", "dispatch_api.create_request", INTAKE),
    ("POST", "/api/v1/requests/{n}/assign", "dispatch_api.assign_request", SUPERVISOR),
    ("GET", "/api/v1/requests/{n}", "dispatch_api.get_request", EVERY_ROLE, SEES_ANY_REQUEST),
    ("GET", "/devices/", "devices.index", EVERY_ROLE),
    ("GET", "/devices/new", "devices.new_device", INTAKE),
    ("GET", "/devices/ZC-NONE", "devices.detail", EVERY_ROLE),
    ("GET", "/devices/ZC-NONE/edit", "devices.edit", INTAKE),
    ("POST", "/devices/ZC-NONE/label", "devices.reissue_label", INTAKE),
    ("GET", "/devices/export.csv", "devices.export_csv", INTAKE),
    ("GET", "/devices/labels.pdf?asset=ZC-NONE", "devices.labels_pdf", INTAKE),
    ("GET", "/devices/import", "devices.import_csv", INTAKE),
    ("POST", "/api/v1/devices", "devices_api.create_device", INTAKE),
    ("GET", "/api/v1/devices/ZC-NONE", "devices_api.get_device", EVERY_ROLE),
    ("GET", "/api/v1/devices?q=ZC", "devices_api.search_devices", EVERY_ROLE),
    ("GET", "/reports/weekly", "reports.weekly", SUPERVISOR),
    ("GET", "/reports/weekly.csv?week=2026-W47", "reports.weekly_csv", SUPERVISOR),
    ("GET", "/reports/weekly.pdf?week=2026-W47", "reports.weekly_pdf", SUPERVISOR),
    ("GET", "/api/v1/reports/weekly?week=2026-W47", "reports_api.weekly", SUPERVISOR),
    ("GET", "/reports/assessment", "reports.assessment", {Role.SUPERVISOR, Role.ADMIN}),
    ("GET", "/reports/assessment.csv?month=2026-11", "reports.assessment_csv", {Role.SUPERVISOR, Role.ADMIN}),
    ("GET", "/reports/assessment.pdf?month=2026-11", "reports.assessment_pdf", {Role.SUPERVISOR, Role.ADMIN}),
    ("GET", "/api/v1/reports/assessment?month=2026-11", "reports_api.assessment", {Role.SUPERVISOR, Role.ADMIN}),
    ("GET", "/kb/", "kb.index", EVERY_ROLE),
    ("GET", "/kb/articles/999", "kb.article", EVERY_ROLE),
    ("POST", "/kb/manuals?category=999", "kb.start_manual", EVERY_ROLE),  # no such kind of device: 404
    ("GET", "/kb/manuals/999", "kb.manual_status", EVERY_ROLE),
    ("GET", "/kb/manuals/999.pdf", "kb.manual_download", EVERY_ROLE),
    ("GET", "/kb/articles/new", "kb.new_article", EDITORS),
    ("GET", "/kb/articles/999/edit", "kb.edit_article", EDITORS),
    ("POST", "/kb/articles/999/status", "kb.set_article_status", EDITORS),
    ("GET", "/kb/cases", "kb.cases", EDITORS),
    ("GET", "/kb/cases/{n}", "kb.case_analysis", EDITORS),  # {n} has no case analysis: 404 for editors
    ("GET", "/kb/faults", "kb.faults", EDITORS),
    ("POST", "/kb/faults/999", "kb.edit_fault", EDITORS),
    ("GET", "/orders/", "orders.archive_list", SUPERVISOR),
    # {n} has no service order: the allowed roles get 404.
    ("GET", "/orders/{n}/preview.png", "orders.preview", {Role.SUPERVISOR, Role.EXPERT, Role.TECHNICIAN},
     {Role.SUPERVISOR, Role.EXPERT}),
    ("POST", "/orders/exports", "orders.start_export", SUPERVISOR),
    ("GET", "/orders/exports/999", "orders.export_status", SUPERVISOR),
    ("GET", "/orders/exports/999.zip", "orders.export_download", SUPERVISOR),
    ("GET", "/notifications/", "alerts.inbox", EVERY_ROLE),
    ("POST", "/notifications/999/read", "alerts.mark_read", EVERY_ROLE),
    ("POST", "/notifications/read-all", "alerts.mark_all_read", EVERY_ROLE),
    ("GET", "/notifications/preferences", "alerts.preferences", EVERY_ROLE),
    ("GET", "/admin/outbox", "alerts.outbox", ADMIN_ONLY),
    ("GET", "/admin/channels", "alerts.channel_list", ADMIN_ONLY),
    ("GET", "/admin/sms", "alerts.sms_settings", ADMIN_ONLY),
    ("GET", "/admin/channels/999", "alerts.channel_edit", ADMIN_ONLY),
    ("POST", "/admin/channels/999/test", "alerts.channel_test", ADMIN_ONLY),
    ("POST", "/admin/channels/999/delete", "alerts.channel_delete", ADMIN_ONLY),
    ("GET", "/reports/delivered", "alerts.delivered_reports", SUPERVISOR),
    ("GET", "/reports/delivered/2026-W47.pdf", "alerts.delivered_report_file", SUPERVISOR),
    ("GET", "/api/v1/notifications", "alerts_api.inbox", EVERY_ROLE),
    ("POST", "/api/v1/notifications/999/read", "alerts_api.mark_read", EVERY_ROLE),
    ("GET", "/api/v1/push/key", "alerts_api.push_key", EVERY_ROLE),
    ("POST", "/api/v1/push/subscriptions", "alerts_api.subscribe", EVERY_ROLE),
    ("DELETE", "/api/v1/push/subscriptions", "alerts_api.unsubscribe", EVERY_ROLE),
]


# What a user who may use a route gets from the table's request (an empty form, {n} with no order, article 999):
# the page itself (200, the default), the one redirect it makes, the form's 400, or the object's 404. Anything
# else (a 403, a 500, a redirect elsewhere) is a page broken for that role.
INVALID_FORM, NO_SUCH_OBJECT = (400, None), (404, None)
ANSWERS = {
    "auth.login": (302, "/"),
    "auth.logout": (302, "/auth/login"),
    "core.set_language": (302, "/"),
    "admin.set_active": (302, "/admin/users/{user_id}"),
    "admin.reset_password": (302, "/admin/users/{user_id}"),
    "admin.delete_override": (302, "/admin/calendar"),
    "dispatch.assign": (302, "/dispatch/requests/{n}"),
    "orders.review_order": (302, "/dispatch/requests/{n}"),
    "dispatch.add_note": INVALID_FORM,
    "dispatch.cancel": INVALID_FORM,
    "dispatch.escalate": INVALID_FORM,
    "dispatch_api.create_request": INVALID_FORM,
    "dispatch_api.assign_request": INVALID_FORM,
    "field_api.sync": INVALID_FORM,
    "field_api.sync_photo": INVALID_FORM,
    "devices.detail": NO_SUCH_OBJECT,  # no device ZC-NONE in the register
    "devices.edit": NO_SUCH_OBJECT,
    "devices.labels_pdf": NO_SUCH_OBJECT,
    "devices.reissue_label": NO_SUCH_OBJECT,
    "devices_api.get_device": NO_SUCH_OBJECT,
    "devices_api.create_device": INVALID_FORM,
    "orders.pdf": NO_SUCH_OBJECT,
    "alerts.channel_edit": NO_SUCH_OBJECT,
    "alerts.channel_test": NO_SUCH_OBJECT,
    "alerts.channel_delete": NO_SUCH_OBJECT,
    "orders.internal_pdf": NO_SUCH_OBJECT,
    "orders.share": NO_SUCH_OBJECT,
    "orders.revoke_share": NO_SUCH_OBJECT,  # {n} has no signed order yet
    "orders.customer_copy": NO_SUCH_OBJECT,
    "customer.report_device": NO_SUCH_OBJECT,  # a label code that is no device's
    "customer.track": NO_SUCH_OBJECT,
    "customer.rate": NO_SUCH_OBJECT,
    "dispatch.revoke_tracking": (302, "/dispatch/requests/{n}"),
    "dispatch.forward": (302, "/dispatch/requests/{n}"),  # {n} was entered at the desk: nothing to forward
    "orders.verify": NO_SUCH_OBJECT,
    "orders.verify_api": INVALID_FORM,  # no file sent
    "kb.article": NO_SUCH_OBJECT,
    "kb.edit_article": NO_SUCH_OBJECT,
    "kb.set_article_status": NO_SUCH_OBJECT,
    "kb.edit_fault": NO_SUCH_OBJECT,
    "kb.case_analysis": NO_SUCH_OBJECT,
    "kb.start_manual": NO_SUCH_OBJECT,
    "kb.manual_status": NO_SUCH_OBJECT,
    "kb.manual_download": NO_SUCH_OBJECT,
    "dispatch.photo": NO_SUCH_OBJECT,  # {n} has no photo and no signature
    "dispatch.signature": NO_SUCH_OBJECT,
    "orders.preview": NO_SUCH_OBJECT,  # {n} has no signed order yet
    "orders.start_export": INVALID_FORM,
    "orders.export_status": NO_SUCH_OBJECT,
    "orders.export_download": NO_SUCH_OBJECT,
    "alerts.mark_read": NO_SUCH_OBJECT,
    "alerts.mark_all_read": (302, "/notifications/"),
    "alerts.delivered_report_file": NO_SUCH_OBJECT,  # no report stored for that week
    "alerts_api.mark_read": NO_SUCH_OBJECT,
    "alerts_api.subscribe": INVALID_FORM,
    "alerts_api.unsubscribe": INVALID_FORM,
    "customer.confirm_signature": NO_SUCH_OBJECT,
    "alerts.sms_reply": NO_SUCH_OBJECT,  # not the callback's token
    "alerts.sms_lift_opt_out": NO_SUCH_OBJECT,  # no opt-out for that number
    "orders.review_page": (302, "/dispatch/requests/{n}"),  # {n} is not waiting for review
    "dispatch.decide_unsigned": (302, "/dispatch/requests/{n}"),  # nothing to decide on {n}: said on its page
    "dispatch.another_visit": (302, "/dispatch/requests/{n}"),
    "field_api.signing_code": (403, None),  # {n} is not this technician's
    "auth.account_phone": (302, "/auth/account"),  # an empty number clears it: back to the account page
}


def test_every_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == {route[2] for route in ROUTES}


def test_every_view_declares_who_may_use_it(app):
    for endpoint, view in app.view_functions.items():
        if endpoint == "static":
            continue
        allowed = getattr(view, "allowed_roles", None)
        assert allowed is not None, f"{endpoint} has no role check"
        table = next(route[3] for route in ROUTES if route[2] == endpoint)
        assert allowed == (PUBLIC if table == PUBLIC else frozenset(table)), endpoint


CASES = [(route[0], route[1], route[2], route[4] if len(route) > 4 else route[3], who)
         for route in ROUTES for who in [ANON, *Role]]
# A GET changes nothing: every GET case reads one world built once for the module; a POST gets a world of its own.
READ_CASES = [case for case in CASES if case[0] == "GET"]
WRITE_CASES = [case for case in CASES if case[0] != "GET"]


def _new_request(app, dispatcher_id: int) -> str:
    from zoneinfo import ZoneInfo

    from domain.core import context
    from domain.core.db import db
    from domain.core.models import User
    from domain.requests import intake

    with app.app_context():
        ctx = context.Context(actor=db.session.get(User, dispatcher_id), tz=ZoneInfo("Asia/Shanghai"))
        ticket = intake.create_request({"customer_name": "客户", "contact_phone": "13800000000",
                                        "device_model": "某设备", "problem": "无信号", "urgency": "normal"}, ctx)
        db.session.commit()
        return ticket.number


@pytest.fixture
def request_number(app, make_user):
    dispatcher_id, _ = make_user(Role.DISPATCHER, "intake-desk")
    return _new_request(app, dispatcher_id)


@pytest.fixture(scope="module")
def read_world(database, tmp_path_factory):
    """One app and database for every GET case: a user of each role signed in once, the target user, the request."""
    from domain.core import accounts
    from domain.core.db import db

    with module_app(database, tmp_path_factory, "access-world") as app:
        with app.app_context():
            users = {name: accounts.create_user(name, PASSWORD, role, display_name=f"Test {role.value}", via="cli")
                     for name, role in [("target-user", Role.TECHNICIAN), ("intake-desk", Role.DISPATCHER),
                                        *((f"as-{role.value}", role) for role in Role)]}
            db.session.commit()
            ids = {name: user.id for name, user in users.items()}
        clients = {}
        for role in Role:
            clients[role] = app.test_client()
            assert AuthActions(clients[role]).login(f"as-{role.value}").status_code == 302
        yield {"app": app, "clients": clients, "target_id": ids["target-user"],
               "number": _new_request(app, ids["intake-desk"])}


def _check_answer(response, url, endpoint, allowed, who, target_id, number) -> None:
    if allowed == PUBLIC or (who != ANON and who in allowed):
        status, location = ANSWERS.get(endpoint, (200, None))
        if endpoint == "auth.login" and who == ANON:
            status, location = 200, None  # the form; a signed-in user is sent home
        location = location and location.format(user_id=target_id, n=number)
        assert (response.status_code, response.headers.get("Location")) == (status, location), endpoint
    elif who == ANON:
        if url.startswith("/api/"):
            assert response.status_code == 401 and response.is_json
        else:
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/auth/login?next=")
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("method,url,endpoint,allowed,who", READ_CASES,
                         ids=[f"{c[0]} {c[1]} as {c[4]}" for c in READ_CASES])
def test_read_route_by_role(read_world, method, url, endpoint, allowed, who):
    client = read_world["app"].test_client() if who == ANON else read_world["clients"][who]
    target_id, number = read_world["target_id"], read_world["number"]
    response = client.get(url.format(user_id=target_id, n=number))
    _check_answer(response, url, endpoint, allowed, who, target_id, number)


@pytest.mark.parametrize("method,url,endpoint,allowed,who", WRITE_CASES,
                         ids=[f"{c[0]} {c[1]} as {c[4]}" for c in WRITE_CASES])
def test_write_route_by_role(client, make_user, auth, request_number, method, url, endpoint, allowed, who):
    target_id, _ = make_user(Role.TECHNICIAN, "target-user")
    if who != ANON:
        _, name = make_user(who)
        assert auth.login(name).status_code == 302
    response = client.open(url.format(user_id=target_id, n=request_number), method=method,
                           data={"active": "1", "lang": "en", "password": "long-enough-pw"})
    _check_answer(response, url, endpoint, allowed, who, target_id, request_number)


def test_supervisor_with_admin_flag_manages_users(client, make_user, auth):
    _, name = make_user(Role.SUPERVISOR, is_admin=True)
    auth.login(name)
    assert client.get("/admin/users").status_code == 200


def test_navigation_shows_only_what_the_role_may_open(client, make_user, auth):
    _, name = make_user(Role.TECHNICIAN)
    auth.login(name)
    assert "/admin/users" not in client.get("/").get_data(as_text=True)
    auth.logout()
    _, admin = make_user(Role.ADMIN)
    auth.login(admin)
    assert "/admin/users" in client.get("/").get_data(as_text=True)
