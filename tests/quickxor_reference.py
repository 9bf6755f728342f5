"""A deliberately naive QuickXorHash, byte by byte in three cells (64 + 64 + 32 bits), the
way Microsoft's reference describes it. The tests check it against published vectors and use
it to check S4's fast implementation (and the Graph fake reports hashes with it), so a bug
in S4's version cannot hide behind itself."""

from __future__ import annotations

import base64

CELL_BITS = (64, 64, 32)


def quickxor_reference(data: bytes) -> str:
    cells = [0, 0, 0]
    cell, offset = 0, 0  # where the next byte goes
    for byte in data:
        bits = CELL_BITS[cell]
        if offset <= bits - 8:
            cells[cell] ^= byte << offset
        else:  # the byte straddles this cell and the next (the last cell wraps to cell 0)
            cells[cell] ^= (byte << offset) & ((1 << bits) - 1)
            cells[(cell + 1) % 3] ^= byte >> (bits - offset)
        offset += 11
        while offset >= CELL_BITS[cell]:
            offset -= CELL_BITS[cell]
            cell = (cell + 1) % 3
    raw = cells[0].to_bytes(8, "little") + cells[1].to_bytes(8, "little") \
        + cells[2].to_bytes(4, "little")
    length = len(data).to_bytes(8, "little")
    out = bytes(raw[:12]) + bytes(a ^ b for a, b in zip(raw[12:], length, strict=True))
    return base64.b64encode(out).decode("ascii")
