"""The pages and actions of the web interface.

Views look utilities up in the registry and call them as they are,
security-proxied: a view never checks a permission itself.  A button is
shown only when `canAccess` says its method may be called, and a forged
request for a method the person may not call is refused by the proxy
(`Unauthorized`, answered 403 by `forbidden`).
"""

from __future__ import annotations

import logging
import uuid

from pyramid.csrf import get_csrf_token
from pyramid.events import BeforeRender
from pyramid.events import NewResponse
from pyramid.events import subscriber
from pyramid.exceptions import BadCSRFToken
from pyramid.httpexceptions import HTTPBadRequest
from pyramid.httpexceptions import HTTPException
from pyramid.httpexceptions import HTTPNotFound
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.response import Response
from pyramid.security import forget
from pyramid.security import remember
from pyramid.view import exception_view_config
from pyramid.view import notfound_view_config
from pyramid.view import view_config
from storm.exceptions import DisconnectionError
from storm.exceptions import OperationalError
from zope.security.checker import canAccess
from zope.security.interfaces import Unauthorized

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.errors import CodeImportError
from codeimport.interfaces import ICodeImportEventSet
from codeimport.interfaces import ICodeImportListing
from codeimport.interfaces import ICodeImportMachineSet
from codeimport.interfaces import ICodeImportSet
from codeimport.interfaces import IPersonSet
from codeimport.interfaces.listing import LISTING_FILTERS
from codeimport.interfaces.listing import LISTING_SORTS
from codeimport.redact import redact_bytes
from codeimport.scripts.status import format_age
from codeimport.scripts.status import format_duration
from codeimport.scripts.status import format_time
from codeimport.web.app import MACHINE_ADMIN
from codeimport.web.chart import outcome
from codeimport.web.chart import run_chart
from codeimport.xmlrpc.transactions import DatabaseUnavailable

log = logging.getLogger("codeimport.web")

#: Review status changes offered as buttons: (label, target status).
REVIEW_ACTIONS = (
    ("Suspend", CodeImportReviewStatus.SUSPENDED),
    ("Resume", CodeImportReviewStatus.REVIEWED),
    ("Mark invalid", CodeImportReviewStatus.INVALID),
)
MACHINE_ACTIONS = ("online", "offline", "quiesce")
LIST_LIMIT = 1000
EVENT_LIMIT = 200
#: Events on one page of a machine's history.
MACHINE_EVENTS_PER_PAGE = 50
RESULT_LIMIT = 100


def _utility(request, interface, name=""):
    return request.registry.getUtility(interface, name=name)


@subscriber(NewResponse)
def add_security_headers(event):
    """No framing (the forms cannot be clicked through another site), no
    script, no sniffing."""
    headers = event.response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'none'; frame-ancestors 'none'")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")


@subscriber(BeforeRender)
def add_helpers(event):
    """What every template may use."""
    request = event.get("request")
    event["can"] = canAccess
    event["when"] = format_time
    event["duration"] = lambda d: "-" if d is None else format_duration(d)
    event["outcome"] = outcome
    event["person"] = getattr(request, "person_name", None)
    event["csrf_token"] = get_csrf_token(request) if request else ""
    event["flashes"] = request.session.pop_flash() if request else []


def _page(request) -> int:
    """The 1-based ``page`` of the query string (1 if not given)."""
    text = request.GET.get("page", "1")
    if not text.isdigit() or not 0 < int(text) <= 10**6:
        raise HTTPBadRequest(f"Not a page number: {text[:20]!r}.")
    return int(text)


def _choice(request, name, choices):
    value = request.GET.get(name, "")
    if value and value not in choices:
        raise HTTPBadRequest(
            f"Unknown {name} {value!r}; expected one of "
            f"{', '.join(choices)}.")
    return value or None


@view_config(route_name="imports", renderer="imports.html",
             request_method="GET")
def imports_view(request):
    kinds = [item.name for item in RevisionControlSystems.items]
    statuses = [item.name for item in CodeImportReviewStatus.items]
    filter = _choice(request, "filter", LISTING_FILTERS)
    sort = _choice(request, "sort", LISTING_SORTS) or "name"
    kind = _choice(request, "kind", kinds)
    status = _choice(request, "status", statuses)
    text = request.GET.get("q", "").strip()[:200]
    rows = _utility(request, ICodeImportListing).search(
        text=text or None, filter=filter,
        rcs_type=RevisionControlSystems.items[kind] if kind else None,
        review_status=(CodeImportReviewStatus.items[status]
                       if status else None),
        sort=sort, limit=LIST_LIMIT + 1)
    return {
        "rows": rows[:LIST_LIMIT], "truncated": len(rows) > LIST_LIMIT,
        "q": text, "filter": filter, "sort": sort, "kind": kind,
        "status": status, "filters": LISTING_FILTERS, "sorts": LISTING_SORTS,
        "kinds": kinds, "statuses": statuses, "age": format_age,
    }


