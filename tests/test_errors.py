"""Domain errors: one hierarchy, builtin bases, structured data (D2)."""

from __future__ import annotations

import inspect

import pytest

from codeimport import errors
from codeimport.enums import BranchType
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import BranchCreatorNotMemberOfOwnerTeam
from codeimport.errors import BranchTypeError
from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import CodeImportAlreadyRunning
from codeimport.errors import CodeImportError
from codeimport.errors import CodeImportNotInReviewedState
from codeimport.errors import InvalidJobState
from codeimport.errors import NoSuchBranch
from codeimport.errors import NoSuchCodeImport
from codeimport.errors import NoSuchCodeImportJob
from codeimport.errors import NoSuchPerson
from codeimport.errors import UnknownBranchType
from codeimport.errors import UnknownResultStatus


def _error_classes():
    return [
        value for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, Exception)
    ]


def test_all_lists_every_error_class():
    assert sorted(errors.__all__) == sorted(
        cls.__name__ for cls in _error_classes())


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_error_class_is_a_CodeImportError_with_a_docstring(cls):
    assert issubclass(cls, CodeImportError)
    assert cls.__doc__ and cls.__doc__.strip()


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_error_class_never_subclasses_AttributeError(cls):
    assert not issubclass(cls, AttributeError)


@pytest.mark.parametrize("cls", [
    c for c in _error_classes() if c is not CodeImportError
], ids=lambda c: c.__name__)
def test_concrete_error_also_subclasses_a_builtin(cls):
    builtin = (ValueError, LookupError, TypeError)
    assert issubclass(cls, builtin)


def test_NoSuchCodeImportJob_message_is_the_fault_text():
    error = NoSuchCodeImportJob(42)
    assert str(error) == "Job 42 not found."
    assert error.job_id == 42
    assert isinstance(error, LookupError)


def test_CodeImportNotInReviewedState_message_names_the_status():
    error = CodeImportNotInReviewedState(CodeImportReviewStatus.SUSPENDED)
    assert str(error) == (
        "This code import is SUSPENDED, and must be Reviewed for you to "
        "call requestImport.")
    assert error.review_status is CodeImportReviewStatus.SUSPENDED


def test_CodeImportAlreadyRunning_has_the_original_default_message():
    assert str(CodeImportAlreadyRunning()) == (
        "This code import is already running.")


def test_CodeImportAlreadyRequested_keeps_the_requesting_user():
    who = object()
    error = CodeImportAlreadyRequested("already", who)
    assert error.requesting_user is who
    assert str(error) == "already"
    assert isinstance(error, InvalidJobState)


def test_lookup_errors_build_their_messages():
    assert str(NoSuchCodeImport(7)) == "No code import with ID 7"
    assert str(NoSuchBranch(7)) == "No branch with ID 7"
    assert str(NoSuchPerson("bob")) == "No person with id bob."
    assert NoSuchBranch(7).branch_id == 7
    assert NoSuchCodeImport(7).code_import_id == 7
    assert NoSuchPerson("bob").who == "bob"


def test_BranchTypeError_names_branch_and_type():
    error = BranchTypeError("~a/b/c", BranchType.HOSTED)
    assert str(error) == "Branch ~a/b/c is HOSTED and is never mirrored."
    assert (error.unique_name, error.branch_type) == (
        "~a/b/c", BranchType.HOSTED)


def test_name_errors_repr_the_unknown_name():
    assert str(UnknownBranchType("FOO")) == "Unknown branch type: 'FOO'"
    assert str(UnknownResultStatus("FOO")) == (
        "Unknown result status: 'FOO'")


def test_BranchCreatorNotMemberOfOwnerTeam_names_both():
    class P:
        def __init__(self, name):
            self.name = name

    error = BranchCreatorNotMemberOfOwnerTeam(P("alice"), P("team"))
    assert str(error) == "alice is not a member of team."
