"""Grand Challenge JSON payloads: socket values as in ``inputs.json`` and ``predictions.json``.

Both the 2025 key ``interface`` and the 2026 key ``socket`` are written (as the platform has done
since Dec 2025) and either is accepted when reading. Only ``slug``, ``relative_path``, ``value`` and
``image.name`` are relied upon.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Mapping
from typing import Any

from hecktor.interface import Kind, Socket


def socket_meta(socket: Socket) -> dict[str, Any]:
    """The socket description as the platform writes it."""
    is_image = socket.kind is Kind.IMAGE
    return {
        "title": socket.title,
        "slug": socket.slug,
        "kind": "Image" if is_image else "Anything",
        "pk": zlib.crc32(socket.slug.encode()) % 10_000,
        "default_value": None,
        "description": "",
        "relative_path": socket.relative_path,
        "super_kind": "Image" if is_image else "Value",
        "is_image_kind": is_image,
        "is_json_kind": not is_image,
        "is_file_kind": False,
        "look_up_table": None,
        "overlay_segments": [],
    }


def socket_value(socket: Socket, *, image_name: str | None = None, value: Any = None) -> dict[str, Any]:
    """One socket value entry. Images carry ``image.name`` (the original file name); JSON sockets ``value``."""
    meta = socket_meta(socket)
    image = None
    if socket.kind is Kind.IMAGE:
        image = {"pk": str(uuid.uuid5(uuid.NAMESPACE_URL, image_name or socket.slug)), "name": image_name}
    return {
        "pk": zlib.crc32(f"{socket.slug}/{image_name}".encode()) % 1_000_000,
        "file": None,
        "image": image,
        "value": None if socket.kind is Kind.IMAGE else value,
        "interface": meta,
        "socket": meta,
    }


def job_entry(
    pk: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], status: str = "Succeeded"
) -> dict[str, Any]:
    """One algorithm job of ``predictions.json``."""
    return {
        "pk": pk,
        "status": status,
        "rendered_result_text": "",
        "started_at": None,
        "inputs": inputs,
        "outputs": outputs,
    }


def entry_meta(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The socket description of a value entry: ``socket`` (2026) or ``interface`` (2025)."""
    for key in ("socket", "interface"):
        meta = entry.get(key)
        if isinstance(meta, Mapping):
            return meta
    return None


def entry_relative_path(entry: Mapping[str, Any]) -> str | None:
    meta = entry_meta(entry)
    rp = meta.get("relative_path") if meta else None
    return rp if isinstance(rp, str) else None


def entry_image_name(entry: Mapping[str, Any]) -> str | None:
    image = entry.get("image")
    name = image.get("name") if isinstance(image, Mapping) else None
    return name if isinstance(name, str) else None
