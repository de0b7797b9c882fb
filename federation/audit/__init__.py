"""Governance: verify every ledger and data flow at both ends, report them, export the
s.62 log for the ICO, and describe the processing for a DPIA (issue #18)."""
