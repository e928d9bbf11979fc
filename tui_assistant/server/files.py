"""The Files API's storage: metadata rows in SQLite, contents as private files on disk.

Contents live in a directory next to the database (``server.db`` keeps them in
``server-files/``), one file per id, mode 0600 in a 0700 directory. A server with an
in-memory database keeps them in a temporary directory that is removed when it stops.

Uploads arrive as ``multipart/form-data`` (what ``client.files.create`` sends); the small
parser here reads the whole body, which ``MAX_UPLOAD_BYTES`` bounds.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
import shutil
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_assistant.server.objects import now
from tui_assistant.server.storage import PRIVATE_DIR_MODE, Storage, open_private
from tui_assistant.server.validation import ApiError, bad_request

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
"""The largest upload the local server accepts (OpenAI's limit was 512 MB)."""

UPLOAD_PURPOSES = ("assistants", "vision", "user_data")
"""Purposes a client may upload with; ``assistants_output`` is for files tools produce."""

_ID_ALPHABET = string.ascii_letters + string.digits


def new_file_id() -> str:
    """``file-`` and 22 letters and digits, like OpenAI's file ids."""
    return "file-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def file_object(file_id: str, filename: str, size: int, purpose: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": now(),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def safe_name(name: str, default: str = "upload") -> str:
    """A file name without directories or control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if name in ("", ".", ".."):
        return default
    return name[:255]


class FileStore:
    """Stored files: ``create``, ``get``, ``read``, ``path``, ``delete``."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._own_temp = storage.path is None
        self._dir: Path | None = None
        if storage.path is not None:
            db = Path(storage.path)
            self._dir = db.with_name(f"{db.stem}-files")

    @property
    def directory(self) -> Path:
        """Where contents are kept (created, private, on first use)."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="tui-assistant-files-"))
        if not self._dir.is_dir():
            self._dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        try:
            os.chmod(self._dir, PRIVATE_DIR_MODE)
        except OSError:  # pragma: no cover - not the owner
            pass
        return self._dir

    def close(self) -> None:
        """Remove the temporary directory of an in-memory server. Idempotent."""
        if self._own_temp and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def create(self, filename: str, data: bytes, purpose: str) -> dict[str, Any]:
        file_id = new_file_id()
        target = self.directory / file_id
        fd = open_private(target, os.O_WRONLY | os.O_EXCL)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        obj = file_object(file_id, safe_name(filename), len(data), purpose)
        self.storage.insert("files", obj, purpose=purpose)
        return obj

    def get(self, file_id: str) -> dict[str, Any] | None:
        return self.storage.get("files", file_id)

    def require(self, file_id: str) -> dict[str, Any]:
        found = self.get(file_id)
        if found is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return found

    def path(self, file_id: str) -> Path:
        return self.directory / file_id

    def read(self, file_id: str, limit: int | None = None) -> bytes:
        with open(self.path(file_id), "rb") as handle:
            return handle.read() if limit is None else handle.read(limit)

    def delete(self, file_id: str) -> None:
        self.storage.delete("files", file_id)
        try:
            os.unlink(self.path(file_id))
        except FileNotFoundError:
            pass

    @staticmethod
    def media_type(filename: str) -> str:
        return mimetypes.guess_type(filename)[0] or "application/octet-stream"


# --- multipart/form-data ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormPart:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="file"; filename="a.txt"`` → (``form-data``, {name, filename})."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    buffer, quoted, escaped, items = "", False, False, []
    for ch in rest:
        if escaped:
            buffer += ch
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            items.append(buffer)
            buffer = ""
        else:
            buffer += ch
    items.append(buffer)
    for item in items:
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip()
    if "filename*" in params:  # RFC 5987: UTF-8''name%20with%20spaces
        from urllib.parse import unquote

        charset, _, encoded = params["filename*"].partition("''")
        params["filename"] = unquote(encoded, encoding=charset or "utf-8", errors="replace")
    elif "filename" in params:
        params["filename"] = params["filename"].replace("%22", '"')
    return main.strip().lower(), params


def parse_multipart(body: bytes, content_type: str) -> dict[str, FormPart]:
    """The fields of a ``multipart/form-data`` body, by name (the last of a name wins)."""
    kind, params = _header_params(content_type)
    boundary = params.get("boundary", "")
    if kind != "multipart/form-data" or not boundary:
        raise bad_request(
            "Uploads must be sent as 'multipart/form-data' with a boundary "
            "(client.files.create does this)."
        )
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise bad_request("The multipart body is malformed: no parts found.")
    parts: dict[str, FormPart] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise bad_request("The multipart body is malformed: a part has no header end.")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition, disp = _header_params(headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in disp:
            continue
        parts[disp["name"]] = FormPart(
            name=disp["name"],
            data=data,
            filename=disp.get("filename"),
            content_type=headers.get("content-type"),
        )
    return parts


# --- text for file search -----------------------------------------------------------------

TEXT_SAMPLE = 8192
MAX_TEXT_BYTES = 4 * 1024 * 1024


def read_text(store: FileStore, file_id: str) -> str | None:
    """A stored file's text (UTF-8, first ``MAX_TEXT_BYTES``), or None for a binary file."""
    try:
        data = store.read(file_id, MAX_TEXT_BYTES)
    except OSError:
        return None
    if b"\x00" in data[:TEXT_SAMPLE]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 4:  # not just a character cut at the limit
            return None
        return data[: exc.start].decode("utf-8")
