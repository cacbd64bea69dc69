"""The riscmoe command line."""
