"""The XML-RPC wire protocol, shared by the service and its clients.

`interfaces` holds the two XML-RPC contracts (`ICodeImportScheduler`,
`IBranchStatusAPI`), `faults` the one table of faults (code, name,
domain error), `remote` and `client` what an import machine or the
branch puller uses to call the service.  Nothing here loads Storm, the
database driver or the server (`codeimport.xmlrpc`), so an import
machine runs without them.
"""
