"""Loading the third-party stack with less work: parts pscache never uses are skipped or left for later.

Each trick changes how a library is loaded, not what it is, and each is guarded: a library that no longer has the
expected layout is imported the normal way.

* uvicorn/__init__ imports uvicorn.main (click, gettext, the reload supervisors, multiprocessing): pscache needs
  only uvicorn.config.Config and uvicorn.server.Server. The package gets those two, and runs its real __init__
  only if something asks it for anything else.
* urllib3.http2/__init__ imports importlib.metadata (zipfile, csv, email) to check an h2 version; urllib3's
  connection module needs only the probe submodule.
* botocore.docs/__init__ and boto3.docs/__init__ import the documentation generators, and their docstring modules
  the lazy docstrings of client and resource methods: pscache runs with -OO (no docstrings) and never documents
  anything, so those methods get empty docstrings instead.
* aiohttp/__init__ imports the whole package (digest auth, multipart, form data, resolvers, ...) to re-export its
  names; aiobotocore's HTTP session uses only the client's (ClientSession, TCPConnector, ClientTimeout, its
  exceptions), which aiohttp.client has too. The package takes those from there.
* logging.config (with logging.handlers, configparser, socketserver, pickle, queue) is imported by uvicorn.config
  as `import logging.config`, and used only to apply a log_config, which pscache never passes: its code runs if
  one of its names is ever asked for. (importlib's LazyLoader cannot do this: a later `import` of the module reads
  its __spec__, which runs it.)
* html (with html.entities, 2,200 named character references) is imported by starlette's error middleware as
  `import html` to escape its debug page, which pscache never shows: it loads the same way, if ever used.
* idna (its Unicode tables, unicodedata) is imported by yarl as `import idna` for host names that are not ASCII;
  AWS endpoints are: it loads the same way as logging.config, if ever used.
* aiohttp.connector builds two default TLS contexts at import, loading the system's CA file into each; aiobotocore
  always passes its own context (botocore's CA bundle, or AWS_CA_BUNDLE), so those two are never used: they are
  built while OpenSSL's default CA locations point nowhere.
"""

from __future__ import annotations

import contextlib
import os
import sys
from importlib import import_module
from importlib.machinery import PathFinder
from importlib.util import find_spec, module_from_spec
from types import ModuleType


def _find(name: str):
    """The spec of (sub)package `name`, found without importing any of its parents."""
    top, *rest = name.split(".")
    try:
        spec = find_spec(top)  # a top-level name is only looked up, not imported
    except (ImportError, ValueError):
        return None
    for i in range(len(rest)):
        if spec is None or spec.submodule_search_locations is None:
            return None
        spec = PathFinder.find_spec(".".join([top, *rest[: i + 1]]), spec.submodule_search_locations)
    return spec


def _constant(spec, name: str):
    """The value a module's code assigns to `name` as a literal (`__version__ = "1.2"`), read without running it;
    None if it assigns it otherwise or not at all."""
    import dis  # loaded already: asyncio imports inspect, which imports dis

    previous = None
    for instruction in dis.get_instructions(spec.loader.get_code(spec.name)):
        if instruction.opname == "STORE_NAME" and instruction.argval == name:
            return previous.argval if previous is not None and previous.opname == "LOAD_CONST" else None
        previous = instruction
    return None


def _bare_package(name: str, exports_from: tuple[str, ...] = (), constants: tuple[str, ...] = ()
                  ) -> ModuleType | None:
    """Put package `name` in sys.modules without running its __init__; its submodules still import normally, and
    a name one of the `exports_from` submodules has is taken from there (what __init__ would have re-exported).
    Asked for a name it has nowhere else, the package runs its real __init__ then, once. `constants`: literals its
    __init__ assigns that its own submodules import from it (`from . import __version__`); without them, nothing
    is changed."""
    if name in sys.modules:
        return None
    spec = _find(name)
    if spec is None or spec.submodule_search_locations is None or spec.loader is None:
        return None
    values = {constant: _constant(spec, constant) for constant in constants}
    if None in values.values():
        return None
    package = module_from_spec(spec)  # a package object with __path__, its body not executed
    package.__dict__.update(values)

    def __getattr__(attribute: str):
        if attribute.startswith("__") and attribute != "__version__":
            raise AttributeError(attribute)  # import machinery probing (__spec__, __path__, ...)
        if PathFinder.find_spec(f"{name}.{attribute}", package.__path__) is not None:
            return import_module(f"{name}.{attribute}")  # `from package import submodule` asks this first
        for source in exports_from:
            value = getattr(import_module(source), attribute, _MISSING)
            if value is not _MISSING:
                setattr(package, attribute, value)
                return value
        del package.__getattr__
        spec.loader.exec_module(package)
        return getattr(package, attribute)

    package.__getattr__ = __getattr__
    sys.modules[name] = package
    return package


_MISSING = object()


class _NoDocstring(str):
    """Stands for botocore's and boto3's lazily built docstrings, whatever arguments they are built with."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls, "")


def _docstring_stub(package: ModuleType) -> None:
    """`<package>.docstring` as a module whose every name is _NoDocstring."""
    module = ModuleType(package.__name__ + ".docstring")
    module.__getattr__ = lambda attribute: _NoDocstring  # PEP 562: ClientMethodDocstring, ActionDocstring, ...
    sys.modules[module.__name__] = module
    package.docstring = module


def _deferred(name: str) -> ModuleType | None:
    """Put module `name` in sys.modules (and on its parent package) without running its code; the code runs, once,
    when a name the module does not have yet is first asked for. For a module every importer imports as
    `import x` and uses only in calls pscache never makes."""
    parent, _, child = name.rpartition(".")
    if name in sys.modules or (parent and parent not in sys.modules):
        return None
    spec = _find(name)
    if spec is None or spec.loader is None:
        return None
    module = module_from_spec(spec)

    def __getattr__(attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)  # import machinery probing
        del module.__getattr__
        spec.loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = __getattr__
    sys.modules[name] = module
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def server_stack() -> None:
    """Before importing uvicorn.config and uvicorn.server."""
    import logging

    _deferred(logging.__name__ + ".config")
    _deferred("html")
    uvicorn = _bare_package("uvicorn")
    if uvicorn is not None:
        import uvicorn.config
        import uvicorn.server

        # What uvicorn's own modules import from the package (uvicorn.lifespan.*: `from uvicorn import Config`).
        uvicorn.Config, uvicorn.Server = uvicorn.config.Config, uvicorn.server.Server


def sdk_stack() -> None:
    """Before importing aioboto3 (aiohttp, botocore, urllib3, boto3)."""
    for name in ("botocore.docs", "boto3.docs"):
        package = _bare_package(name)
        if package is not None:
            _docstring_stub(package)
    _bare_package("urllib3.http2")
    _bare_package("aiohttp", exports_from=("aiohttp.client",), constants=("__version__",))
    _deferred("idna")


@contextlib.contextmanager
def no_default_ca():
    """OpenSSL's default CA file and folder (SSL_CERT_FILE, SSL_CERT_DIR) point nowhere inside the block."""
    saved = {name: os.environ.get(name) for name in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    os.environ["SSL_CERT_FILE"] = os.environ["SSL_CERT_DIR"] = "/nonexistent/pscache-no-default-ca"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
