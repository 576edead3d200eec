"""Mutants: small stand-ins, proxies and wrappers around the reference services, each with one known defect.

They prove what ``harness verify`` says about implementations it has never seen: every mutant's defect must be
named by a finding a team understands, and nothing else. Defect switches live here, never in
``reference_impl``'s own code paths.
"""

from harness.mutants._serve import Served, serve

__all__ = ["Served", "serve"]
