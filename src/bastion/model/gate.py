"""The deployment gate: may this artifact pass this stage, and if not, why not.

    from bastion.model.gate import check
    result = check("models/fraud", stage="deploy", public_key="release.pub", registry=reg)
    if not result.passed:
        print("\n".join(result.reasons))          # every reason, not just the first
    result.write_sarif(Path("gate.sarif"))

Blocks when the artifact is unsigned, tampered (changed, added, removed or renamed
files), signed by an untrusted or revoked identity, not approved in the trusted
registry (or approved with different bytes), or carries scanner findings at or
above the policy threshold. The same call backs `bastion gate`, the CI and
pre-commit hooks and the API.
"""

from __future__ import annotations

from bastion.model._gate.core import STAGES, GateResult, check, default_scan
from bastion.model._gate.demo import SupplyDemo, run_supply_demo

__all__ = ["STAGES", "GateResult", "SupplyDemo", "check", "default_scan", "run_supply_demo"]
