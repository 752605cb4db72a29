"""A PDF's objects as bytes, for checks poppler does not print (no PDF library is a dependency): every
`N 0 obj ... endobj`, those packed in object streams (/ObjStm) included, Flate streams decompressed."""
from __future__ import annotations

import re
import zlib


def head(body: bytes) -> bytes:
    """An object's dictionary (without its stream data)."""
    return body.split(b"stream\n", 1)[0]


def data(body: bytes) -> bytes:
    """An object's stream data, decompressed."""
    return body.split(b"stream\n", 1)[1]


def pdf_objects(pdf: bytes) -> dict[int, bytes]:
    objects = {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj\s*(.*?)endobj", pdf, re.S)}
    packed = {}
    for number, body in list(objects.items()):
        stream = re.search(rb"stream\r?\n(.*)\r?\nendstream", body, re.S)
        dictionary = body.split(b"stream", 1)[0]
        if not stream or b"/FlateDecode" not in dictionary:
            continue
        decoded = zlib.decompressobj().decompress(stream.group(1))
        objects[number] = dictionary + b"stream\n" + decoded
        if b"/ObjStm" in dictionary:
            count = int(re.search(rb"/N (\d+)", dictionary).group(1))
            first = int(re.search(rb"/First (\d+)", dictionary).group(1))
            numbers = decoded[:first].split()
            offsets = [(int(numbers[i]), int(numbers[i + 1])) for i in range(0, 2 * count, 2)]
            for i, (packed_number, offset) in enumerate(offsets):
                end = offsets[i + 1][1] if i + 1 < len(offsets) else len(decoded) - first
                packed[packed_number] = decoded[first + offset:first + end]
    objects.update(packed)
    return objects
