"""`codeimport person add` and `codeimport team add|add-member`: the
people who request imports and the teams that grant permissions.

Membership of ``vcs-imports`` makes an import operator, of ``admins`` an
administrator (see the security policy).  Runs as database role
``webapp``.
"""

from __future__ import annotations

from codeimport.errors import CodeImportError
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.session import lookup_person
from codeimport.scripts.session import operator_transaction

__all__ = ["main_person", "main_team"]

ROLE = "webapp"


def _person_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport person",
        description="person add NAME: create a person (names are lower "
        "case letters, digits and + . -).  Runs as database role webapp.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a person")
    add_database_options(add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--displayname", metavar="TEXT")
    add.add_argument("--email", metavar="ADDRESS")
    add.add_argument("--member-of", metavar="TEAM", action="append",
                     default=[], help="a team to join (repeatable)")
    return parser


def _team_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport team",
        description="team add NAME: create a team.  team add-member TEAM "
        "PERSON: make PERSON (a person or team) a member of TEAM; "
        "vcs-imports members are import operators, admins members "
        "administrators.  Runs as database role webapp.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a team")
    add_database_options(add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--displayname", metavar="TEXT")
    member = commands.add_parser("add-member", help="add a member to a team")
    add_database_options(member)
    member.add_argument("team", metavar="TEAM")
    member.add_argument("person", metavar="PERSON")
    return parser


def _person(argv) -> int:
    options = _person_parser().parse_args(argv)
    dsn = resolve_dsn(options)
    with operator_transaction(dsn, ROLE, load_settings(
            options.settings_file)) as utilities:
        teams = [_team(utilities, name) for name in options.member_of]
        person = utilities.persons.new(
            options.name, options.displayname, options.email)
        for team in teams:
            utilities.persons.addMember(team, person)
        done = f"{person.name}: created" + (
            f", member of {', '.join(t.name for t in teams)}"
            if teams else "")
    print(done)
    return 0


def _team(utilities, name):
    team = lookup_person(utilities, name, "team")
    if not team.is_team:
        raise CodeImportError(f"{name} is a person, not a team.")
    return team


def _team_command(argv) -> int:
    options = _team_parser().parse_args(argv)
    dsn = resolve_dsn(options)
    with operator_transaction(dsn, ROLE, load_settings(
            options.settings_file)) as utilities:
        if options.command == "add":
            team = utilities.persons.newTeam(options.name,
                                             options.displayname)
            done = f"{team.name}: team created"
        else:
            team = _team(utilities, options.team)
            person = lookup_person(utilities, options.person)
            if person.inTeam(team):
                done = (f"{person.name} is already a member of {team.name}; "
                        "nothing changed")
            else:
                utilities.persons.addMember(team, person)
                done = f"{person.name}: now a member of {team.name}"
    print(done)
    return 0


def main_person(argv=None) -> int:
    return run("codeimport person", _person, argv)


def main_team(argv=None) -> int:
    return run("codeimport team", _team_command, argv)
