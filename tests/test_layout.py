"""The mechanical checks of STYLE §6, and `verifyObject` for every model
class and registered utility."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from zope.component import getUtility
from zope.interface import implementedBy
from zope.interface.verify import verifyClass
from zope.interface.verify import verifyObject
from zope.security.proxy import removeSecurityProxy

import codeimport
import codeimport.model
from codeimport.model.event import CodeImportEventToken
from codeimport.registration import build_utilities

SRC = Path(codeimport.__file__).resolve().parent
ROOT = SRC.parent.parent
MODEL = SRC / "model"
DOCTESTS = ROOT / "doctests"

#: Where `removeSecurityProxy` may appear besides model/workflow.py, and
#: why.  Keep this short; a new entry needs a reason a reviewer accepts.
UNPROXY_ALLOWED = {
    # The workflow: the trusted single writer of jobs (STYLE §4.4).
    "model/workflow.py": "the job workflow",
    # new() and delete() are the set's trusted entry points: they unwrap
    # the people they store and call destroySelf, which no interface
    # exposes.
    "model/codeimportset.py": "registering and deleting imports",
    # The security policy must read a person's teams to build the
    # principal, whatever proxy the caller holds.
    "security.py": "building principals",
    # The test-writer API hands tests unproxied objects on purpose.
    "testing/factory.py": "test factory",
    "testing/fixture.py": "test fixture login",
}
REGISTERING = {"provideUtility", "provideAdapter", "provideHandler",
               "provideSubscriptionAdapter", "defineChecker",
               "registerUtility", "registerAdapter", "registerHandler",
               "registerSubscriptionAdapter"}
MAX_LINES = 500


def source_files(folder=SRC):
    return sorted(p for p in folder.rglob("*.py")
                  if "__pycache__" not in p.parts)


def relative(path):
    return path.relative_to(SRC).as_posix()


def code_lines(path):
    """Yield (line number, line) for lines that are not comments."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        yield number, line


def test_no_getUtility_in_model():
    offenders = [
        f"{relative(p)}:{n}" for p in source_files(MODEL)
        for n, line in code_lines(p) if "getUtility(" in line
    ]
    assert offenders == []


def test_removeSecurityProxy_only_in_allowed_modules():
    users = {relative(p) for p in source_files()
             if "removeSecurityProxy" in p.read_text()}
    assert users - set(UNPROXY_ALLOWED) == set()


def test_removeSecurityProxy_allow_list_has_no_stale_entries():
    for name in UNPROXY_ALLOWED:
        path = SRC / name
        assert path.exists() and "removeSecurityProxy" in path.read_text(), (
            f"{name} no longer needs to be allowed")


