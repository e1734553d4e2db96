"""Helpers for the web interface's tests: who may sign in, forms."""

from __future__ import annotations

import re

#: name -> password of everybody who may sign in.
PASSWORDS = {
    "alice": "alice-secret",      # a person, owner of ~alice/hello/trunk
    "victor": "victor-secret",    # a member of vcs-imports
    "ada": "ada-secret",          # a member of admins
}
WHO = ("anonymous", "alice", "victor", "ada")


def csrf_of(page) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the page has no form"
    return match.group(1)


def sign_in(app, who: str):
    """Sign `who` in and return the imports page; for anonymous, return
    the sign-in page (a page with a form, and so a CSRF token)."""
    if who == "anonymous":
        return app.get("/login")
    form = app.get("/login").forms["login-form"]
    form["name"] = who
    form["password"] = PASSWORDS[who]
    return form.submit().follow()
