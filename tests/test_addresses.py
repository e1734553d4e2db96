"""The source address rule (`codeimport.addresses`) and its use by
registration: internal addresses in every spelling, ``localhost``, the
``allowed_source_networks`` setting, exclusions by address and the
duplicate check on normalised URLs."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from codeimport.addresses import AddressPolicy
from codeimport.addresses import ForbiddenAddress
from codeimport.addresses import is_internal
from codeimport.addresses import literal_address
from codeimport.enums import RevisionControlSystems as R
from codeimport.enums import TargetRevisionControlSystems as T
from codeimport.errors import CodeImportValidationError
from codeimport.errors import ConfigurationError
from codeimport.settings import Settings
from codeimport.validators import normalise_url

#: Every spelling of an internal address the probe used, and more.
INTERNAL_SPELLINGS = [
    "127.0.0.1", "127.1", "2130706433", "0x7f.1", "0177.0.0.1",
    "0x7f000001", "127.0.0.1.", "[::1]", "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::]",
    "0.0.0.0", "0", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "224.0.0.1", "[ff02::1]",
    "[fe80::1]", "[fc00::1]", "240.0.0.1", "255.255.255.255",
    "[2001:db8::1]", "192.0.2.1", "[fe80::1%25eth0]",
]


@pytest.mark.parametrize("spelling,address", [
    ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"), ("[::1]", "::1"), ("::1", "::1"),
    ("[::FFFF:127.0.0.1]", "::ffff:7f00:1"), ("8.8.8.8", "8.8.8.8"),
])
def test_literal_address_reads_every_resolver_spelling(spelling, address):
    assert literal_address(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize("name", [
    "example.com", "localhost", "cafe.be", "deadbeef", "1example.com",
    "0x7g.1", "[not-an-address]", "127.0.0.1.5.6",
])
def test_literal_address_of_a_name_is_none(name):
    assert literal_address(name) is None


@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
def test_internal_spellings_are_refused_by_default(host):
    with pytest.raises(ForbiddenAddress) as info:
        AddressPolicy().checkLiteral(host)
    # Says where, never what it resolved to or why.
    assert str(info.value).startswith(f"{host}: it is on a network")


@pytest.mark.parametrize("address", [
    "8.8.8.8", "2001:4860::1", "1.1.1.1", "::ffff:8.8.8.8",
])
def test_public_addresses_are_not_internal(address):
    assert not is_internal(ipaddress.ip_address(address))
    AddressPolicy().checkLiteral(address)


@pytest.mark.parametrize("host", ["localhost", "LocalHost.", "a.localhost"])
def test_localhost_names_are_refused_without_resolving(host):
    with pytest.raises(ForbiddenAddress):
        AddressPolicy().checkLiteral(host)
    AddressPolicy(["127.0.0.0/8"]).checkLiteral(host)
    AddressPolicy(["::1/128"]).checkLiteral(host)


def test_allowed_networks_allow_their_addresses_in_any_spelling():
    policy = AddressPolicy("127.0.0.2/32, 2001:db8::/32")
    for host in ["127.0.0.2", "0x7f.0.0.2", "[::ffff:127.0.0.2]",
                 "[2001:db8::1]"]:
        policy.checkLiteral(host)
    for host in ["127.0.0.1", "127.1", "[::1]", "localhost"]:
        with pytest.raises(ForbiddenAddress):
            policy.checkLiteral(host)


def test_anything_allows_every_address_but_not_excluded_ones():
    policy = AddressPolicy(allow_all=True, excluded_hosts=["127.0.0.1"])
    policy.checkLiteral("10.0.0.1")
    policy.checkLiteral("[::1]")
    for host in ["127.0.0.1", "127.1", "2130706433", "[::ffff:127.0.0.1]"]:
        with pytest.raises(ForbiddenAddress):
            policy.checkLiteral(host)


def test_resolve_refuses_a_name_of_an_internal_address():
    """A real lookup: ``localhost`` resolves to loopback."""
    with pytest.raises(ForbiddenAddress):
        AddressPolicy().resolve("localhost", 80)
    targets = AddressPolicy(["127.0.0.0/8", "::1/128"]).resolve(
        "localhost", 80)
    assert (socket.AF_INET, ("127.0.0.1", 80)) in targets


def test_resolve_refuses_a_name_with_any_internal_address():
    """Which address a program would pick is not ours to know."""
    def resolver(host, port, type=0):
        return [(socket.AF_INET, type, 6, "", ("8.8.8.8", port)),
                (socket.AF_INET, type, 6, "", ("10.0.0.1", port))]

    with pytest.raises(ForbiddenAddress):
        AddressPolicy(resolver=resolver).resolve("mixed.example", 80)


def test_an_excluded_name_excludes_its_addresses_and_subdomains():
    policy = AddressPolicy(allow_all=True, excluded_hosts=["localhost"])
    for host in ["localhost", "x.localhost", "127.0.0.1", "127.1"]:
        with pytest.raises(ForbiddenAddress):
            policy.resolve(host, 80)


def test_an_excluded_address_excludes_names_resolving_to_it():
    policy = AddressPolicy(allow_all=True, excluded_hosts=["2130706433"])
    with pytest.raises(ForbiddenAddress):
        policy.resolve("localhost", 80)


def test_connect_reaches_only_an_allowed_address():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with pytest.raises(ForbiddenAddress):
            AddressPolicy().connect("127.1", port, timeout=5)
        with AddressPolicy("127.0.0.0/8").connect("127.1", port, 5) as sock:
            assert sock.getpeername() == ("127.0.0.1", port)


def test_settings_parse_and_refuse_networks():
    settings = Settings.fromMapping(
        {"allowed_source_networks": " 10.0.0.0/8, 127.0.0.1/8,::1 "})
    assert settings.allowed_source_networks == (
        "10.0.0.0/8", "127.0.0.0/8", "::1/128")
    assert Settings().allowed_source_networks == ()
    with pytest.raises(ConfigurationError, match="'10.0.0.0/33' is not"):
        Settings(allowed_source_networks="10.0.0.0/33")


# -- registration -----------------------------------------------------


@pytest.fixture
def strict(codeimport):
    """Registration with the production default: no internal network."""
    return codeimport.use_settings(Settings()).code_imports


@pytest.fixture
def registrant(codeimport):
    return codeimport.factory.makePerson()


def _register(code_imports, registrant, url, rcs_type=R.GIT, **kwargs):
    project = "p" + str(abs(hash((url, str(kwargs)))) % 10**8)
    return code_imports.new(registrant, project, "trunk", rcs_type, T.GIT,
                            url=url, **kwargs)


@pytest.mark.parametrize("host", [
    "localhost", "LOCALHOST", "127.0.0.1", "127.1", "2130706433", "0x7f.1",
    "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.5",
])
def test_registration_refuses_internal_hosts(strict, registrant, host):
    url = f"git://{host}:9418/x.git"
    with pytest.raises(CodeImportValidationError) as info:
        _register(strict, registrant, url)
    assert "on a network this import machine may not read from" in str(
        info.value)


def test_registration_refuses_internal_cvs_hosts(strict, registrant):
    with pytest.raises(CodeImportValidationError, match="may not read"):
        _register(strict, registrant, None, rcs_type=R.CVS,
                  cvs_root=":pserver:anon@127.0.0.1:2401/cvs",
                  cvs_module="m")


def test_registration_refuses_a_new_internal_url(strict, registrant):
    code_import = _register(strict, registrant, "https://example.com/x.git")
    with pytest.raises(CodeImportValidationError, match="may not read"):
        code_import.updateFromData({"url": "http://127.1/x.git"},
                                   registrant)


def test_registration_accepts_what_the_setting_allows(codeimport,
                                                      registrant):
    code_imports = codeimport.use_settings(Settings(
        allowed_source_networks="127.0.0.0/8,2001:db8::/32")).code_imports
    _register(code_imports, registrant, "git://127.1:9418/x.git")
    code_import = _register(code_imports, registrant,
                            "http://[2001:DB8::1]:8080/x.git")
    assert code_import.url == "http://[2001:db8::1]:8080/x.git"


def test_the_test_fixture_allows_loopback(codeimport, registrant):
    """Documented in `TEST_SOURCE_NETWORKS`: other tests rely on it."""
    _register(codeimport.utilities.code_imports, registrant,
              "http://127.0.0.1:8080/x.git")


@pytest.mark.parametrize("url,expected", [
    ("HTTP://LOCALHOST/x.git", "http://localhost/x.git"),
    ("Git://User:PW@Example.COM:99/Path/",
     "git://User:PW@example.com:99/Path"),
    ("http://[2001:DB8::1]/X", "http://[2001:db8::1]/X"),
])
def test_normalise_url_lowers_scheme_and_host_only(url, expected):
    assert normalise_url(url) == expected


def test_duplicate_check_ignores_scheme_and_host_case(codeimport,
                                                      registrant):
    code_imports = codeimport.utilities.code_imports
    _register(code_imports, registrant, "http://localhost/x.git")
    with pytest.raises(CodeImportValidationError, match="already specified"):
        code_imports.new(registrant, "other", "trunk", R.GIT, T.GIT,
                         url="HTTP://LOCALHOST/x.git")
