"""The web interface: a Pyramid host application around the library.

It uses the library only through utility lookup (`codeimport.configure`
into Pyramid's own registry) and lets the library's security proxies
decide what each signed-in person may see and do.
"""
