"""The resume state of one ``quire submit``: a small JSON file beside the input.

It records what the server already has (the upload, the job or batch, the results fetched),
so running the same command again after an interruption picks up where it stopped. A
changed input (size, mtime, or a folder's listing) starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quire_client.errors import InputError
from quire_client.packing import STATE_SUFFIX, folder_files

STATE_VERSION = 1


@dataclass(frozen=True)
class InputSignature:
    """Enough about the input to tell that it changed since the state was written."""

    size: int
    mtime_ns: int
    files: int = 1
    listing_sha256: str = ""


def input_signature(path: Path) -> InputSignature:
    """The signature of a file (size, mtime) or of a folder (totals and each file's entry)."""
    if not path.is_dir():
        stat = path.stat()
        return InputSignature(stat.st_size, stat.st_mtime_ns)
    digest = hashlib.sha256()
    size = mtime = count = 0
    for file, name in folder_files(path):
        stat = file.stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        size, mtime, count = size + stat.st_size, max(mtime, stat.st_mtime_ns), count + 1
    return InputSignature(size, mtime, count, digest.hexdigest())


def default_state_path(path: Path) -> Path:
    """``scan.pdf`` -> ``scan.pdf.quire-state.json``; folder ``box/`` -> ``box.quire-state.json``
    beside the folder (never inside it: it would change the folder)."""
    resolved = path.resolve()
    return resolved.with_name(resolved.name + STATE_SUFFIX)


@dataclass
class SubmitState:
    """Progress of one submission, as far as the server confirmed it."""

    input_path: str
    server: str
    signature: InputSignature
    upload_id: str | None = None
    upload_completed: bool = False
    job_id: str | None = None
    batch_id: str | None = None
    downloaded: list[str] = field(default_factory=list)

    def matches(self, path: Path, server: str, signature: InputSignature) -> bool:
        """Whether this state is about the same input, unchanged, on the same server."""
        return (
            self.input_path == str(path.resolve())
            and self.server == server
            and self.signature == signature
        )

    def to_json(self) -> dict[str, Any]:
        """The state as the file stores it."""
        return {"version": STATE_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmitState:
        """Read the stored state; ``ValueError`` if it is not a state of this version."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unknown state version {data.get('version')!r}")
        fields = {k: v for k, v in data.items() if k != "version"}
        try:
            fields["signature"] = InputSignature(**fields["signature"])
            return cls(**fields)
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed state: {e}") from e


class StateFile:
    """Where one submission's state lives; written atomically (a crash never leaves half)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SubmitState | None:
        """The stored state; None if there is none or it cannot be read (start over)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return SubmitState.from_json(data) if isinstance(data, dict) else None
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None

    def save(self, state: SubmitState) -> None:
        """Replace the stored state with ``state``."""
        temporary = self.path.with_name(f".{self.path.name}.tmp")  # hidden: never packed
        try:
            temporary.write_text(json.dumps(state.to_json(), indent=2), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as e:
            raise InputError(f"cannot write the state file {self.path}: {e.strerror or e}") from e

    def remove(self) -> None:
        """Forget the submission: it finished."""
        self.path.unlink(missing_ok=True)
