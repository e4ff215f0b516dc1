"""What a pickle may import: allowlists per framework first, then a denylist.

The decision is allowlist-first. A callable that a legitimate PyTorch, NumPy,
scikit-learn, XGBoost/LightGBM, pandas, joblib or plain-Python artifact needs is
allowed; a callable that reaches code execution, processes, files, the network or
the import machinery is dangerous; everything else is *unknown*, which is still a
finding, because loading it runs code we have not vetted. Denylist matching is by
module prefix, so `asyncio.unix_events` is caught as part of `asyncio` (the
submodule bypass of CVE-2025-10157).
"""

from __future__ import annotations

import re
from enum import IntEnum


class Verdict(IntEnum):
    ALLOWED = 0
    UNKNOWN = 1
    DANGEROUS = 2


_PLAIN = {
    "builtins": {
        "set",
        "frozenset",
        "slice",
        "range",
        "complex",
        "bytearray",
        "bytes",
        "dict",
        "list",
        "tuple",
        "int",
        "float",
        "str",
        "bool",
        "object",
        "NotImplemented",
        "Ellipsis",
    },
    "collections": {"OrderedDict", "defaultdict", "Counter", "deque"},
    "copyreg": {"_reconstructor", "__newobj__", "__newobj_ex__"},
    "_codecs": {"encode"},
    "datetime": {"datetime", "date", "time", "timedelta", "timezone"},
    "decimal": {"Decimal"},
    "fractions": {"Fraction"},
    "uuid": {"UUID"},
    "pathlib": {"PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath", "Path"},
    "zoneinfo": {"ZoneInfo"},
    "_operator": set(),
}

