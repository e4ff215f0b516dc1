"""What a pickle may import: allowlists per framework first, then a denylist.

The decision is allowlist-first. A callable that a legitimate PyTorch, NumPy,
scikit-learn, XGBoost/LightGBM, pandas, joblib or plain-Python artifact needs is
allowed by its exact fully-qualified name (`allowlist.py`; re-exports map onto the
one canonical name), never by prefix or "any attribute of an allowed class"; a
callable that reaches code execution, processes, files, the network or the import
machinery is dangerous; everything else is *unknown*, which is still a
finding, because loading it runs code we have not vetted. Denylist matching is by
module prefix, so `asyncio.unix_events` is caught as part of `asyncio` (the
submodule bypass of CVE-2025-10157).
"""

from __future__ import annotations

import re
from enum import IntEnum

from bastion.model._scan._pickle.allowlist import (
    ALIASES,
    ALLOWED,
    BOUND_METHODS,
    FRAMEWORKS,
    NUMPY_UFUNCS,
    TORCHSCRIPT_MODULES,
    UFUNC_RECONSTRUCT,
)


class Verdict(IntEnum):
    ALLOWED = 0
    UNKNOWN = 1
    DANGEROUS = 2


# Re-exported for the analyser and for readers that only ask "is this dangerous?".
__all__ = [
    "ALIASES",
    "ALLOWED",
    "BOUND_METHODS",
    "FRAMEWORKS",
    "NUMPY_UFUNCS",
    "TORCHSCRIPT_MODULES",
    "UFUNC_RECONSTRUCT",
]

# Prefix-matched: module == entry or module startswith entry + ".".
_DANGEROUS_MODULES = (
    "os",
    "posix",
    "nt",
    "posixpath",
    "ntpath",
    "subprocess",
    "_posixsubprocess",
    "sys",
    "socket",
    "_socket",
    "ssl",
    "shutil",
    "pty",
    "runpy",
    "importlib",
    "imp",
    "pkgutil",
    "zipimport",
    "pickle",
    "_pickle",
    "pickletools",
    "dill",
    "cloudpickle",
    "marshal",
    "types",
    "ctypes",
    "_ctypes",
    "cffi",
    "code",
    "codeop",
    "compileall",
    "py_compile",
    "webbrowser",
    "requests",
    "httpx",
    "aiohttp",
    "urllib",
    "urllib3",
    "http",
    "ftplib",
    "smtplib",
    "telnetlib",
    "poplib",
    "imaplib",
    "xmlrpc",
    "asyncio",
    "multiprocessing",
    "concurrent",
    "threading",
    "_thread",
    "signal",
    "tempfile",
    "io",
    "_io",
    "codecs",
    "bdb",
    "pdb",
    "profile",
    "cProfile",
    "timeit",
    "trace",
    "doctest",
    "idlelib",
    "lib2to3",
    "distutils",
    "setuptools",
    "pip",
    "venv",
    "ensurepip",
    "site",
    "pydoc",
    "mailcap",
    "shelve",
    "dbm",
    "sqlite3",
    "tarfile",
    "zipfile",
    "gzip",
    "bz2",
    "lzma",
    "fileinput",
    "logging.config",
    "atexit",
    "gc",
    "inspect",
    "ast",
    "builtins.eval",
    "platform",
    "_osx_support",
    "uuid._popen",
    "commands",
    "popen2",
    "paramiko",
    "jinja2",
    "mako",
    "operator",
    "_operator",
    "functools",
    "glob",
    "linecache",
    "sched",
    "torch.hub",
    "torch.serialization",
    "torch.jit",
    "torch.utils.cpp_extension",
    "torch._inductor",
    "torch._dynamo",
    "torch.package",
    "torch.distributed",
    "torch.ops",
    "torch._C._jit",
    "torch.utils.data.datapipes",
    "torch.fx",
    "torch.overrides",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.ctypeslib",
    "numpy.lib.npyio",
    "numpy.load",
    "pandas.io",
    "pandas.read_pickle",
    "keras.utils",
    "keras.src.utils",
    "tensorflow.io",
    "tensorflow.python.ops",
    "tensorflow.python.platform",
    "joblib.parallel",
    "joblib.memory",
    "joblib.externals",
    "joblib.load",
    "joblib._store_backends",
    "__builtin__.eval",
)
_DANGEROUS_BUILTINS = {
    "eval",
    "exec",
    "execfile",
    "compile",
    "open",
    "file",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "input",
    "raw_input",
    "breakpoint",
    "help",
    "exit",
    "quit",
    "memoryview",
    "reload",
    "apply",
    "super",
    "type",
    "classmethod",
    "staticmethod",
    "property",
    "print",
    "dir",
}
_DANGEROUS_NAMES = re.compile(
    r"(^|\.)(system|popen\w*|spawn\w*|exec\w*|eval|fork\w*|call|check_call|check_output|run|"
    r"load|loads|__import__|import_module|resolve_name|load_module|remove|unlink|rmtree|rmdir|"
    r"write\w*|open|urlopen|urlretrieve|get_file|connect|create_connection|__globals__|__builtins__|"
    r"__subclasses__|__code__|__reduce\w*__|__setstate__|__getattribute__|__class__|__bases__|__mro__|"
    r"__init__|__dict__|__func__|__self__|__closure__|handle_torch_function|\w*torch_function\w*)$"
)
_CLASS = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
# Modules whose import alone is the gadget (pickle resolves the name by importing it).
IMPORTERS = {
    ("builtins", "__import__"),
    ("importlib", "import_module"),
    ("importlib", "__import__"),
    ("importlib._bootstrap", "_gcd_import"),
    ("imp", "load_module"),
}
RESOLVERS = {("pkgutil", "resolve_name"), ("pydoc", "locate")}
GETATTRS = {("builtins", "getattr")}
ATTRGETTERS = {("operator", "attrgetter"), ("_operator", "attrgetter")}
METHODCALLERS = {("operator", "methodcaller"), ("_operator", "methodcaller")}
LOADERS = {
    ("pickle", "loads"),
    ("pickle", "_loads"),
    ("_pickle", "loads"),
    ("dill", "loads"),
    ("dill._dill", "loads"),
    ("cloudpickle", "loads"),
    ("joblib.numpy_pickle", "loads"),
    ("torch.storage", "_load_from_bytes"),
    ("numpy.core.numeric", "loads"),
    ("numpy", "loads"),
    ("pandas.compat.pickle_compat", "loads"),
}
EVALUATORS = {("builtins", "eval"), ("builtins", "exec"), ("builtins", "compile")}


