"""The client's errors; ``main`` turns each into a message on stderr and exit code 2.

The client cannot use the server's error tree (it imports no server code), so it keeps its
own: what went wrong on the wire, with the server, or with the user's input.
"""

from __future__ import annotations

from typing import ClassVar


class ClientError(Exception):
    """Base of every error the client raises on purpose."""

    exit_code: ClassVar[int] = 2
    retryable: bool = False

    def __str__(self) -> str:
        return self.args[0] if self.args else type(self).__name__


class InputError(ClientError):
    """The path, option or state file the user gave cannot be used."""


class UnsafeArchive(ClientError):
    """A downloaded archive has a member that would land outside the output folder."""


class ServerUnreachable(ClientError):
    """No connection to the server at all (refused, DNS, TLS)."""


class TransportFailed(ClientError):
    """The connection broke or timed out mid-request; trying again may work."""

    retryable = True


class ApiError(ClientError):
    """The server answered with an error (a problem+json body, or any non-2xx)."""

    def __init__(
        self, status: int, code: str, detail: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        # Overloaded or failing servers may recover; a wrong request will not.
        self.retryable = status == 429 or status >= 500
