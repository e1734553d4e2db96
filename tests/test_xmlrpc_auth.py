"""HTTP Basic credentials: configuration and checking."""

from __future__ import annotations

import base64
import logging
import os

import pytest

from codeimport.errors import ConfigurationError
from codeimport.xmlrpc.auth import CREDENTIALS_VARIABLE
from codeimport.xmlrpc.auth import Credentials
from codeimport.xmlrpc.auth import load_credentials
from codeimport.xmlrpc.auth import warn_about_unscoped
from codeimport.xmlrpc.authorization import ENDPOINT_NAMES


def basic(user_and_secret: str) -> str:
    return "Basic " + base64.b64encode(user_and_secret.encode()).decode()


@pytest.fixture
def credentials():
    return Credentials({"importd": "s3cret", "puller": "p:w,d"})


def test_authenticate_with_the_right_secret_returns_the_user(credentials):
    assert credentials.authenticate(basic("importd:s3cret")) == "importd"
    assert credentials.authenticate(basic("puller:p:w,d")) == "puller"


@pytest.mark.parametrize("header", [
    None, "", "Basic", "Basic ", "Bearer abc", "Basic !!!not-base64",
    basic("importd:wrong"), basic("importd:"), basic("importd"),
    basic("nobody:s3cret"), basic(":s3cret"), basic("importd:s3cret "),
    "Basic " + base64.b64encode(b"importd:\xff\xfe").decode(),
])
def test_authenticate_refuses_anything_else(credentials, header):
    assert credentials.authenticate(header) is None


def test_authenticate_accepts_any_case_of_the_scheme(credentials):
    header = basic("importd:s3cret").replace("Basic", "bAsIc")

    assert credentials.authenticate(header) == "importd"


def test_no_credentials_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match=CREDENTIALS_VARIABLE):
        Credentials({})


def test_load_credentials_from_the_environment():
    environ = {CREDENTIALS_VARIABLE: "a:one, b:two,"}

    credentials = load_credentials(environ)

    assert credentials.users == ["a", "b"]
    assert credentials.authenticate(basic("b:two")) == "b"