def _code_import(request):
    try:
        return _utility(request, ICodeImportSet).get(
            int(request.matchdict["id"]))
    except (LookupError, ValueError):
        raise HTTPNotFound("There is no such import.") from None


def _review_actions(code_import):
    current = code_import.review_status
    return [(label, status.name) for label, status in REVIEW_ACTIONS
            if status != current
            and not (current == CodeImportReviewStatus.FAILING
                     and status == CodeImportReviewStatus.REVIEWED)]


@view_config(route_name="import", renderer="import.html",
             request_method="GET")
def import_view(request):
    code_import = _code_import(request)
    events, more_events = None, 0
    event_set = _utility(request, ICodeImportEventSet)
    if canAccess(event_set, "getEventsForCodeImport"):
        events = list(event_set.getEventsForCodeImport(code_import))
        more_events = max(0, len(events) - EVENT_LIMIT)
        events = events[-EVENT_LIMIT:][::-1]
    results = list(code_import.results)
    job = code_import.import_job
    now = _now(request)
    return {
        "ci": code_import, "job": job, "results": results[:RESULT_LIMIT],
        "more_results": max(0, len(results) - RESULT_LIMIT),
        "events": events, "more_events": more_events,
        "chart": run_chart(results), "now": now, "age": format_age,
        "running": job is not None and job.state == CodeImportJobState.RUNNING,
        "can_request": (
            job is not None and job.state == CodeImportJobState.PENDING
            and job.requesting_user is None
            and canAccess(code_import, "requestImport")),
        "can_retry": (
            code_import.review_status == CodeImportReviewStatus.FAILING
            and canAccess(code_import, "tryFailingImportAgain")),
        "review_actions": (_review_actions(code_import)
                           if canAccess(code_import, "updateFromData")
                           else []),
        "failures": code_import.consecutive_failure_count,
    }


def _now(request):
    # The database's clock, like every timestamp shown.
    stores = request.registry.codeimport_stores
    return stores[0].get().execute("SELECT CURRENT_TIMESTAMP").get_one()[0]


@view_config(route_name="import_log", request_method="GET")
def import_log_view(request):
    code_import = _code_import(request)
    wanted = int(request.matchdict["result"])
    for result in code_import.results:
        if result.id == wanted:
            break
    else:
        raise HTTPNotFound("That import has no such result.")
    if result.log_file is None:
        raise HTTPNotFound("That result has no log file.")
    body = redact_bytes(result.log_file.read())
    response = Response(body=body, content_type="text/plain",
                        charset="utf-8")
    # A log is the source's and the tools' text: never let a browser
    # treat it as anything but plain text.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def _back_to_import(request, code_import, message):
    request.session.flash(message)
    return HTTPSeeOther(request.route_url("import", id=code_import.id))


@view_config(route_name="import_request", request_method="POST")
def import_request_view(request):
    code_import = _code_import(request)
    code_import.requestImport(request.person, error_if_already_requested=True)
    return _back_to_import(request, code_import, "Import requested.")


@view_config(route_name="import_retry", request_method="POST")
def import_retry_view(request):
    code_import = _code_import(request)
    code_import.tryFailingImportAgain(request.person)
    return _back_to_import(
        request, code_import, "The import will be tried again.")


@view_config(route_name="import_review", request_method="POST")
def import_review_view(request):
    code_import = _code_import(request)
    name = request.POST.get("review_status", "")
    allowed = {status.name: status for _, status in REVIEW_ACTIONS}
    if name not in allowed:
        raise HTTPBadRequest(
            f"Unknown review status {name!r}; expected one of "
            f"{', '.join(allowed)}.")
    code_import.updateFromData({"review_status": allowed[name]},
                               request.person)
    return _back_to_import(
        request, code_import, f"Review status is now {name}.")


@view_config(route_name="machines", renderer="machines.html",
             request_method="GET")
def machines_view(request):
    machine_set = _utility(request, ICodeImportMachineSet)
    if not canAccess(machine_set, "getAll"):
        return {"machines": None, "now": None, "age": format_age}
    return {"machines": list(machine_set.getAll()), "now": _now(request),
            "age": format_age}


def _machine(request, interface_name=""):
    machine = _utility(request, ICodeImportMachineSet,
                       interface_name).getByHostname(
        request.matchdict["hostname"])
    if machine is None:
        raise HTTPNotFound("There is no such machine.")
    return machine


@view_config(route_name="machine", renderer="machine.html",
             request_method="GET")
