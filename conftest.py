"""Shared pytest configuration: the codeimport plugin provides fixtures.

The plugin is registered through the package's ``pytest11`` entry point;
nothing else is needed here.
"""
