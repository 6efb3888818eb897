"""Shared fixtures. Real services (Phoenix, SeaweedFS) are session-scoped: they start once."""

pytest_plugins = ["tests.fixtures.phoenix", "tests.fixtures.s3", "tests.fixtures.vespa"]
