"""Who is signed in: the person's name, kept in the signed session."""

from __future__ import annotations

from pyramid.security import Allowed

__all__ = ["SessionIdentity"]

_KEY = "person"


class SessionIdentity:
    """A Pyramid security policy that only remembers who signed in.

    It allows every view: what a person may see and do is decided by the
    library's security proxies, not by Pyramid permissions.
    """

    def identity(self, request):
        return request.session.get(_KEY)

    def authenticated_userid(self, request):
        return request.session.get(_KEY)

    def permits(self, request, context, permission):
        return Allowed("the library's security proxies decide")

    def remember(self, request, userid, **kw):
        request.session.invalidate()
        request.session[_KEY] = userid
        return []

    def forget(self, request, **kw):
        request.session.invalidate()
        return []
