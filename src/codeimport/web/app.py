"""`make_app`: the web interface's WSGI application.

Each request runs in one database transaction and one zope.security
interaction as the signed-in person (or anonymously).  The pages look
utilities up in the Pyramid registry, where `codeimport.configure`
registered them security-proxied; a refused call raises `Unauthorized`
from the proxy and the request answers 403, rolled back.

The interface reads and changes imports as database role ``webapp``.
That role may not change machines (the second layer of protection), so
the machine-state buttons use a second registry whose utilities act as
role ``machineadmin``, which may change a machine's state and write its
audit event and nothing else; the proxies still decide who may press
them.
"""

from __future__ import annotations

import logging

from markupsafe import Markup
from pyramid.config import Configurator
from pyramid.csrf import SessionCSRFStoragePolicy
from pyramid.session import SignedCookieSessionFactory
from pyramid.tweens import MAIN
from zope.interface.registry import Components
from zope.security.management import endInteraction
from zope.security.management import queryInteraction
from zope.security.management import setSecurityPolicy

from codeimport.interfaces import ICodeImportMachineSet
from codeimport.interfaces import IPersonSet
from codeimport.registration import configure
from codeimport.security import CodeImportSecurityPolicy
from codeimport.security import login_anonymous
from codeimport.security import login_person
from codeimport.text import printable
from codeimport.web.identity import SessionIdentity
from codeimport.web.throttle import SignInThrottle
from codeimport.xmlrpc.transactions import ThreadStores
from codeimport.xmlrpc.transactions import service_dsn

__all__ = ["MACHINE_ADMIN", "WebApplication", "make_app", "shown"]

log = logging.getLogger("codeimport.web")

#: The name under which the machine and person sets acting as role
#: machineadmin are registered (objects of one store link only to objects of
#: the same store).
MACHINE_ADMIN = "machine-admin"


def shown(value):
    """Every value a template outputs passes here (Jinja's ``finalize``),
    before HTML escaping: text has its control, bidi and other invisible
    characters written as escapes (`codeimport.text.printable`, keeping
    line breaks), so that a log tail or a URL cannot reorder or hide what
    the page shows.  Markup the templates built themselves is left alone.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value, multiline=True)
    return value


class WebApplication:
    """The Pyramid WSGI application and the stores it owns."""

    def __init__(self, wsgi, stores):
        self._wsgi = wsgi
        self._stores = stores

    def __call__(self, environ, start_response):
        return self._wsgi(environ, start_response)

    def close(self) -> None:
        for stores in self._stores:
            stores.close()


def transaction_tween_factory(handler, registry):
    """One transaction and one security interaction per request.

    A GET never changes anything; a POST that answers below 400 is
    committed; everything else is rolled back.  It runs under Pyramid's
    exception views, which then render the error page.
    """
    stores = registry.codeimport_stores

    def tween(request):
        # Start from a fresh transaction, whatever an earlier request on
        # this thread left behind: its CURRENT_TIMESTAMP is "now".
        _rollback(stores)
        person = None
        name = request.authenticated_userid
        if name is not None:
            person = registry.getUtility(IPersonSet).getByName(name)
        if person is None:
            login_anonymous()
        else:
            login_person(person)
        request.person = person
        # Error pages are rendered after the rollback: they show this
        # string, never a database object that would reload itself.
        request.person_name = None if person is None else person.name
        try:
            response = handler(request)
            if request.method == "POST" and response.status_code < 400:
                for each in stores:
                    each.get().commit()
            else:
                _rollback(stores)
            return response
        except BaseException:
            _rollback(stores)
            raise
        finally:
            if queryInteraction() is not None:
                endInteraction()

    return tween


def _rollback(stores) -> None:
    for each in stores:
        try:
            each.get().rollback()
        except Exception:
            # A broken connection: Storm reconnects on the next statement.
            log.debug("rollback failed", exc_info=True)


def make_app(dsn: str, credentials, *, session_secret: str, settings=None,
             secure_cookies: bool = False,
             statement_timeout: float | None = 30.0,
             sign_in_throttle: SignInThrottle | None = None
             ) -> WebApplication:
    """Build the web interface.

    :param credentials: a `codeimport.xmlrpc.auth.Credentials` whose users
        are the names of people who may sign in.
    :param session_secret: the key signing the session cookie; every
        process serving the same site needs the same one.
    :param secure_cookies: send the cookie over HTTPS only (set it when a
        TLS proxy is in front).
    :param sign_in_throttle: the limit on failed sign-ins
        (`codeimport.web.throttle`); a new default one if None.
    """
    setSecurityPolicy(CodeImportSecurityPolicy)
    web_stores = ThreadStores(
        service_dsn(dsn, "codeimport-web", statement_timeout),
        "webapp", settings)
    machine_stores = ThreadStores(
        service_dsn(dsn, "codeimport-web-machines", statement_timeout),
        "machineadmin", settings)
    config = Configurator(settings={
        "jinja2.directories": "codeimport.web:templates",
        "jinja2.autoescape": "true",
        "jinja2.undefined": "strict",
        # Logs and sources shown through it never show a password.
        "jinja2.filters": "redact = codeimport.redact:redact",
        "jinja2.finalize": shown,
    })
    registry = config.registry
    configure(registry, get_store=web_stores.get, settings=settings)
    machines = configure(Components(), get_store=machine_stores.get,
                         settings=settings)
    for interface in (ICodeImportMachineSet, IPersonSet):
        registry.registerUtility(machines.getUtility(interface), interface,
                                 name=MACHINE_ADMIN)
    registry.codeimport_stores = (web_stores, machine_stores)
    registry.codeimport_credentials = credentials
    registry.codeimport_sign_in_throttle = (
        sign_in_throttle or SignInThrottle())
    config.set_session_factory(SignedCookieSessionFactory(
        session_secret, cookie_name="codeimport_session", httponly=True,
        samesite="Strict", secure=secure_cookies, max_age=12 * 3600,
        timeout=12 * 3600, reissue_time=600))
    config.set_csrf_storage_policy(SessionCSRFStoragePolicy())
    config.set_default_csrf_options(require_csrf=True)
    config.set_security_policy(SessionIdentity())
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".html")
    # Under the exception views, so that a refused call or a failed
    # commit is rolled back first and then answered with an error page.
    config.add_tween("codeimport.web.app.transaction_tween_factory",
                     over=MAIN)
    config.include("codeimport.web.routes")
    config.scan("codeimport.web.views")
    return WebApplication(config.make_wsgi_app(),
                          (web_stores, machine_stores))
