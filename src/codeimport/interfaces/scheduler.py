"""The XML-RPC contracts, at their public path; they live in the wire
package (`codeimport.wire.interfaces`), which clients share."""

from codeimport.wire.interfaces import IBranchStatusAPI
from codeimport.wire.interfaces import ICodeImportScheduler

__all__ = ["IBranchStatusAPI", "ICodeImportScheduler"]
