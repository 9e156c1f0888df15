"""What users run to measure probe-runtime or regenerate docs/: `python -m benchmarks.<module> --help`."""
