"""Scanning files with the guard's rule packs (`llmward scan`).

* :mod:`~llmward.filescan.files`: which files are read (directory walks skip
  VCS, virtualenv and build folders; binary and oversize files are skipped).
* :mod:`~llmward.filescan.allowlist`: the allowlist file (path globs and
  optional rule ids).
* :mod:`~llmward.filescan.locate`: line and column of a finding, and the masked
  excerpt that stands in for the matched value in reports.
"""
