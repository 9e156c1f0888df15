"""The catalogue of user mistakes: every bad input probe handles, the message it gets, the test that proves it.

Each module here (one per area) exposes ``CASES: list[Case]``. ``tests/test_error_catalogue.py`` runs
every case and checks the promise of issue "Nothing lost, nothing trusted blindly": a non-zero exit (or
the project's own exception type from the Python API), ONE line that matches ``expect``, no traceback.
``docs/errors.md`` is generated from the same run (``PROBE_WRITE_ERRORS_MD=1 pytest tests/test_error_catalogue.py``)
and a test checks it lists every case, so the document cannot drift from the code.
"""
