"""Validators: CVSROOT, CVS module, URL (§4.2, D7), names, host names;
the checks on `Settings`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from codeimport.enums import RevisionControlSystems as R
from codeimport.errors import CodeImportValidationError
from codeimport.errors import ConfigurationError
from codeimport.settings import Settings
from codeimport.validators import NAME_MAX_LENGTH
from codeimport.validators import PERSON_NAME
from codeimport.validators import URL_MAX_LENGTH
from codeimport.validators import normalise_url
from codeimport.validators import validate_cvs_module
from codeimport.validators import validate_cvs_root
from codeimport.validators import validate_hostname
from codeimport.validators import validate_name


@pytest.mark.parametrize("root", [
    ":pserver:anonymous@anoncvs.example.org:/cvs/gnome",
    ":pserver:anon:secret@cvs.example.com:/cvsroot",
    ":ext:cvs.example.com:/cvsroot",
    ":pserver:cvs.example.com/cvsroot",
    "anon@cvs.example.com:/cvsroot",
    "cvs.example.com/cvsroot",
    "cvs.example.com:/cvsroot",
])
def test_validate_cvs_root_with_remote_root_returns_it(root):
    assert validate_cvs_root(root) == root


@pytest.mark.parametrize("root", [
    ":pserver:anon@cvs.example.com:2401/cvsroot",
    ":pserver:anon@cvs.example.com:2401:/cvsroot",
    ":pserver:anon:pw@cvs.example.com:2401/cvsroot",
])
def test_validate_cvs_root_with_port_is_accepted_D7(root):
    assert validate_cvs_root(root) == root


def test_validate_cvs_root_empty_raises_bad_cvsroot():
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_root("")
    assert str(info.value) == "bad CVSROOT: ''"


@pytest.mark.parametrize("root", ["foo", ":pserver:foo", ":pserver"])
def test_validate_cvs_root_unparseable_raises_bad_cvsroot(root):
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_root(root)
    assert str(info.value) == f"bad CVSROOT: {root!r}"


def test_validate_cvs_root_not_a_string_raises_bad_cvsroot():
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_root(None)
    assert str(info.value) == "bad CVSROOT: None"


@pytest.mark.parametrize("root", [":local:/cvsroot", "/cvsroot"])
def test_validate_cvs_root_local_raises_not_allowed(root):
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_root(root)
    assert str(info.value) == "Local CVS roots are not allowed."


def test_validate_cvs_root_empty_host_raises_invalid():
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_root(":pserver:/cvsroot")
    assert str(info.value) == "CVS root is invalid."


@pytest.mark.parametrize("root", [
    ":pserver:anon@localhost:/cvsroot", "localhost/cvsroot",
])
def test_validate_cvs_root_unqualified_host_raises(root):
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_root(root)
    assert str(info.value) == "Please use a fully qualified host name."


@pytest.mark.parametrize("module", [
    "hello", "a", "gnome/evolution", "Foo_bar.baz+qux-1", "CVSROOT",
])
def test_validate_cvs_module_legal_returns_it(module):
    assert validate_cvs_module(module) == module


@pytest.mark.parametrize("module", [
    "", "1abc", "_a", "a b", "a$b", "-a", None,
])
def test_validate_cvs_module_illegal_characters_raises(module):
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_module(module)
    assert str(info.value) == "The CVS module contains illegal characters."


def test_validate_cvs_module_called_CVS_raises():
    with pytest.raises(CodeImportValidationError) as info:
        validate_cvs_module("CVS")
    assert str(info.value) == 'A CVS module can not be called "CVS".'


@pytest.mark.parametrize("url, expected", [
    ("http://example.com/foo/", "http://example.com/foo"),
    ("https://example.com/foo", "https://example.com/foo"),
    ("svn://svn.example.org/trunk//", "svn://svn.example.org/trunk"),
    ("git://example.com/r.git", "git://example.com/r.git"),
    ("bzr://example.com/b", "bzr://example.com/b"),
    ("ftp://example.com/b", "ftp://example.com/b"),
    ("http://user:pw@example.com:8080/x", "http://user:pw@example.com:8080/x"),
    ("  http://example.com/x  ", "http://example.com/x"),
])
def test_normalise_url_allowed_returns_without_trailing_slash(url, expected):
    assert normalise_url(url) == expected


@pytest.mark.parametrize("url", [
    "file:///tmp/repo", "ssh://example.com/x", "sftp://example.com/x",
    "example.com/x",
])
def test_normalise_url_other_scheme_raises(url):
    with pytest.raises(CodeImportValidationError) as info:
        normalise_url(url)
    assert "is not allowed" in str(info.value)


def test_normalise_url_file_scheme_when_allowed_needs_no_host():
    assert normalise_url("file:///tmp/repo/", ("file",)) == "file:///tmp/repo"


def test_normalise_url_without_host_raises():
    with pytest.raises(CodeImportValidationError) as info:
        normalise_url("http:///foo")
    assert str(info.value) == "The URL 'http:///foo' has no host."


@pytest.mark.parametrize("url", [
    "http://example.com/x?a=b", "http://example.com/x#frag",
])
def test_normalise_url_with_query_or_fragment_raises(url):
    with pytest.raises(CodeImportValidationError) as info:
        normalise_url(url)
    assert str(info.value) == (
        f"The URL {url!r} must not have a query or a fragment.")


@pytest.mark.parametrize("url", ["", "   ", None, 42])
def test_normalise_url_empty_or_not_text_raises(url):
    with pytest.raises(CodeImportValidationError) as info:
        normalise_url(url)
    assert str(info.value) == f"Invalid URL: {url!r}"


def test_normalise_url_bad_port_raises():
    with pytest.raises(CodeImportValidationError) as info:
        normalise_url("http://example.com:notaport/x")
    assert str(info.value).startswith("Invalid URL")


# -- Settings: the numbers passed in by `configure` (§3) --------------------

def test_settings_defaults_match_the_original():
    settings = Settings()
    assert (settings.maximum_heartbeat_interval,
            settings.consecutive_failure_limit,
            settings.default_interval_cvs,
            settings.default_interval_subversion,
            settings.default_interval_git,
            settings.default_interval_bzr) == (
        300, 5, 43200, 21600, 21600, 21600)
    assert settings.blacklisted_hostnames == ()


@pytest.mark.parametrize("rcs_type, hours", [
    (R.CVS, 12), (R.BZR_SVN, 6), (R.GIT, 6), (R.BZR, 6), (R.SVN, 6),
    (R.HG, 6),
])
def test_settings_defaultInterval_by_rcs_type(rcs_type, hours):
    assert Settings().defaultInterval(rcs_type) == timedelta(hours=hours)


@pytest.mark.parametrize("value, problem", [
    ("300", "must be an integer, not '300'"),
    (True, "must be an integer, not True"),
    (0, "must be positive, not 0"),
    (-5, "must be positive, not -5"),
])
def test_settings_bad_number_raises(value, problem):
    with pytest.raises(ConfigurationError) as info:
        Settings(maximum_heartbeat_interval=value)
    assert str(info.value) == f"maximum_heartbeat_interval {problem}."


def test_settings_fromMapping_parses_strings():
    settings = Settings.fromMapping({
        "consecutive_failure_limit": "3",
        "blacklisted_hostnames": " localhost, ,127.0.0.1 ",
        "allowed_url_schemes": "http, file",
        "mainsite_hostname": "launchpad.test",
    })
    assert settings.consecutive_failure_limit == 3
    assert settings.blacklisted_hostnames == ("localhost", "127.0.0.1")
    assert settings.allowed_url_schemes == ("http", "file")
    assert settings.mainsite_hostname == "launchpad.test"


def test_settings_fromMapping_unknown_name_raises():
    with pytest.raises(ConfigurationError) as info:
        Settings.fromMapping({"worker_limit": "3"})
    assert str(info.value) == "Unknown setting 'worker_limit'."


def test_settings_fromMapping_bad_integer_raises():
    with pytest.raises(ConfigurationError) as info:
        Settings.fromMapping({"consecutive_failure_limit": "five"})
    assert str(info.value) == (
        "consecutive_failure_limit must be an integer, not 'five'.")


def test_settings_blacklist_as_list_becomes_tuple():
    assert Settings(blacklisted_hostnames=["a", "b"]).blacklisted_hostnames \
        == ("a", "b")


@pytest.mark.parametrize("rcs_type, limit", [
    (R.BZR_SVN, 500), (R.GIT, None), (R.HG, None), (R.BZR, None),
    (R.CVS, None),
])
def test_settings_revision_limit_defaults(rcs_type, limit):
    # Subversion in chunks of 500 as the original; Git never in chunks.
    assert Settings().revisionLimit(rcs_type) == limit


def test_settings_revision_limits_from_a_settings_file_mapping():
    settings = Settings.fromMapping({
        "revision_limit_subversion": "none",
        "revision_limit_mercurial": "250",
        "revision_limit_cvs": "",
    })
    assert settings.revisionLimit(R.BZR_SVN) is None
    assert settings.revisionLimit(R.HG) == 250
    assert settings.revisionLimit(R.CVS) is None


@pytest.mark.parametrize("value", [0, -5, True, "500"])
def test_settings_bad_revision_limit_raises(value):
    with pytest.raises(ConfigurationError) as info:
        Settings(revision_limit_subversion=value)
    assert str(info.value) == (
        "revision_limit_subversion must be a positive integer or none, "
        f"not {value!r}.")


def test_settings_fromMapping_bad_revision_limit_raises():
    with pytest.raises(ConfigurationError) as info:
        Settings.fromMapping({"revision_limit_bzr": "lots"})
    assert str(info.value) == (
        "revision_limit_bzr must be an integer, not 'lots'.")


# names and host names

@pytest.mark.parametrize("hostname", [
    "bazaar-importer", "frobisher.example.com", "Importer-1", "a",
    "xn--bcher-kva.example", "10.0.0.1", "a" * 63,
    ".".join(["a" * 63] * 3) + "." + "b" * 61,
])
def test_validate_hostname_accepts_rfc_1123_names(hostname):
    assert validate_hostname(hostname) == hostname


@pytest.mark.parametrize("hostname, reason", [
    ("a" * 254, "it is 254 characters long; the limit is 253."),
    ("b\u00fccher.example", "is not ASCII; give its IDNA form"),
    ("rlo\u202ehost", "is not ASCII"),
    ("csi\u009bhost", "is not ASCII"),
    ("evil\x1b[31mRED", "a host name is dot-separated labels"),
    ("two\nlines", "a host name is dot-separated labels"),
    ("under_score", "a host name is dot-separated labels"),
    ("-lead", "a host name is dot-separated labels"),
    ("trail-", "a host name is dot-separated labels"),
    ("dot..dot", "a host name is dot-separated labels"),
    ("trailing.", "a host name is dot-separated labels"),
    ("a" * 64, "a host name is dot-separated labels"),
    ("with space", "a host name is dot-separated labels"),
])
def test_validate_hostname_refuses_other_names(hostname, reason):
    with pytest.raises(CodeImportValidationError) as info:
        validate_hostname(hostname)
    message = str(info.value)
    assert message.startswith("Invalid machine host name: ")
    assert reason in message
    assert message.isprintable() and len(message) < 400


@pytest.mark.parametrize("name", ["trunk", "a", "x" * NAME_MAX_LENGTH])
def test_validate_name_accepts_names_up_to_the_limit(name):
    assert validate_name(name, "branch") == name


def test_validate_name_refuses_a_long_name_without_echoing_it():
    with pytest.raises(CodeImportValidationError) as info:
        validate_name("x" * 5000, "branch")
    assert str(info.value) == (
        "The branch name is 5,000 characters long; the limit is 100.")


def test_validate_name_applies_the_person_pattern():
    assert validate_name("a.b", "person", PERSON_NAME) == "a.b"
    with pytest.raises(CodeImportValidationError):
        validate_name("a_b", "person", PERSON_NAME)


def test_normalise_url_refuses_a_url_over_the_limit():
    url = "https://example.com/" + "x" * URL_MAX_LENGTH
    with pytest.raises(CodeImportValidationError) as info:
        normalise_url(url)
    assert str(info.value) == (
        f"The URL is {len(url):,} characters long; the limit is 2,048.")
    assert normalise_url(url[:URL_MAX_LENGTH]) == url[:URL_MAX_LENGTH]


def test_cvs_details_have_the_url_limit():
    with pytest.raises(CodeImportValidationError, match="CVSROOT is 3,"):
        validate_cvs_root(":pserver:cvs.example.com:/" + "r" * 3000)
    with pytest.raises(CodeImportValidationError, match="CVS module is 3,"):
        validate_cvs_module("m" * 3000)
