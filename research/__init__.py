"""The finished studies, one package each: `python -m research.<study>.study --help` (see research/README.md)."""
