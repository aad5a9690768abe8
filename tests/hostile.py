"""Hostile inputs built at test time (never committed as files): zip bombs and damaged zips.

A bomb is written by hand: one deflate block of 1 MiB of zeros made once with a full flush (so it
depends on no earlier data) is repeated, which builds a GiB-sized entry in well under a second.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

_MIB = 1 << 20


def _zero_block() -> tuple[bytes, bytes]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(_MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    return block, c.flush(zlib.Z_FINISH)


def write_zip_bomb(path: Path, member: str, mib: int, declared_size: int | None = None) -> Path:
    """A zip whose one ``member`` inflates to ``mib`` MiB of zeros (< 4 GiB). ``declared_size`` makes the
    headers lie about the uncompressed size (the CRC is then that of the real content)."""
    assert mib < 4096
    block, tail = _zero_block()
    data = block * mib + tail
    crc = 0
    zero = bytes(_MIB)
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    size = mib * _MIB if declared_size is None else declared_size
    name = member.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    with open(path, "wb") as fh:
        fh.write(local)
        fh.write(data)
        fh.write(central)
        fh.write(end)
    return path
