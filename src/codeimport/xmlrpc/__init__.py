"""XML-RPC: the services' APIs, WSGI application, faults and clients.

Nothing is imported here, so that import machines can use
`codeimport.xmlrpc.client` without loading the server side.
"""

__all__: list[str] = []
