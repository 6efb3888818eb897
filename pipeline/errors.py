"""Typed errors. The CLI maps each class to one exit code, in one place (pipeline.cli)."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: an expected failure with a message meant for the operator."""

    exit_code = 1


class ConfigError(PipelineError):
    """Bad input: arguments, configuration, tenant ids, malformed files."""

    exit_code = 2


class InvalidTenantError(ConfigError):
    """A tenant id that is not a DNS-label-like name."""


class ServiceUnavailableError(PipelineError):
    """A dependency stayed unreachable after retries with backoff."""

    exit_code = 3


class PhoenixUnavailableError(ServiceUnavailableError):
    exit_code = 3


class LMUnavailableError(ServiceUnavailableError):
    exit_code = 4


class StoreUnavailableError(ServiceUnavailableError):
    exit_code = 5


class BackendUnavailableError(ServiceUnavailableError):
    """The search backend (Vespa) synthetic data is sampled from."""

    exit_code = 8


class ConflictError(PipelineError):
    """A conditional write lost: somebody else changed the object first."""

    exit_code = 6


class NotFoundError(PipelineError):
    """An object, artifact version or production pointer that does not exist."""

    exit_code = 7


class AlreadyExistsError(ConflictError):
    """A create-only write hit an existing object (artifacts are immutable)."""