def machine_view(request):
    machine = _machine(request)
    state = machine.state
    actions = []
    if canAccess(machine, "setOnline"):
        if state != CodeImportMachineState.ONLINE:
            actions.append(("online", "Set online"))
        if state != CodeImportMachineState.OFFLINE:
            actions.append(("offline", "Set offline"))
        if state == CodeImportMachineState.ONLINE:
            actions.append(("quiesce", "Quiesce"))
    # One page of the history: a busy machine has many thousands.
    page = _page(request)
    per_page = MACHINE_EVENTS_PER_PAGE
    pages = max(1, -(-machine.event_count // per_page))
    if page > pages:
        raise HTTPNotFound(f"The history has {pages} page(s).")
    return {"machine": machine, "now": _now(request), "age": format_age,
            "events": machine.getEvents((page - 1) * per_page, per_page),
            "page": page, "pages": pages, "actions": actions}


@view_config(route_name="machine_state", request_method="POST")
def machine_state_view(request):
    action = request.POST.get("action", "")
    if action not in MACHINE_ACTIONS:
        raise HTTPBadRequest(
            f"Unknown action {action!r}; expected one of "
            f"{', '.join(MACHINE_ACTIONS)}.")
    message = request.POST.get("message", "").strip()[:500] or None
    machine = _machine(request, MACHINE_ADMIN)
    user = None
    if request.person is not None:
        user = _utility(request, IPersonSet, MACHINE_ADMIN).get(
            request.person.id)
    if action == "online":
        machine.setOnline(user, message)
    elif action == "offline":
        machine.setOffline(CodeImportMachineOfflineReason.STOPPED, user,
                           message)
    else:
        machine.setQuiescing(user, message)
    request.session.flash(f"{machine.hostname} is now {machine.state.name}.")
    return HTTPSeeOther(request.route_url(
        "machine", hostname=machine.hostname))


@view_config(route_name="login", renderer="login.html",
             request_method="GET")
def login_form(request):
    return {"error": None, "name": "", "came_from": _came_from(request)}


def _came_from(request):
    target = request.params.get("came_from", "")
    # Only a path on this site: never an open redirect.
    if not target.startswith("/") or target.startswith("//"):
        return request.route_path("imports")
    return target


@view_config(route_name="login", renderer="login.html",
             request_method="POST")
def login_view(request):
    name = request.POST.get("name", "").strip()
    secret = request.POST.get("password", "")
    came_from = _came_from(request)
    throttle = request.registry.codeimport_sign_in_throttle
    client = request.client_addr or "-"
    # Bounded keys: a name no person has is still counted.
    key = name[:100]
    wait = throttle.retry_after(client, key)
    if wait:
        # Refused before the password is looked at.
        minutes = max(1, round(wait / 60))
        request.response.status = 429
        request.response.headers["Retry-After"] = str(int(wait) + 1)
        return {"error": "Too many failed sign-ins; try again in "
                f"{minutes} minute{'s' if minutes > 1 else ''}.",
                "name": name, "came_from": came_from}
    credentials = request.registry.codeimport_credentials
    person = None
    if credentials.check(name, secret):
        person = _utility(request, IPersonSet).getByName(name)
    # A team is nobody: it cannot sign in, whatever the credentials say.
    if person is None or person.is_team:
        throttle.failed(client, key)
        request.response.status = 403
        return {"error": "Wrong name or password.", "name": name,
                "came_from": came_from}
    throttle.succeeded(key)
    headers = remember(request, person.name)
    request.session.flash(f"Signed in as {person.name}.")
    return HTTPSeeOther(came_from, headers=headers)


@view_config(route_name="logout", request_method="POST")
def logout_view(request):
    headers = forget(request)
    return HTTPSeeOther(request.route_url("imports"), headers=headers)


# -- errors -----------------------------------------------------------------

def _error(request, status, title, message):
    request.response.status = status
    return {"title": title, "message": message}


@exception_view_config(Unauthorized, renderer="error.html")
def forbidden(exc, request):
    message = "You may not do that."
    if getattr(request, "person", None) is None:
        message += " Sign in first."
    return _error(request, 403, "Forbidden", message)


@exception_view_config(BadCSRFToken, renderer="error.html")
def bad_csrf(exc, request):
    return _error(request, 400, "Form expired",
                  "The form was too old or did not come from this site; "
                  "reload the page and try again.")


@notfound_view_config(renderer="error.html")
def not_found(exc, request):
    message = exc.detail if isinstance(exc.detail, str) else None
    return _error(request, 404, "Not found",
                  message or "There is no such page.")


@exception_view_config(HTTPException, renderer="error.html")
def http_error(exc, request):
    if exc.code < 400:
        return exc
    message = exc.detail if isinstance(exc.detail, str) else exc.explanation
    return _error(request, exc.code, exc.title, message)


@exception_view_config(CodeImportError, renderer="error.html")
def refused(exc, request):
    return _error(request, 409, "Not done", str(exc))


@exception_view_config(DisconnectionError, renderer="error.html")
@exception_view_config(OperationalError, renderer="error.html")
@exception_view_config(DatabaseUnavailable, renderer="error.html")
def database_unavailable(exc, request):
    log.warning("database unavailable: %s", str(exc).strip())
    request.response.headers["Retry-After"] = "5"
    return _error(request, 503, "Database unavailable",
                  "The database does not answer; try again shortly.")


@exception_view_config(Exception, renderer="error.html")
def internal_error(exc, request):
    reference = uuid.uuid4().hex[:12]
    log.error("internal error, reference %s", reference, exc_info=exc)
    return _error(request, 500, "Internal error",
                  f"Something went wrong (reference {reference}).")
