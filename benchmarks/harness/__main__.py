"""``python -m benchmarks.harness``: the side-by-side run (`benchmarks.harness.side_by_side`)."""

from benchmarks.harness.side_by_side import main

if __name__ == "__main__":
    main()
