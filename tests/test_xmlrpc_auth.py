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
    path.write_text("# services\n\nimportd:x:y,z\n  puller:pw  \n")
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
