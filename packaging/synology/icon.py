"""Writes the package icon: a plain PNG of the given size (no imaging library needed)."""
import struct
import sys
import zlib

size, path = int(sys.argv[1]), sys.argv[2]


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


# A teal disc on a transparent background.
rows = []
c = (size - 1) / 2
for y in range(size):
    row = bytearray([0])
    for x in range(size):
        inside = (x - c) ** 2 + (y - c) ** 2 <= (size * 0.45) ** 2
        row += bytes((0, 128, 128, 255)) if inside else bytes(4)
    rows.append(bytes(row))
png = b"\x89PNG\r\n\x1a\n"
png += chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
png += chunk(b"IEND", b"")
with open(path, "wb") as f:
    f.write(png)