def test_no_assert_statements_in_src():
    offenders = [
        f"{relative(p)}:{node.lineno}" for p in source_files()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert offenders == []


class _ImportTimeCalls(ast.NodeVisitor):
    """Collect calls that run at import time (outside function bodies)."""

    def __init__(self):
        self.found = []

    def visit_FunctionDef(self, node):
        for decorator in node.decorator_list:  # decorators do run
            self.visit(decorator)
        for default in node.args.defaults + node.args.kw_defaults:
            if default is not None:
                self.visit(default)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    def visit_Call(self, node):
        func = node.func
        name = getattr(func, "attr", None) or getattr(func, "id", None)
        if name in REGISTERING:
            self.found.append((name, node.lineno))
        self.generic_visit(node)


def test_no_registration_at_import_time():
    offenders = []
    for path in source_files():
        visitor = _ImportTimeCalls()
        visitor.visit(ast.parse(path.read_text()))
        offenders += [f"{relative(path)}:{line} {name}"
                      for name, line in visitor.found]
    assert offenders == []


def test_import_time_check_finds_module_and_class_level_calls():
    visitor = _ImportTimeCalls()
    visitor.visit(ast.parse(
        "defineChecker(A, c)\n"
        "class K:\n    gsm.registerUtility(x)\n"
        "def f():\n    provideUtility(y)\n"))
    assert [name for name, _ in visitor.found] == [
        "defineChecker", "registerUtility"]


def test_model_never_commits_or_rolls_back():
    offenders = [
        f"{relative(p)}:{n}" for p in source_files(MODEL)
        for n, line in code_lines(p)
        if re.search(r"\.(commit|rollback)\(", line)
    ]
    assert offenders == []


def test_no_source_module_over_500_lines():
    sizes = {relative(p): len(p.read_text().splitlines())
             for p in source_files()}
    assert {k: v for k, v in sizes.items() if v > MAX_LINES} == {}


def test_every_XXX_names_an_issue():
    paths = source_files() + sorted(DOCTESTS.glob("*.rst")) + sorted(
        (ROOT / "tests").rglob("*.py"))
    offenders = []
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bXXX\b", line) and not re.search(
                    r"issue #\d+", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    # This file mentions the marker in its own checks only.
    offenders = [o for o in offenders if not o.startswith("tests/test_layout")]
    assert offenders == []


def test_doctests_use_no_fixed_ids():
    pattern = re.compile(r"getById\(\s*\d+\s*\)|\.get\(\s*\d+\s*\)")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(DOCTESTS.glob("*.rst"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.lstrip().startswith((">>>", "...")) and pattern.search(line)
    ]
    assert offenders == []


# -- verifyObject -----------------------------------------------------------

def model_classes():
    """Every class defined in codeimport.model that implements something.
    """
    found = {}
    for info in pkgutil.iter_modules(codeimport.model.__path__):
        module = importlib.import_module(f"codeimport.model.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and list(
                    implementedBy(cls)) and not issubclass(
                    cls, BaseException):
                found[cls.__name__] = cls
    return found


def instances(codeimport):
    """One instance of every model class, by class name."""
    f = codeimport.factory
    u = codeimport.utilities
    job = f.makeRunningJob()
    code_import = job.code_import
    result = f.makeCodeImportResult(code_import)
    activity = u.script_activities.recordSuccess(
        "x", result.date_job_started, result.date_job_finished, "h")
    objects = [
        u.persons.getByName("admins"), code_import.branch, code_import,
        job, job.machine, u.events.getAll()[0],
        CodeImportEventToken([]), result, f.makeLibraryFileAlias(),
        activity,
    ]
    utilities = [utility for _, utility in u.registrations()]
    return {type(o).__name__: o for o in objects + utilities}


def test_every_model_class_has_a_verified_instance(codeimport):
    assert set(instances(codeimport)) == set(model_classes())


@pytest.mark.parametrize("name", sorted(model_classes()))
def test_model_class_verifies_against_its_interfaces(codeimport, name):
    cls = model_classes()[name]
    obj = instances(codeimport)[name]
    for interface in implementedBy(cls):
        assert verifyClass(interface, cls)
        assert verifyObject(interface, obj)


def test_registered_utilities_provide_their_interfaces(codeimport):
    store = codeimport.store
    for interface, _ in build_utilities(lambda: store).registrations():
        utility = getUtility(interface)
        assert verifyObject(interface, removeSecurityProxy(utility))


# -- model/ layers one way --------------------------------------------------

def _model_imports(path):
    """(module name imported, whether inside a function) for each import
    of a sibling model module in `path`."""
    tree = ast.parse(path.read_text())
    nested = {id(node) for function in ast.walk(tree)
              if isinstance(function, (ast.FunctionDef,
                                       ast.AsyncFunctionDef))
              for node in ast.walk(function)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "") \
                .startswith("codeimport.model."):
            yield node.module.split(".")[2], id(node) in nested
        elif isinstance(node, ast.ImportFrom) and \
                node.module == "codeimport.model":
            for alias in node.names:
                yield alias.name, id(node) in nested


def model_graph():
    return {path.stem: {name for name, _ in _model_imports(path)}
            for path in source_files(MODEL)}


def test_model_imports_its_siblings_at_module_level_only():
    nested = [f"model/{path.name} imports {name}"
              for path in source_files(MODEL)
              for name, inside in _model_imports(path) if inside]
    assert nested == []


def test_model_has_no_import_cycle():
    graph, done, stack = model_graph(), set(), []

    def visit(name):
        if name in stack:
            raise AssertionError(
                "import cycle: " + " -> ".join(
                    stack[stack.index(name):] + [name]))
        if name in done:
            return
        stack.append(name)
        for imported in sorted(graph.get(name, ())):
            visit(imported)
        stack.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_cycle_check_finds_a_cycle(monkeypatch):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    monkeypatch.setitem(globals(), "model_graph", lambda: graph)
    with pytest.raises(AssertionError, match="a -> b -> c -> a"):
        test_model_has_no_import_cycle()


def test_model_layers_point_down():
    # Helpers stand on nothing of model/; the queue and the workflow
    # stand on records and helpers; no record imports a set's module
    # holding the queue or the workflow.
    graph = model_graph()
    for helper in ("context", "columns", "constants", "rules", "_storm"):
        assert graph[helper] == set(), helper
    top = {"queue", "workflow"}
    for name, imported in graph.items():
        if name not in top | {"watchdog"}:
            assert not imported & top, name


# -- Storm's private names live in model/_storm.py only ----------------------

STORM_PRIVATE = re.compile(
    r"\._(alive|get_object|load_object|set_clean|disable_lazy_resolving"
    r"|disable_change_notification|remove_from_alive|raw_cursor"
    r"|run_execution|check_disconnect|raw_connection|raw_connect|database"
    r"|dsn)\b|\b_run_execution\b|\b_raw_connect\b")


def test_private_storm_names_only_in_the_storm_module():
    offenders = [f"{relative(p)}:{number}" for p in source_files()
                 if relative(p) != "model/_storm.py"
                 for number, line in code_lines(p)
                 if STORM_PRIVATE.search(line)]
    assert offenders == []


def test_the_storm_check_finds_private_names():
    for line in ("store._alive.get(x)", "def _run_execution(self):",
                 "result._raw_cursor.description", "self._dsn = dsn"):
        assert STORM_PRIVATE.search(line), line
    assert not STORM_PRIVATE.search("self._store.execute()")


# -- fault numbers live in the wire's table only ------------------------------

FAULT_NUMBER = re.compile(
    r"fault_?[cC]ode\s*[!=]=\s*\d|faultCode\s*[!=]=\s*\d|Fault\(\s*\d")


def test_no_fault_number_outside_the_fault_table():
    offenders = [f"{relative(p)}:{number}" for p in source_files()
                 if relative(p) != "wire/faults.py"
                 for number, line in code_lines(p)
                 if FAULT_NUMBER.search(line)]
    assert offenders == []


def test_the_fault_number_check_finds_one():
    for line in ("if fault.fault_code != 909:", "faultCode == 360",
                 "raise xmlrpc.client.Fault(909, 'x')"):
        assert FAULT_NUMBER.search(line), line
