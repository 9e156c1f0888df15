"""The broader prompt-injection set: its build script, deduplication and README writer."""
