"""The branch puller: mirrors due branches, reporting over XML-RPC.

`codeimport.puller.puller.Puller` runs the acquire / mirror / report
loop; `codeimport.puller.mirror.Mirrorer` copies one branch.
"""