_NUMPY = {
    "numpy": {"ndarray", "dtype", "float64", "float32", "int64", "int32", "bool_", "uint8", "matrix"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.ma.core": {"_mareconstruct", "MaskedArray"},
    "numpy.random._pickle": {"__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"},
    "numpy.random.mtrand": {"RandomState"},
    "numpy.random._mt19937": {"MT19937"},
    "numpy.random._pcg64": {"PCG64", "PCG64DXSM"},
    "numpy.random._philox": {"Philox"},
    "numpy.random._sfc64": {"SFC64"},
    "numpy.random._generator": {"Generator"},
    "numpy.random.bit_generator": {"SeedSequence", "__pyx_unpickle_SeedSequence"},
}
# NumPy ufuncs (pickled by name through `_ufunc_reconstruct`, e.g. FunctionTransformer(np.log1p)).
NUMPY_UFUNCS = frozenset(
    [
        "abs",
        "absolute",
        "acos",
        "acosh",
        "add",
        "arccos",
        "arccosh",
        "arcsin",
        "arcsinh",
        "arctan",
        "arctan2",
        "arctanh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "bitwise_and",
        "bitwise_count",
        "bitwise_invert",
        "bitwise_left_shift",
        "bitwise_not",
        "bitwise_or",
        "bitwise_right_shift",
        "bitwise_xor",
        "cbrt",
        "ceil",
        "conj",
        "conjugate",
        "copysign",
        "cos",
        "cosh",
        "deg2rad",
        "degrees",
        "divide",
        "divmod",
        "equal",
        "exp",
        "exp2",
        "expm1",
        "fabs",
        "float_power",
        "floor",
        "floor_divide",
        "fmax",
        "fmin",
        "fmod",
        "frexp",
        "gcd",
        "greater",
        "greater_equal",
        "heaviside",
        "hypot",
        "invert",
        "isfinite",
        "isinf",
        "isnan",
        "isnat",
        "lcm",
        "ldexp",
        "left_shift",
        "less",
        "less_equal",
        "log",
        "log10",
        "log1p",
        "log2",
        "logaddexp",
        "logaddexp2",
        "logical_and",
        "logical_not",
        "logical_or",
        "logical_xor",
        "matmul",
        "matvec",
        "maximum",
        "minimum",
        "mod",
        "modf",
        "multiply",
        "negative",
        "nextafter",
        "not_equal",
        "positive",
        "pow",
        "power",
        "rad2deg",
        "radians",
        "reciprocal",
        "remainder",
        "right_shift",
        "rint",
        "sign",
        "signbit",
        "sin",
        "sinh",
        "spacing",
        "sqrt",
        "square",
        "subtract",
        "tan",
        "tanh",
        "true_divide",
        "trunc",
        "vecdot",
        "vecmat",
    ]
)
_NUMPY["numpy"] |= NUMPY_UFUNCS
# ufunc pickles resolve a (module, name) pair; the call itself is fine, the target is checked.
UFUNC_RECONSTRUCT = {
    ("numpy.core", "_ufunc_reconstruct"),
    ("numpy._core", "_ufunc_reconstruct"),
    ("numpy.core._ufunc_config", "_ufunc_reconstruct"),
}

_JOBLIB = {
    "joblib.numpy_pickle": {"NumpyArrayWrapper"},
    "joblib.numpy_pickle_compat": {"NDArrayWrapper", "ZNDArrayWrapper"},
    "sklearn.externals.joblib.numpy_pickle": {"NumpyArrayWrapper"},
}

_PANDAS = {
    "pandas._libs.internals": {"_unpickle_block"},
    "pandas.core.internals.blocks": {"new_block", "Block", "NumpyBlock", "ObjectBlock"},
    "pandas.core.indexes.base": {"_new_Index", "Index"},
    "pandas._libs.tslibs.timestamps": {"_unpickle_timestamp"},
    "pandas._libs.tslibs.timedeltas": {"_timedelta_unpickle"},
    "pandas._libs.tslibs.nattype": {"__nat_unpickle"},
    "pandas.core.arrays.categorical": {"_unpickle_categorical", "Categorical"},
    "pandas._libs.arrays": {"__pyx_unpickle_NDArrayBacked"},
    "pandas.core.internals.managers": {"BlockManager", "SingleBlockManager"},
    "pyarrow.lib": {
        "_restore_array",
        "type_for_alias",
        "py_buffer",
        "schema",
        "field",
        "table",
        "Table",
        "RecordBatch",
        "ChunkedArray",
        "DataType",
        "_reconstruct_table",
        "_reconstruct_record_batch",
        "chunked_array",
        "array",
    },
}

_TORCH_DTYPES = [
    "bfloat16",
    "bits16",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bool",
    "complex128",
    "complex32",
    "complex64",
    "float16",
    "float32",
    "float64",
    "float4_e2m1fn_x2",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "int1",
    "int16",
    "int2",
    "int3",
    "int32",
    "int4",
    "int5",
    "int6",
    "int64",
    "int7",
    "int8",
    "qint32",
    "qint8",
    "quint2x4",
    "quint4x2",
    "quint8",
    "uint1",
    "uint16",
    "uint2",
    "uint3",
    "uint32",
    "uint4",
    "uint5",
    "uint6",
    "uint64",
    "uint7",
    "uint8",
    "half",
    "float",
    "double",
    "long",
    "int",
    "short",
    "cfloat",
    "cdouble",
]
_TORCH_LAYOUT = [
    "per_channel_affine",
    "per_channel_affine_float_qparams",
    "per_channel_symmetric",
    "per_tensor_affine",
    "per_tensor_symmetric",
    "strided",
    "sparse_coo",
    "sparse_csr",
    "sparse_csc",
    "sparse_bsr",
    "sparse_bsc",
    "_mkldnn",
    "contiguous_format",
    "channels_last",
    "channels_last_3d",
    "preserve_format",
]
_TORCH_TYPES = [
    "BFloat16",
    "Bool",
    "Byte",
    "Char",
    "ComplexDouble",
    "ComplexFloat",
    "Double",
    "Float",
    "Half",
    "Int",
    "Long",
    "Short",
    "QInt32",
    "QInt8",
    "QUInt2x4",
    "QUInt4x2",
    "QUInt8",
]
_TORCH = {
    "torch": {
        *_TORCH_DTYPES,
        *_TORCH_LAYOUT,
        "Size",
        "Tensor",
        "device",
        "dtype",
        "layout",
        "memory_format",
        *(t + "Storage" for t in _TORCH_TYPES),
        *(t + "Tensor" for t in _TORCH_TYPES),
    },
    "torch.cuda": {*(t + "Storage" for t in _TORCH_TYPES), *(t + "Tensor" for t in _TORCH_TYPES)},
    "torch.sparse": {t + "Tensor" for t in _TORCH_TYPES},
    "torch.cuda.sparse": {t + "Tensor" for t in _TORCH_TYPES},
    "torch._utils": {
        "_rebuild_device_tensor_from_cpu_tensor",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_nested_tensor",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_sparse_tensor",
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_wrapper_subclass",
    },
    "torch._tensor": {"_rebuild_from_type_v2"},
    "torch.nn.parameter": {"Parameter", "Buffer", "UninitializedParameter"},
    "torch.serialization": {"_get_layout"},
    "torch.storage": {"TypedStorage", "UntypedStorage", "_load_from_bytes"},
    "torch.nn.modules.module": {"_WrappedHook"},
    "torch._C._nn": {"gelu", "silu", "softplus"},
    "torch.nn.functional": {"relu", "gelu", "silu", "softmax", "tanh", "sigmoid", "log_softmax"},
}
# TorchScript archives are unpickled by the C++ unpickler, which only knows these and
# classes compiled from the archive's own `code/` folder.
TORCHSCRIPT_MODULES = ("torch.jit._pickle", "__torch__")

_XGB_LGBM = {
    "xgboost.core": {"Booster"},
    "xgboost.sklearn": {
        "XGBClassifier",
        "XGBRegressor",
        "XGBRanker",
        "XGBRFClassifier",
        "XGBRFRegressor",
        "XGBModel",
    },
    "lightgbm.basic": {"Booster"},
    "lightgbm.sklearn": {"LGBMClassifier", "LGBMRegressor", "LGBMRanker", "LGBMModel"},
}

FRAMEWORKS: dict[str, dict[str, set[str]]] = {
    "python": _PLAIN,
    "numpy": _NUMPY,
    "joblib": _JOBLIB,
    "pandas": _PANDAS,
    "torch": _TORCH,
    "xgboost/lightgbm": _XGB_LGBM,
}

_EXACT: dict[str, set[str]] = {}
for _table in FRAMEWORKS.values():
    for _mod, _names in _table.items():
        _EXACT.setdefault(_mod, set()).update(_names)

# Class families allowed by module prefix: estimator and layer classes are numerous and
# version-dependent, and a class reached through NEWOBJ/BUILD runs no constructor.
_CLASS = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_PREFIX_CLASSES = (
    "sklearn.",
    "torch.nn.modules.",
    "xgboost.",
    "lightgbm.",
    "catboost.",
    "pandas.",
    "pandas.arrays",
    "numpy.dtypes",
    "numpy._core.",
    "numpy.core.",
    "scipy.sparse.",
    "scipy.stats._distn_infrastructure",
)
_SCIPY_SPARSE = re.compile(r"^(csr|csc|coo|bsr|dia|dok|lil)_(matrix|array)$")
_SKLEARN_FUNCS = re.compile(r"^(_[a-z_]*unpickle[a-z_]*|_reconstruct[a-z_]*|_deserialize[a-z_]*)$")

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
    r"__init__|__dict__|__func__|__self__|__closure__)$"
)
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


