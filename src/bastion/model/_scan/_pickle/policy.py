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
    RV_GENERIC,
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
    "RV_GENERIC",
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

# Callables decided per reference: each time the pickle pushes one (GLOBAL, GET, DUP) that reference
# must be consumed by a direct call the analyser can see, whose arguments decide it (`getattr`'s
# target, a loader's payload). A reference left over was handed to something else that may call it
# (an apply gadget below, an instance's `__new__`/method hook) with arguments the analyser never
# judged; the red team reused a memoized `getattr` that way after one benign call had cleared it.
DEFERRED = GETATTRS | UFUNC_RECONSTRUCT | LOADERS

# Allowed callables that call one of their arguments: name -> (position of the callable, position of
# its argument tuple, or -1 when it gets the first argument alone). `_rebuild_from_type_v2(func,
# new_type, args, state)` runs `func(*args)`; NumPy's legacy `__generator_ctor(name, ctor)` runs
# `ctor(name)`. The inner call is analysed like a REDUCE, and a callable that is not a name the
# pickle imported (an instance, a call result) is a finding.
APPLY_GADGETS: dict[str, tuple[int, int]] = {
    "torch._tensor._rebuild_from_type_v2": (0, 2),
    "numpy.random._pickle.__generator_ctor": (1, -1),
    "numpy.random._pickle.__randomstate_ctor": (1, -1),
}

# Allowed callables that look `__new__`, `__init__` or another method up on an argument meant to be
# a class: name -> positions of those arguments. Given an instance instead, the lookup finds whatever
# its `__dict__` holds (BUILD set it), so `copyreg._reconstructor(cls, X, state)` runs
# `X.__new__(cls, state)` with an attacker-chosen callable. Those arguments must be names the
# pickle imported (GLOBAL/STACK_GLOBAL), which the policy already judged.
CLASS_ARGS: dict[str, tuple[int, ...]] = {
    "copyreg._reconstructor": (0, 1),
    "copyreg.__newobj__": (0,),
    "copyreg.__newobj_ex__": (0,),
    "numpy.ma.core._mareconstruct": (0, 1),
    "sklearn.metrics._dist_metrics.newObj": (0,),
    "sklearn.neighbors._ball_tree.newObj": (0,),
    "sklearn.neighbors._kd_tree.newObj": (0,),
    "pandas.core.indexes.base._new_Index": (0,),
    "pandas.core.indexes.datetimes._new_DatetimeIndex": (0,),
    "pandas.core.indexes.period._new_PeriodIndex": (0,),
    "pandas.core.indexes.interval._new_IntervalIndex": (0,),
}
# `__bit_generator_ctor(x)` instantiates `x` when it is a type and looks a string up in a table.
NAME_OR_CLASS_ARGS: dict[str, tuple[int, ...]] = {"numpy.random._pickle.__bit_generator_ctor": (0,)}

# Instance attributes that Python code or C libraries look up on the *instance* (so its __dict__, set by
# BUILD, wins over the class) and then call: `copyreg._reconstructor` runs `base.__new__` and
# `base.__init__`, NumPy `__array__` & co., torch `overloaded_arg.__torch_function__`. No library
# pickles such keys in an object's state; planting one turns an allowed helper into a call of whatever
# value the state holds (the red team's `X.__new__ = getattr`). Data dunders (`__doc__`, which
# numpy.vectorize keeps) are not listed.
HOOK_STATE_KEYS = frozenset(
    {
        "__new__",
        "__init__",
        "__call__",
        "__getattr__",
        "__getattribute__",
        "__setattr__",
        "__setstate__",
        "__getstate__",
        "__reduce__",
        "__reduce_ex__",
        "__getnewargs__",
        "__getnewargs_ex__",
        "__torch_function__",
        "__torch_dispatch__",
        "__array__",
        "__array_interface__",
        "__array_struct__",
        "__array_function__",
        "__array_ufunc__",
        "__array_wrap__",
        "__array_finalize__",
        "__array_prepare__",
        "__class__",
        "__dict__",
    }
)

# scipy.stats distributions: `rv_generic.__setstate__` exec()s the pickled `_parse_arg_template`.
# scipy builds that text from one fixed template, identifier shape names and one of two loc/scale
# signatures; the state must hold exactly such a text (checked on BUILD), anything else is code.
_SCIPY_PARSE_ARG_TEMPLATE = """
def _parse_args(self, %(shape_arg_str)s %(locscale_in)s):
    return (%(shape_arg_str)s), %(locscale_out)s

def _parse_args_rvs(self, %(shape_arg_str)s %(locscale_in)s, size=None):
    return self._argcheck_rvs(%(shape_arg_str)s %(locscale_out)s, size=size)

def _parse_args_stats(self, %(shape_arg_str)s %(locscale_in)s, moments='mv'):
    return (%(shape_arg_str)s), %(locscale_out)s, moments
"""


def _template_pattern() -> re.Pattern[str]:
    parts = re.split(r"(%\((?:shape_arg_str|locscale_in|locscale_out)\)s)", _SCIPY_PARSE_ARG_TEMPLATE)
    groups = {
        "%(shape_arg_str)s": ("s", r"(?:[_a-zA-Z][_a-zA-Z0-9]*, )*"),
        "%(locscale_in)s": ("i", r"loc=0, scale=1|loc=0"),
        "%(locscale_out)s": ("o", r"loc, scale|loc, 1"),
    }
    seen: set[str] = set()
    out = []
    for part in parts:
        if part in groups:
            name, body = groups[part]
            out.append(f"(?P={name})" if name in seen else f"(?P<{name}>{body})")
            seen.add(name)
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


_PARSE_ARG_TEMPLATE = _template_pattern()


def scipy_template_ok(text: object) -> bool:
    """Is `text` a `_parse_arg_template` scipy itself would generate (so exec() of it only defines parsers)?"""
    return isinstance(text, str) and len(text) < 4096 and _PARSE_ARG_TEMPLATE.fullmatch(text) is not None


def _module_match(module: str, entries: tuple[str, ...], qualified: str) -> bool:
    return any(module == entry or module.startswith(entry + ".") or qualified == entry for entry in entries)


def canonical(module: str, name: str) -> str:
    """The one fully-qualified name `module.name` is known by (re-exports resolved by table)."""
    qualified = f"{module}.{name}"
    return ALIASES.get(qualified, qualified)


def call_key(module: str, name: str) -> tuple[str, str]:
    """`(module, name)` for the special-cased callables (GETATTRS, LOADERS, ...), however the pickle spelt it.

    Protocol 4 resolves a dotted name by attribute walk, so `('torch', 'storage._load_from_bytes')`
    is the same function as `('torch.storage', '_load_from_bytes')`; keyed by the tuple as written,
    the former escaped the loader handling while `classify` (which joins the two) allowed it.
    """
    if "." not in name and f"{module}.{name}" not in ALIASES:
        return (module, name)
    qualified = canonical(module, name)
    head, _, tail = qualified.rpartition(".")
    return (head, tail)


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
