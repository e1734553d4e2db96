"""XML-RPC: the service (the WSGI application, the scheduler and
authserver views, transactions).

The wire protocol the clients share (interfaces, faults, clients) is
`codeimport.wire`.  ``xmlrpc.client`` and ``xmlrpc.faults`` remain as
old paths of the wire modules.
"""

__all__: list[str] = []
