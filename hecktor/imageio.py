"""Reading and writing medical images with SimpleITK, with one-line errors that name the file.

Images stay SimpleITK images (LPS physical space, spacing in mm, ITK index order x, y, z) until a
caller needs an array; ``sitk.GetArrayViewFromImage`` then gives z, y, x order.
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from hecktor.errors import InputError

#: File name endings SimpleITK reads that we accept as images (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".mha", ".mhd", ".nii.gz", ".nii", ".nrrd", ".tif", ".tiff")


def is_image_file(path: Path) -> bool:
    """True when ``path`` is a file whose name ends in one of :data:`IMAGE_SUFFIXES`."""
    return path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES)


def strip_image_suffix(name: str) -> str:
    """``"CHUM-001__CT.nii.gz"`` -> ``"CHUM-001__CT"``; names without a known suffix are unchanged."""
    lower = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_single_image(folder: str | Path, what: str = "image") -> Path:
    """The one image file in ``folder`` (Grand Challenge puts exactly one there, under any name).

    Raises:
        InputError: the folder is missing, holds no image (files with other endings are named as having an
            unsupported extension), or holds more than one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, f"{what} folder is missing")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if is_image_file(p)]
    expected = ", ".join(IMAGE_SUFFIXES)
    if not images and files:
        names = ", ".join(p.name for p in files[:5]) + (", ..." if len(files) > 5 else "")
        raise InputError(folder, f"no {what} file with a supported extension: found {names} (expected {expected})")
    if not images:
        raise InputError(folder, f"no {what} file found (expected one of {expected})")
    if len(images) > 1:
        names = ", ".join(p.name for p in images)
        raise InputError(folder, f"expected exactly one {what} file, found {len(images)}: {names}")
    return images[0]


#: The ITK ImageIO for each accepted ending, set explicitly so that ``CT.MHA`` reads like ``ct.mha``.
_IMAGE_IOS: dict[str, str] = {
    ".mha": "MetaImageIO",
    ".mhd": "MetaImageIO",
    ".nii.gz": "NiftiImageIO",
    ".nii": "NiftiImageIO",
    ".nrrd": "NrrdImageIO",
    ".tif": "TIFFImageIO",
    ".tiff": "TIFFImageIO",
}
_FORMAT_NAMES = {
    "MetaImageIO": "MetaImage (.mha)",
    "NiftiImageIO": "NIfTI",
    "NrrdImageIO": "NRRD",
    "TIFFImageIO": "TIFF",
}


def _reader(path: Path, what: str) -> sitk.ImageFileReader:
    """A reader for ``path`` with its header read; one-line errors for an empty file, an unsupported ending, or
    a file that is not an image of its format."""
    if not path.is_file():
        raise InputError(path, f"{what} file is missing")
    suffix = next((s for s in IMAGE_SUFFIXES if path.name.lower().endswith(s)), None)
    if suffix is None:
        raise InputError(
            path, f"{what} file has an unsupported extension (expected one of {', '.join(IMAGE_SUFFIXES)})"
        )
    size = path.stat().st_size
    if size == 0:
        raise InputError(path, f"{what} file is empty (0 bytes)")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO(_IMAGE_IOS[suffix])
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        fmt = _FORMAT_NAMES[_IMAGE_IOS[suffix]]
        with path.open("rb") as stream:
            start = stream.read(64).lstrip()
        if _IMAGE_IOS[suffix] == "MetaImageIO" and start.startswith(_METAIMAGE_KEYS):
            raise InputError(
                path, f"{what} file is truncated or malformed: incomplete {fmt} header ({size} bytes)"
            ) from None
        raise InputError(path, f"{what} file is not a {fmt} image (unreadable header, {size} bytes)") from None
    if suffix == ".nii.gz" and not _gzip_size_fits(path, reader):
        raise InputError(path, f"{what} file is truncated: its compressed data end early ({size} bytes)")
    return reader


_SCALAR_BYTES = {
    sitk.sitkInt8: 1,
    sitk.sitkUInt8: 1,
    sitk.sitkInt16: 2,
    sitk.sitkUInt16: 2,
    sitk.sitkInt32: 4,
    sitk.sitkUInt32: 4,
    sitk.sitkInt64: 8,
    sitk.sitkUInt64: 8,
    sitk.sitkFloat32: 4,
    sitk.sitkFloat64: 8,
}
_METAIMAGE_KEYS = (b"ObjectType", b"NDims", b"ObjectSubType", b"Comment", b"DimSize")


def _gzip_size_fits(path: Path, reader: sitk.ImageFileReader) -> bool:
    """Whether a ``.nii.gz`` file's gzip trailer (uncompressed size mod 2**32) fits the header's voxel count:
    ITK reads a truncated ``.nii.gz`` without complaint, zero-filling what is missing."""
    voxels = 1
    for n in reader.GetSize():
        voxels *= n
    bytes_per_voxel = _SCALAR_BYTES.get(reader.GetPixelID(), 0)
    if not bytes_per_voxel:
        return True  # an unusual pixel type: no cheap check
    data = voxels * bytes_per_voxel * reader.GetNumberOfComponents()
    with path.open("rb") as stream:
        stream.seek(-4, 2)
        trailer = int.from_bytes(stream.read(4), "little")
    return (trailer - (data + 348)) % 2**32 <= 1 << 20  # header (348 bytes + extensions up to 1 MiB) + voxels


def read_image_header(path: str | Path, what: str = "image") -> sitk.ImageFileReader:
    """Read only the header (size, spacing, origin, direction, pixel type) of an image file."""
    return _reader(Path(path), what)


def read_image(path: str | Path, what: str = "image", *, require_3d: bool = True) -> sitk.Image:
    """Read a scalar image with SimpleITK.

    Args:
        path: any ITK-readable file (.mha, .nii.gz, ...).
        what: a name for the image used in error messages ("CT", "PET", "prediction").
        require_3d: refuse images that are not 3-D single-component volumes.

    Raises:
        InputError: missing, empty, not an image, truncated, not 3-D, or multi-component, naming the file.
    """
    path = Path(path)
    reader = _reader(path, what)
    try:
        image = reader.Execute()
    except RuntimeError:
        voxels = "x".join(map(str, reader.GetSize()))
        raise InputError(
            path,
            f"{what} file is truncated or its pixel data are corrupt ({path.stat().st_size} bytes for a {voxels} "
            f"{sitk.GetPixelIDValueAsString(reader.GetPixelID())} image)",
        ) from None
    if require_3d:
        if image.GetDimension() != 3:
            raise InputError(path, f"{what} is {image.GetDimension()}-D, expected a 3-D volume")
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise InputError(
                path,
                f"{what} has {image.GetNumberOfComponentsPerPixel()} components per voxel, expected a scalar image",
            )
    return image


def write_image(image: sitk.Image, path: str | Path, *, compress: bool = True) -> Path:
    """Write ``image`` (creating parent folders); ``.mha`` output is compressed by default."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path
