"""QuickXorHash against published vectors, and the fast implementation against the naive one."""

from __future__ import annotations

import base64
import random

import pytest

from s4.store.quickxor import QuickXorHash, quickxor_file
from tests.quickxor_reference import quickxor_reference

# (input, digest) pairs, both base64, from rclone's backend/onedrive/quickxorhash tests, which
# were checked against OneDrive. Chosen to cover empty input, the first bytes landing across
# cell boundaries, and inputs longer than the 160-byte rotation period.
KNOWN = [
    ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
    ("tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
    ("XJZSOiNO2bmfKnTKD7fztcQX", "/6ZArHQwAidkIxefQgEdlPGAW8w="),
    ("Mb7EGva2rEE5fENDL85P+BsapHEEjv2/siVhKjvAQe02feExVOQSkfmuYzU/kTF1MaKjPmKF/w+cbvwfdWL8aQ==",
     "n1anP5NfvD4XDYWIeRPW3ZkPv1Y="),
    ("PfxMcUd0vIW6VbHG/uj/Y0W6qEoKmyBD0nYebEKazKaKG+UaDqBEcmQjbfQeVnVLuodMoPp7P7TR1htX5n2VnkHh22x"
     "DyoJ8C/ZQKiSNqQfXvh83judf4RVr9exJCud8Uvgip6aVZTaPrJHVjQhMCp/dEnGvqg0oN5OVkM2qqAXvA0teKUDhg"
     "NM71sDBVBCGXxNOR2bpbD1iM4dnuT0ey4L+loXEHTL0fqMeUcEi2asgImnlNakwenDzz0x57aBwyq3AspCFGB1ncX4y"
     "YCr/OaCcS5OKi/00WH+wNQU3", "QX/YEpG0gDsmhEpCdWhsxDzsfVE="),
]


@pytest.mark.parametrize(("data", "digest"), KNOWN)
def test_known_vectors(data, digest):
    raw = base64.b64decode(data)
    assert QuickXorHash(raw).b64digest() == digest
    assert quickxor_reference(raw) == digest  # the tests' own oracle is right too


def test_the_long_vector_really_wraps_the_register():
    assert len(base64.b64decode(KNOWN[-1][0])) > 160


@pytest.mark.parametrize("size", [1, 159, 160, 161, 4096, 655_360 + 7, 1_500_001])
def test_fast_equals_naive_for_any_chunking(size, tmp_path):
    rng = random.Random(size)
    data = rng.randbytes(size)
    expected = quickxor_reference(data)
    assert QuickXorHash(data).b64digest() == expected
    pieces = QuickXorHash()
    position = 0
    while position < size:  # ragged chunks, so lane offsets vary between updates
        step = rng.choice([1, 7, 160, 333, 70_000])
        pieces.update(data[position:position + step])
        position += step
    assert pieces.b64digest() == expected
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert quickxor_file(path, chunk=99_991) == expected


def test_a_changed_byte_changes_the_digest():
    data = bytearray(random.Random(1).randbytes(5000))
    before = QuickXorHash(bytes(data)).b64digest()
    data[4321] ^= 0x01
    assert QuickXorHash(bytes(data)).b64digest() != before
