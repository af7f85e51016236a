"""User-facing error hierarchy.

Every error a user can cause (bad config, bad file, bad checkpoint, incompatible store)
is an `NtscaleError`. The CLI prints these without a traceback and exits non-zero.
Each subclass also derives from the builtin a caller would naturally catch
(ValueError, FileNotFoundError, ...), the way zarr's own errors do.
"""

from __future__ import annotations


class NtscaleError(Exception):
    """Base class of every error ntscale raises on purpose."""

    exit_code: int = 2


class ConfigError(NtscaleError, ValueError):
    """A run setting is invalid (unknown key, bad value, conflicting options)."""


class InputError(NtscaleError, ValueError):
    """An input file is missing, malformed or inconsistent.

    The message names the file, the record (contig:start-end, VCF line, BED line) and
    the reason, so that a user can find and fix the offending input.
    """

    def __init__(self, reason: str, *, path: object = None, record: object = None) -> None:
        self.path = None if path is None else str(path)
        self.record = None if record is None else str(record)
        self.reason = reason
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if self.record is not None:
            parts.append(self.record)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class MissingInputError(InputError, FileNotFoundError):
    """An input file (or its index) does not exist."""


class TokenizerError(NtscaleError, ValueError):
    """A sequence cannot be tokenized (bad letter, too many tokens for the length)."""


class CheckpointError(NtscaleError, ValueError):
    """A checkpoint is missing, corrupt or does not match the model (names the key/shape)."""


class StoreError(NtscaleError, ValueError):
    """An output store cannot be created, opened, resumed or mixed with this run."""


class ClusterError(NtscaleError, RuntimeError):
    """A Ray cluster or job could not be reached, or a job failed."""


class Interrupted(NtscaleError):
    """A run stopped by SIGINT/SIGTERM; exit code 130 (INT) or 143 (TERM), store resumable."""

    exit_code: int = 130
