"""The demo's sources of every kind, served by real servers, and how each
imported target is checked against its source.

`foreign_sources` builds one source per kind whose importer this checkout
has (`default_importers`) and whose test server is present
(`codeimport.testing.vcs.<kind>`): a Git repository behind ``git
daemon``, a Subversion repository with the standard layout behind
``svnserve``, and so on.  Each `DemoSource` knows how to check a target:
the tree of the target's HEAD branch must equal the source's own export
of the same line of history (``git archive``, ``svn export`` ...), the
comparison the importers' fidelity check makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from codeimport.enums import RevisionControlSystems
from codeimport.worker.fidelity import tree_of_directory
from codeimport.worker.importworker import default_importers

__all__ = ["DemoSource", "foreign_sources"]


@dataclass
class DemoSource:
    """One demo source: what to register and how to check its target.

    :ivar export: writes the source's own export of the line HEAD should
        follow into an empty directory.
    :ivar refs: the branches and tags the target should have, or None
        when only the tree is checked.
    """

    project: str
    label: str
    rcs_type: object
    url: str | None = None
    cvs_root: str | None = None
    cvs_module: str | None = None
    export: Callable[[str], None] | None = None
    refs: Callable[[], set] | None = None
    closers: list = field(default_factory=list)

    def check(self, target: str) -> str:
        """"matches source" or what differs."""
        if self.refs is not None:
            have = set(_git(target, "for-each-ref", "--format=%(refname)",
                            "refs/heads", "refs/tags").split())
            want = self.refs()
            if have != want:
                return (f"REFS DIFFER (missing {sorted(want - have)}, "
                        f"extra {sorted(have - want)})")
        scratch = tempfile.mkdtemp(prefix="codeimport-demo-check-")
        try:
            export = os.path.join(scratch, "export")
            self.export(export)
            os.makedirs(export, exist_ok=True)
            theirs = tree_of_directory(target, export,
                                       os.path.join(scratch, "git"))
            ours = _git(target, "rev-parse", "HEAD^{tree}").strip()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return "matches source" if ours == theirs else "TREE DIFFERS"

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def _git(path: str, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={path}", *args], check=True,
        capture_output=True, text=True,
        env={"PATH": os.environ.get("PATH", os.defpath),
             "HOME": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}).stdout


def _git_source(work: str) -> DemoSource:
    from codeimport.testing.vcs.git import GitDaemon
    from codeimport.testing.vcs.git import git_refs
    from codeimport.testing.vcs.git import make_history

    daemon = GitDaemon(os.path.join(work, "git-daemon")).start()
    path = make_history(daemon.path("served.git"), commits=25)

    def export(destination):
        os.makedirs(destination)
        archive = subprocess.run(
            ["git", f"--git-dir={path}", "archive", "--format=tar", "HEAD"],
            check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", destination], input=archive,
                       check=True)

    return DemoSource(
        "served-git", "Git over git://", RevisionControlSystems.GIT,
        url=daemon.url("served.git"), export=export,
        refs=lambda: set(git_refs(path)), closers=[daemon.close])


def _svn_source(work: str) -> DemoSource:
    from codeimport.testing.vcs.svn import SvnServer
    from codeimport.testing.vcs.svn import create_repository
    from codeimport.testing.vcs.svn import standard_history

    root = os.path.join(work, "svn")
    os.makedirs(root)
    create_repository(os.path.join(root, "project"), standard_history())
    server = SvnServer(root).start()
    url = server.url("project")

    def export(destination):
        subprocess.run(
            ["svn", "export", "--quiet", "--ignore-externals",
             "--non-interactive", "--", f"{url}/trunk", destination],
            check=True, capture_output=True)

    return DemoSource(
        "subversion", "Subversion, standard layout",
        RevisionControlSystems.BZR_SVN, url=url, export=export,
        closers=[server.stop])


def _bzr_source(work: str) -> DemoSource:
    import sys

    from codeimport.testing.vcs.bzr import BzrServer
    from codeimport.testing.vcs.bzr import SampleBranch

    root = os.path.join(work, "bzr")
    os.makedirs(root)
    SampleBranch.example(root, "trunk")
    server = BzrServer(root)
    home = os.path.join(work, "bzr-home")
    os.makedirs(home)

    def export(destination):
        brz = os.path.join(os.path.dirname(sys.executable), "brz")
        subprocess.run(
            [brz, "export", "--", destination, os.path.join(root, "trunk")],
            check=True, capture_output=True,
            env={**os.environ, "HOME": home,
                 "BRZ_PLUGIN_PATH": "-site:-user"})

    return DemoSource(
        "bazaar", "Bazaar over bzr://", RevisionControlSystems.BZR,
        url=server.url("trunk"), export=export, closers=[server.close])


def _cvs_source(work: str) -> DemoSource:
    from codeimport.testing.vcs.cvs import CVSServer
    from codeimport.testing.vcs.cvs import make_root
    from codeimport.testing.vcs.cvs import remove_root
    from codeimport.testing.vcs.cvs import sample_history

    root = make_root()
    sample_history("demo").write(root)
    server = CVSServer(root)

    def export(destination):
        scratch = tempfile.mkdtemp(prefix="codeimport-demo-cvs-")
        try:
            subprocess.run(
                ["cvs", "-f", "-Q", "-d", root, "export", "-ko", "-r",
                 "HEAD", "-d", "tree", "--", "demo"],
                check=True, capture_output=True, cwd=scratch)
            shutil.move(os.path.join(scratch, "tree"), destination)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return DemoSource(
        "cvs", "CVS over pserver", RevisionControlSystems.CVS,
        cvs_root=server.cvsroot(), cvs_module="demo", export=export,
        closers=[lambda: remove_root(root), server.stop])


def _hg_source(work: str) -> DemoSource:
    import sys

    from codeimport.testing.vcs.hg import HgServer
    from codeimport.testing.vcs.hg import build_fixture

    root = os.path.join(work, "hg")
    os.makedirs(root)
    path = os.path.join(root, "project")
    build_fixture(path)
    server = HgServer(root)

    def export(destination):
        # The tip of default, as `hg update default` picks it: master.
        subprocess.run(
            [sys.executable, "-m", "mercurial", "archive", "-R", path,
             "--config", "ui.archivemeta=false", "--no-decode", "-t",
             "files", "-r", "default", "--", destination],
            check=True, capture_output=True,
            env={**os.environ, "HGRCPATH": "", "HGPLAIN": "1"})

    return DemoSource(
        "mercurial", "Mercurial over hg serve", RevisionControlSystems.HG,
        url=server.urlFor("project"), export=export,
        closers=[server.stop])


# (worker kind, test server module, builder), in the order shown.
_KINDS = (
    ("git", "codeimport.testing.vcs.git", _git_source),
    ("bzr-svn", "codeimport.testing.vcs.svn", _svn_source),
    ("hg", "codeimport.testing.vcs.hg", _hg_source),
    ("bzr", "codeimport.testing.vcs.bzr", _bzr_source),
    ("cvs", "codeimport.testing.vcs.cvs", _cvs_source),
)


def foreign_sources(work: str) -> list[DemoSource]:
    """A served source for each kind this checkout can import."""
    import importlib.util

    importers = default_importers()
    sources = []
    for kind, module, build in _KINDS:
        if (kind, "git") not in importers or (
                importlib.util.find_spec(module) is None):
            continue
        sources.append(build(work))
    return sources
