"""Nuitka user plugin (build/nuitka-options.txt): the stdlib modules Nuitka embeds as bytecode get the same bytes
whatever Nuitka's own process had imported before.

marshal writes a string as interned or not as it finds it, and whether a compiled module's string constants end up
interned depends on the compiling process: a code object interns its qualified name in place, so the class body's
`__qualname__` constant (the same object) is interned only when no equal string was interned earlier, e.g. by
Nuitka itself having imported that stdlib module. Two builds of one commit then embedded different bytes
(issue 20: `importlib.resources._adapters`, Docker against native). Every string constant is interned here, so the
marshalled module is the same in any process; loading it interns a few hundred more strings, nothing else changes.
"""
from __future__ import annotations

import sys
from types import CodeType


def canonical(value):
    """value with every str in it (tuples, frozensets, nested code objects) interned."""
    if type(value) is str:
        return sys.intern(value)
    if type(value) is tuple:
        return tuple(canonical(v) for v in value)
    if type(value) is frozenset:
        return frozenset(canonical(v) for v in value)
    if isinstance(value, CodeType):
        return value.replace(co_consts=canonical(value.co_consts))  # names are interned by the constructor
    return value


try:
    from nuitka.plugins.PluginBase import NuitkaPluginBase
except ImportError:  # imported by the tests, outside Nuitka
    NuitkaPluginBase = object


class DeterministicBytecode(NuitkaPluginBase):
    plugin_name = __file__
    plugin_desc = "Intern every string constant of embedded bytecode, so its bytes do not depend on Nuitka's process."

    def onFrozenModuleBytecode(self, module_name, is_package, bytecode):
        return canonical(bytecode)
