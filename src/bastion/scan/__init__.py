"""The scan service: walk a path, identify AI assets, run every scanner, record and decide.

The CLI, the REST API and the demo all call `run_scan`; none of them holds scan logic.
"""

from bastion.scan._orchestrator import ProgressCallback, ScanOptions, run_scan
from bastion.scan._rules import CORE_RULES

__all__ = ["CORE_RULES", "ProgressCallback", "ScanOptions", "run_scan"]