def test_load_credentials_from_a_file_and_the_environment(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("# services\n\nimportd:x\\:y,z\n  puller:pw  \n")
    os.chmod(path, 0o600)

    credentials = load_credentials({CREDENTIALS_VARIABLE: "admin:a"},
                                   str(path))

    assert credentials.users == ["admin", "importd", "puller"]
    assert credentials.authenticate(basic("importd:x:y,z")) == "importd"
    assert credentials.authenticate(basic("puller:pw")) == "puller"


def test_load_credentials_warns_about_a_readable_file(tmp_path, caplog):
    path = tmp_path / "credentials"
    path.write_text("importd:x\n")
    os.chmod(path, 0o644)

    with caplog.at_level(logging.WARNING, "codeimport.xmlrpc"):
        load_credentials({}, str(path))

    assert "readable by other users" in caplog.text


@pytest.mark.parametrize("value", [
    "hunter2xyz", "user:", ":hunter2xyz", "a:hunter2xyz,a:hunter2xyz",
])
def test_load_credentials_refuses_malformed_values_without_echoing_them(
        value):
    with pytest.raises(ConfigurationError) as info:
        load_credentials({CREDENTIALS_VARIABLE: value})
    assert "hunter2xyz" not in str(info.value)


def test_load_credentials_names_the_bad_line(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("ok:fine\nbroken\n")

    with pytest.raises(ConfigurationError, match=r"credentials:2:"):
        load_credentials({}, str(path))


def test_load_credentials_from_a_missing_file_fails(tmp_path):
    with pytest.raises(ConfigurationError, match="Cannot read"):
        load_credentials({}, str(tmp_path / "missing"))


def test_load_credentials_with_nothing_configured_fails():
    with pytest.raises(ConfigurationError, match="No XML-RPC credentials"):
        load_credentials({})


# -- NAME:SECRET[:ENDPOINTS[:HOSTS]] ------------------------------------


def test_a_line_binds_the_credential_to_endpoints_and_hosts(tmp_path):
    path = tmp_path / "credentials"
    path.write_text(
        "importer:s1:codeimportscheduler:importer-*, build-7\n"
        "puller:s2:authserver\n"
        "prometheus:s3:metrics\n")
    os.chmod(path, 0o600)

    credentials = load_credentials({}, str(path))

    importer = credentials.grant("importer")
    assert importer.endpoints == {"codeimportscheduler"}
    assert importer.hosts == ("importer-*", "build-7")
    assert importer.mayActFor("importer-12")
    assert importer.mayActFor("build-7")
    assert not importer.mayActFor("build-70")
    assert not importer.mayActFor("Importer-1")  # names are exact
    assert not importer.mayCall("authserver")
    puller = credentials.grant("puller")
    assert puller.endpoints == {"authserver"}
    assert puller.hosts is None and puller.mayActFor("anything")
    assert credentials.grant("prometheus").endpoints == {"metrics"}
    assert credentials.unscoped_users == []


def test_a_plain_line_may_do_everything_and_is_warned_about(caplog):
    environ = {CREDENTIALS_VARIABLE: "old:one,older:two"}
    credentials = load_credentials(environ)

    with caplog.at_level(logging.WARNING, "codeimport.xmlrpc"):
        warn_about_unscoped(credentials)

    grant = credentials.grant("old")
    assert grant.endpoints is None and grant.hosts is None
    assert all(grant.mayCall(name) for name in ENDPOINT_NAMES)
    assert credentials.unscoped_users == ["old", "older"]
    [record] = caplog.records
    assert record.getMessage().startswith(
        "credentials 'old', 'older' are plain NAME:SECRET lines")
    assert "one" not in record.getMessage().split("NAME:SECRET")[0]


def test_bound_lines_are_not_warned_about(caplog):
    credentials = load_credentials(
        {CREDENTIALS_VARIABLE: "a:s:authserver\nb:t:metrics"})

    with caplog.at_level(logging.WARNING, "codeimport.xmlrpc"):
        warn_about_unscoped(credentials)

    assert credentials.unscoped_users == []
    assert caplog.records == []


def test_the_variable_holds_one_line_per_credential():
    environ = {CREDENTIALS_VARIABLE:
               "a:s1:codeimportscheduler,authserver:h1,h2\nb:s2:metrics\n"}

    credentials = load_credentials(environ)

    assert credentials.grant("a").endpoints == {"codeimportscheduler",
                                                "authserver"}
    assert credentials.grant("a").hosts == ("h1", "h2")
    assert credentials.grant("b").endpoints == {"metrics"}


def test_an_escaped_colon_and_backslash_belong_to_the_secret():
    environ = {CREDENTIALS_VARIABLE:
               "a:p\\:w\\\\:authserver\nb:back\\slash"}

    credentials = load_credentials(environ)

    assert credentials.authenticate(basic("a:p:w\\")) == "a"
    assert credentials.grant("a").endpoints == {"authserver"}
    assert credentials.authenticate(basic("b:back\\slash")) == "b"


@pytest.mark.parametrize("line", [
    "a:hunter2xyz:",                                 # no endpoints
    "a:hunter2xyz:scheduler",                        # not an endpoint
    "a:hunter2xyz:codeimportscheduler,",             # an empty one
    "a:hunter2xyz:codeimportscheduler:",             # no hosts
    "a:hunter2xyz:codeimportscheduler:host one",     # not a host name
    "a:hunter2xyz:codeimportscheduler:h:extra",      # five fields
    "a:hunter2xyz:w,d",      # an old secret with ':' reads as endpoints
])
def test_a_bad_line_is_refused_by_place_never_by_text(tmp_path, line):
    path = tmp_path / "credentials"
    path.write_text(f"ok:fine\n{line}\n")

    with pytest.raises(ConfigurationError) as info:
        load_credentials({}, str(path))

    message = str(info.value)
    assert message.startswith(f"{path}:2: ")
    assert "hunter2xyz" not in message
    assert "\n" not in message


def test_web_passwords_stay_plain_pairs_whose_secret_may_hold_colons():
    environ = {"CODEIMPORT_WEB_CREDENTIALS": "nora:pass:word,sam:x"}

    credentials = load_credentials(
        environ, variable="CODEIMPORT_WEB_CREDENTIALS", kind="web",
        scoped=False)

    assert credentials.check("nora", "pass:word")
    assert credentials.check("sam", "x")
