"""Test doubles that run through production code paths (used by tests and benchmarks)."""
