"""Every image that enters the system goes through Pillow here: checked, turned upright, stripped of its
metadata (GPS!), downscaled, re-encoded, and given a thumbnail."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..core.errors import DomainError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}  # MPO: the multi-picture JPEG many phones write
MAX_SIDE = 1600
THUMB_SIDE = 400


class ImageRejected(DomainError):
    pass


@dataclass
class ProcessedImage:
    data: bytes
    thumb: bytes
    width: int
    height: int
    media_type: str = "image/jpeg"


def process_photo(raw: bytes, *, max_bytes: int, max_pixels: int) -> ProcessedImage:
    """Raises ImageRejected with a code: photo_too_large, photo_bomb, photo_unreadable, photo_format."""
    if not raw:
        raise ImageRejected("photo_empty", _l("The photo is empty."))
    if len(raw) > max_bytes:
        raise ImageRejected("photo_too_large", _l("The photo is larger than %(mb)d MB.", mb=max_bytes // 2**20))
    # WeasyPrint sets LOAD_TRUNCATED_IMAGES = True, process-wide, when it is imported; uploads must load strictly.
    # (WeasyPrint only ever renders images that passed through here, so strictness costs it nothing.)
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.format not in ALLOWED_FORMATS:
                raise ImageRejected("photo_format", _l("Photos must be JPEG, PNG or WebP."))
            if image.width * image.height > max_pixels:
                raise ImageRejected("photo_bomb", _l("The photo has too many pixels."))
            image.load()  # a truncated file fails here
            if image.format in ("JPEG", "MPO") and not raw.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise ImageRejected("photo_unreadable",
                                    _l("The file is not a readable image (damaged or not a photo)."))
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("photo_bomb", _l("The photo has too many pixels.")) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRejected("photo_unreadable", _l("The file is not a readable image (damaged or not a photo).")) \
            from None
    image = ImageOps.exif_transpose(image)  # upright, as the camera held it
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        image = background
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # A fresh encode without exif, icc or other metadata: GPS and camera details do not survive.
    image.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    thumb_image = image.copy()
    thumb_image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    thumb = io.BytesIO()
    thumb_image.save(thumb, "JPEG", quality=75, optimize=True)
    return ProcessedImage(out.getvalue(), thumb.getvalue(), image.width, image.height)
