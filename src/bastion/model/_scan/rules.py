"""The rules the model scanner may emit, declared once with their control references.

Every finding the scanner produces comes from one of these, so coverage reports and
the control catalog see the full set up front. Severities are the defaults; a few
call sites lower them (for example a parse error in a trailing, never-loaded pickle).
"""

from __future__ import annotations

from bastion.core.types import Rule, Severity

SCANNER_NAME = "model"

_SUPPLY = ("atlas:AML.T0010", "atlas:AML.T0011", "owasp-llm:LLM03", "owasp-ml:ML06")
_TAMPER = ("atlas:AML.T0010", "owasp-llm:LLM03", "owasp-ml:ML06", "owasp-ml:ML10")

_DONT_LOAD = (
    "Do not load this artifact. Obtain the model from a trusted source, verify its signature, "
    "and prefer a data-only format such as safetensors."
)


def _rule(
    rid: str, title: str, sev: Severity, remediation: str = _DONT_LOAD, controls: tuple[str, ...] = _SUPPLY
) -> Rule:
    return Rule(id=rid, title=title, severity=sev, controls=controls, remediation=remediation)


DANGEROUS_CALLABLE = _rule(
    "model.pickle.dangerous-callable",
    "Serialized model imports or calls a code-execution, process, file, network or import callable",
    Severity.CRITICAL,
)
UNKNOWN_CALLABLE = _rule(
    "model.pickle.unknown-callable",
    "Serialized model references a callable outside the framework allowlists",
    Severity.HIGH,
    "Review the callable; if it is legitimate, add it to the allowlist for this project. "
    "Otherwise treat the artifact as untrusted.",
)
UNRESOLVED_CALLABLE = _rule(
    "model.pickle.unresolved-callable",
    "Serialized model builds a callable that cannot be resolved statically",
    Severity.HIGH,
)
GLOBAL_MUTATION = _rule(
    "model.pickle.global-mutation",
    "Serialized model overwrites attributes of an imported class or module",
    Severity.HIGH,
)
MALFORMED_PICKLE = _rule(
    "model.pickle.malformed",
    "Pickle stream is broken; loaders still execute everything before the break",
    Severity.HIGH,
)
NESTED_PICKLE = _rule(
    "model.pickle.nested-payload",
    "Serialized model carries a second serialized payload that is deserialized at load time",
    Severity.CRITICAL,
)
OBJECT_ARRAY = _rule(
    "model.numpy.object-array",
    "NumPy array of Python objects: loading it unpickles its elements",
    Severity.LOW,
    "Store numeric arrays only; load with allow_pickle=False.",
)
CONTAINER_MALFORMED = _rule(
    "model.container.malformed",
    "Model container cannot be parsed the way its loader parses it",
    Severity.HIGH,
    _DONT_LOAD,
    _TAMPER,
)
CONTAINER_TAMPERED = _rule(
    "model.container.tampered",
    "Model container shows signs of tampering (checksum, header or flag disagreement)",
    Severity.HIGH,
    _DONT_LOAD,
    _TAMPER,
)
CONTAINER_ENCRYPTED = _rule(
    "model.container.encrypted",
    "Archive member is encrypted, so its content could not be inspected",
    Severity.MEDIUM,
    "No loader decrypts members without a password, and the raw bytes a loader could read were analysed; "
    "if this archive is meant to be loaded as a model, obtain an unencrypted copy and scan that.",
    _TAMPER,
)
RESOURCE_LIMIT = _rule(
    "model.container.resource-limit",
    "Scanning stopped at a safety limit (decompression, nesting, size or count), so part of the file is unverified",
    Severity.HIGH,
    "Treat the unverified part as untrusted; raise the limit only for artifacts from a trusted source.",
    _TAMPER,
)
PATH_TRAVERSAL = _rule(
    "model.container.path-traversal",
    "Model container references a path outside itself (absolute path or '..')",
    Severity.HIGH,
)
TENSOR_BOUNDS = _rule(
    "model.tensor.bounds",
    "Tensor metadata disagrees with the stored data (offsets, sizes, overlap or dtype/shape)",
    Severity.HIGH,
    _DONT_LOAD,
    _TAMPER,
)
KERAS_LAMBDA = _rule(
    "model.keras.lambda",
    "Keras model embeds Python bytecode or a Lambda layer that runs at load or call time",
    Severity.CRITICAL,
)
KERAS_FOREIGN = _rule(
    "model.keras.foreign-reference",
    "Keras config references a module, class or function outside Keras",
    Severity.HIGH,
)
SAVEDMODEL_OP = _rule(
    "model.savedmodel.dangerous-op",
    "TensorFlow graph uses an operation that reads or writes files, runs Python or reaches the network",
    Severity.HIGH,
)
ONNX_EXTERNAL = _rule(
    "model.onnx.external-data",
    "ONNX external-data location escapes the model folder",
    Severity.HIGH,
)
ONNX_CUSTOM = _rule(
    "model.onnx.custom-domain",
    "ONNX graph uses operators from a custom domain that needs native code to run",
    Severity.MEDIUM,
    "Confirm the custom operator library is trusted before loading the model.",
)
TORCHSCRIPT_OP = _rule(
    "model.torchscript.suspicious-code",
    "TorchScript code calls file, process or custom operators",
    Severity.HIGH,
)
TEMPLATE_INJECTION = _rule(
    "model.gguf.template-injection",
    "Chat template walks Python internals (sandbox escape) when rendered",
    Severity.CRITICAL,
)
TEMPLATE_SUSPICIOUS = _rule(
    "model.gguf.template-suspicious",
    "Chat template cannot be parsed or builds attribute names dynamically",
    Severity.HIGH,
)
TIMEOUT = _rule(
    "model.scan.timeout",
    "Scan of this file exceeded its time budget; the rest of the file is unverified",
    Severity.HIGH,
    "Treat the artifact as unverified; scan it again with a larger budget if it is trusted.",
    _TAMPER,
)
UNRECOGNISED = _rule(
    "model.scan.unrecognised",
    "File is not a model format the scanner can verify",
    Severity.MEDIUM,
    "Confirm what this file is; an unverifiable artifact must not be loaded as a model.",
    _TAMPER,
)

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        DANGEROUS_CALLABLE,
        UNKNOWN_CALLABLE,
        UNRESOLVED_CALLABLE,
        GLOBAL_MUTATION,
        MALFORMED_PICKLE,
        NESTED_PICKLE,
        OBJECT_ARRAY,
        CONTAINER_MALFORMED,
        CONTAINER_TAMPERED,
        CONTAINER_ENCRYPTED,
        RESOURCE_LIMIT,
        PATH_TRAVERSAL,
        TENSOR_BOUNDS,
        KERAS_LAMBDA,
        KERAS_FOREIGN,
        SAVEDMODEL_OP,
        ONNX_EXTERNAL,
        ONNX_CUSTOM,
        TORCHSCRIPT_OP,
        TEMPLATE_INJECTION,
        TEMPLATE_SUSPICIOUS,
        TIMEOUT,
        UNRECOGNISED,
    )
}