def classify(module: str, name: str, *, torchscript: bool = False) -> Verdict:
    """Decide one `module.name` reference.

    `name` may be dotted (protocol 4 resolves `a.b.c` by attribute walk); a private
    dunder anywhere in it is an attribute walk into internals and is dangerous.
    """
    qualified = f"{module}.{name}"
    parts = name.split(".")
    if any(p.startswith("__") and p.endswith("__") for p in parts) and not (
        module in _EXACT and name in _EXACT[module]
    ):
        return Verdict.DANGEROUS
    if module in ("builtins", "__builtin__", "__builtins__") and parts[0] in _DANGEROUS_BUILTINS:
        return Verdict.DANGEROUS
    exact = _EXACT.get(module)
    if exact is not None and name in exact:
        return Verdict.ALLOWED
    if torchscript and _module_match(module, TORCHSCRIPT_MODULES, qualified):
        return Verdict.ALLOWED
    if _module_match(module, _DANGEROUS_MODULES, qualified):
        return Verdict.DANGEROUS
    if _DANGEROUS_NAMES.search(name) and not _CLASS.match(parts[-1]):
        return Verdict.DANGEROUS
    if len(parts) == 1:
        if module.startswith("scipy.sparse") and _SCIPY_SPARSE.match(name):
            return Verdict.ALLOWED
        if module.startswith("sklearn.") and _SKLEARN_FUNCS.match(name):
            return Verdict.ALLOWED
        if _CLASS.match(name) and any(module.startswith(p) or module + "." == p for p in _PREFIX_CLASSES):
            return Verdict.ALLOWED
    return Verdict.UNKNOWN


def allowed_attribute(module: str, name: str, attr: str) -> bool:
    """`getattr(AllowedClass, 'MEMBER')`, as enum pickles do, stays allowed."""
    return (
        not attr.startswith("_")
        and classify(module, name) is Verdict.ALLOWED
        and bool(_CLASS.match(name.split(".")[-1]))
    )
