"""Every public interface of codeimport, importable from one place."""

from codeimport.interfaces.branch import IBranch
from codeimport.interfaces.branch import IBranchEdit
from codeimport.interfaces.branch import IBranchLookup
from codeimport.interfaces.branch import IBranchPuller
from codeimport.interfaces.branch import IBranchSet
from codeimport.interfaces.branch import IBranchView
from codeimport.interfaces.codeimport import ICodeImport
from codeimport.interfaces.codeimport import ICodeImportSet
from codeimport.interfaces.event import ICodeImportEvent
from codeimport.interfaces.event import ICodeImportEventSet
from codeimport.interfaces.event import ICodeImportEventToken
from codeimport.interfaces.job import ICodeImportJob
from codeimport.interfaces.job import ICodeImportJobSet
from codeimport.interfaces.job import ICodeImportJobWorkflow
from codeimport.interfaces.libraryfile import ILibraryFileAlias
from codeimport.interfaces.libraryfile import ILibraryFileAliasSet
from codeimport.interfaces.listing import ICodeImportListing
from codeimport.interfaces.machine import ICodeImportMachine
from codeimport.interfaces.machine import ICodeImportMachineSet
from codeimport.interfaces.person import IPerson
from codeimport.interfaces.person import IPersonSet
from codeimport.interfaces.result import ICodeImportResult
from codeimport.interfaces.result import ICodeImportResultSet
from codeimport.interfaces.scriptactivity import IScriptActivity
from codeimport.interfaces.scriptactivity import IScriptActivitySet
from codeimport.interfaces.watchdog import ICodeImportWatchdog
from codeimport.wire.interfaces import IBranchStatusAPI
from codeimport.wire.interfaces import ICodeImportScheduler

__all__ = [
    "IBranch",
    "IBranchEdit",
    "IBranchLookup",
    "IBranchPuller",
    "IBranchSet",
    "IBranchStatusAPI",
    "IBranchView",
    "ICodeImport",
    "ICodeImportEvent",
    "ICodeImportEventSet",
    "ICodeImportEventToken",
    "ICodeImportJob",
    "ICodeImportJobSet",
    "ICodeImportJobWorkflow",
    "ICodeImportListing",
    "ICodeImportMachine",
    "ICodeImportMachineSet",
    "ICodeImportResult",
    "ICodeImportResultSet",
    "ICodeImportScheduler",
    "ICodeImportSet",
    "ICodeImportWatchdog",
    "ILibraryFileAlias",
    "ILibraryFileAliasSet",
    "IPerson",
    "IPersonSet",
    "IScriptActivity",
    "IScriptActivitySet",
]
