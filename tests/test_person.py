"""People and teams: PersonSet and Person.inTeam."""

from __future__ import annotations

import pytest

from codeimport.errors import CodeImportValidationError


@pytest.fixture
def persons(codeimport):
    return codeimport.utilities.persons


def test_new_person_is_found_by_name_email_and_id(persons):
    person = persons.new("alice", "Alice A", "Alice@Example.COM")
    assert persons.getByName("alice") is person
    assert persons.getByEmail("alice@example.com") is person
    assert persons.getByEmail("ALICE@example.com") is person
    assert persons.get(person.id) is person
    assert (person.displayname, person.email, person.is_team) == (
        "Alice A", "alice@example.com", False)
    assert repr(person) == "<Person alice>"


def test_new_person_without_displayname_uses_name(persons):
    assert persons.new("bob").displayname == "bob"


def test_getByName_unknown_returns_None(persons):
    assert persons.getByName("nobody") is None
    assert persons.getByEmail("nobody@example.com") is None
    assert persons.getByEmail(None) is None
    assert persons.get(999999) is None


@pytest.mark.parametrize("name", ["", "Alice", "-x", "a b", None, "a_b"])
def test_new_with_malformed_name_raises(persons, name):
    with pytest.raises(CodeImportValidationError) as info:
        persons.new(name)
    assert str(info.value) == f"Invalid person name: {name!r}"


def test_new_with_taken_name_raises(persons):
    persons.new("carol")
    with pytest.raises(CodeImportValidationError) as info:
        persons.new("carol")
    assert str(info.value) == "The name 'carol' is taken."


def test_new_with_taken_email_raises(persons):
    persons.new("carol", email="c@example.com")
    with pytest.raises(CodeImportValidationError) as info:
        persons.new("carol2", email="C@example.com")
    assert str(info.value) == "The email address 'c@example.com' is taken."


def test_fixture_starts_with_vcs_imports_and_admins_teams(persons):
    for name in ("vcs-imports", "admins"):
        assert persons.getByName(name).is_team


def test_newTeam_with_members_makes_them_members(persons):
    alice = persons.new("alice")
    team = persons.newTeam("team", members=[alice])
    assert team.is_team
    assert alice.inTeam(team)


def test_inTeam_self_is_true_and_None_is_false(persons):
    alice = persons.new("alice")
    assert alice.inTeam(alice)
    assert not alice.inTeam(None)


def test_inTeam_non_member_is_false(codeimport, persons):
    alice = persons.new("alice")
    assert not alice.inTeam(persons.getByName("vcs-imports"))


def test_addMember_is_transitive_through_nested_teams(persons):
    outer = persons.newTeam("outer")
    inner = persons.newTeam("inner")
    alice = persons.new("alice")
    persons.addMember(inner, alice)
    persons.addMember(outer, inner)
    assert alice.inTeam(outer)
    assert inner.inTeam(outer)
    assert not outer.inTeam(inner)


def test_addMember_existing_member_later_added_to_parent(persons):
    # The team joins its parent after the person joined the team.
    outer = persons.newTeam("outer")
    inner = persons.newTeam("inner")
    alice = persons.new("alice")
    persons.addMember(outer, inner)
    persons.addMember(inner, alice)
    assert alice.inTeam(outer)


def test_addMember_twice_is_idempotent(persons):
    team = persons.newTeam("team")
    alice = persons.new("alice")
    persons.addMember(team, alice)
    persons.addMember(team, alice)
    assert alice.inTeam(team)


def test_addMember_to_a_person_raises(persons):
    alice = persons.new("alice")
    bob = persons.new("bob")
    with pytest.raises(CodeImportValidationError) as info:
        persons.addMember(alice, bob)
    assert str(info.value) == "alice is not a team."


def test_factory_makePerson_member_of_joins_teams(codeimport, persons):
    vcs = persons.getByName("vcs-imports")
    person = codeimport.factory.makePerson(member_of=[vcs])
    assert person.inTeam(vcs)
    assert person.email == f"{person.name}@example.com"


def test_addMember_team_into_its_own_member_skips_self_membership(persons):
    # A cycle: neither team becomes a member of itself.
    a = persons.newTeam("a")
    b = persons.newTeam("b")
    persons.addMember(a, b)
    persons.addMember(b, a)
    assert a.inTeam(b) and b.inTeam(a)
