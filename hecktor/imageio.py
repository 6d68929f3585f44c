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
        InputError: the folder is missing, holds no image, or holds more than one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, f"{what} folder is missing")
    images = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not images:
        raise InputError(folder, f"no {what} file found (expected one of {', '.join(IMAGE_SUFFIXES)})")
    if len(images) > 1:
        names = ", ".join(p.name for p in images)
        raise InputError(folder, f"expected exactly one {what} file, found {len(images)}: {names}")
    return images[0]


def read_image_header(path: str | Path) -> sitk.ImageFileReader:
    """Read only the header (size, spacing, origin, direction, pixel type) of an image file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file is missing")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(path, f"cannot be read as an image ({_short_itk_reason(exc)})") from None
    return reader


def read_image(path: str | Path, what: str = "image", *, require_3d: bool = True) -> sitk.Image:
    """Read a scalar image with SimpleITK.

    Args:
        path: any ITK-readable file (.mha, .nii.gz, ...).
        what: a name for the image used in error messages ("CT", "PET", "prediction").
        require_3d: refuse images that are not 3-D single-component volumes.

    Raises:
        InputError: missing, unreadable, not 3-D, or multi-component, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} file is missing")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(path, f"{what} cannot be read as an image ({_short_itk_reason(exc)})") from None
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


def _short_itk_reason(exc: RuntimeError) -> str:
    """The last meaningful line of an ITK exception, without the C++ file/line noise."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line.lower().startswith(("itk::", "sitk::", "/")):
            return line[:200]
    return (lines[-1] if lines else "unknown ITK error")[:200]
