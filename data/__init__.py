"""Data shipped with the repository; a package so its build scripts import as ``data.<set>.<module>``."""
