"""QuickXorHash: the content hash OneDrive and SharePoint report as ``file.hashes.quickXorHash``.

Written from Microsoft's published description of the algorithm: a 160-bit register; byte
number ``p`` of the input (counting from 0) is XORed into the register rotated left by
``(11 * p) mod 160`` bits (the register read as a little-endian 160-bit number); at the end
the 20 register bytes (little-endian) have the input length, as a 64-bit little-endian
integer, XORed into their last 8 bytes. The digest is sent base64-encoded.

Because the rotation depends only on ``p mod 160``, every byte in the same one of 160
"lanes" gets the same rotation: this implementation first XORs lanes together with big
integers (fast, no per-byte Python loop on the bulk of a file) and rotates each of the 160
lane bytes into the register once, at the end.
"""

from __future__ import annotations

import base64
from pathlib import Path

WIDTH_BITS = 160
LANES = 160  # byte positions before the rotation pattern repeats (11 and 160 are coprime)
SHIFT = 11
_MASK = (1 << WIDTH_BITS) - 1
_BLOCK = LANES * 4096  # XOR this many bytes at a time as one big integer (640 KiB)


class QuickXorHash:
    """hashlib-style: ``update()`` as often as needed, then ``digest()`` or ``b64digest()``."""

    name = "quickxorhash"
    digest_size = 20

    def __init__(self, data: bytes = b"") -> None:
        self._length = 0
        self._lanes = bytearray(LANES)  # lane k: XOR of every byte at position ≡ k (mod 160)
        self._bulk = 0  # XOR of aligned _BLOCK-sized slices, folded into lanes at the end
        if data:
            self.update(data)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if not len(view):
            return
        offset = self._length % LANES
        self._length += len(view)
        head = min(len(view), (LANES - offset) % LANES)
        lanes = self._lanes
        for index in range(head):  # up to the next 160-byte boundary
            lanes[offset + index] ^= view[index]
        body_end = head + (len(view) - head) // LANES * LANES
        for start in range(head, body_end, _BLOCK):  # lane-aligned: XOR as big integers
            self._bulk ^= int.from_bytes(view[start:min(start + _BLOCK, body_end)], "little")
        for index in range(body_end, len(view)):  # the tail starts at lane 0
            lanes[index - body_end] ^= view[index]

    def _folded_lanes(self) -> bytes:
        bulk, width = self._bulk, _BLOCK * 8
        while width > LANES * 8:  # fold halves: lanes stay aligned because 160 divides both
            width //= 2
            bulk = (bulk & ((1 << width) - 1)) ^ (bulk >> width)
        folded = int.from_bytes(self._lanes, "little") ^ bulk
        return folded.to_bytes(LANES, "little")

    def digest(self) -> bytes:
        register = 0
        for lane, value in enumerate(self._folded_lanes()):
            if value:
                shifted = value << (SHIFT * lane) % WIDTH_BITS
                register ^= (shifted & _MASK) | (shifted >> WIDTH_BITS)  # rotate within 160
        out = bytearray(register.to_bytes(20, "little"))
        for index, byte in enumerate(self._length.to_bytes(8, "little")):
            out[12 + index] ^= byte
        return bytes(out)

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def quickxor_file(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    """The base64 QuickXorHash of a file, as Graph reports it."""
    digest = QuickXorHash()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.b64digest()