def _module_match(module: str, entries: tuple[str, ...], qualified: str) -> bool:
    return any(module == entry or module.startswith(entry + ".") or qualified == entry for entry in entries)


def canonical(module: str, name: str) -> str:
    """The one fully-qualified name `module.name` is known by (re-exports resolved by table)."""
    qualified = f"{module}.{name}"
    return ALIASES.get(qualified, qualified)


def classify(module: str, name: str, *, torchscript: bool = False) -> Verdict:
    """Decide one `module.name` reference.

    `name` may be dotted (protocol 4 resolves `a.b.c` by attribute walk, and a
    `getattr(Class, 'attr')` result is named `Class.attr`): it is allowed only when that
    exact dotted name is listed, so a public method of an allowed class
    (`pathlib.Path.write_text`) is not. A dunder anywhere in it is an attribute walk into
    internals and is dangerous.
    """
    if canonical(module, name) in ALLOWED:
        return Verdict.ALLOWED
    qualified = f"{module}.{name}"  # the denylist judges what the loader would import
    parts = name.split(".")
    if any(p.startswith("__") and p.endswith("__") for p in parts):
        return Verdict.DANGEROUS
    if module in ("builtins", "__builtin__", "__builtins__") and parts[0] in _DANGEROUS_BUILTINS:
        return Verdict.DANGEROUS
    if torchscript and _module_match(module, TORCHSCRIPT_MODULES, qualified):
        return Verdict.ALLOWED
    if _module_match(module, _DANGEROUS_MODULES, qualified):
        return Verdict.DANGEROUS
    if _DANGEROUS_NAMES.search(name) and not _CLASS.match(parts[-1]):
        return Verdict.DANGEROUS
    return Verdict.UNKNOWN
