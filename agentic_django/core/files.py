"""Uploaded files as handlers see them, independent of the web framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One uploaded file, fully read into memory (sizes are capped upstream)."""

    field_name: str
    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


class UploadedFiles(dict[str, UploadedFile]):
    """The files of a multipart request keyed by form field; inject by annotation."""
