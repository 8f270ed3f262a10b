"""Part plans, part checks and part-URL signatures of presigned uploads."""

from __future__ import annotations

import pytest

from api.presign import MAX_PARTS, MIB, check_parts, part_signature, plan_parts
from shared.errors import UploadIncomplete
from shared.schemas import CompletedPartIn


@pytest.mark.parametrize(
    "size,preferred,count,part,last",
    [
        (1, 5 * MIB, 1, 5 * MIB, 1),
        (5 * MIB, 5 * MIB, 1, 5 * MIB, 5 * MIB),
        (5 * MIB + 1, 5 * MIB, 2, 5 * MIB, 1),
        (64 * MIB * 3, 64 * MIB, 3, 64 * MIB, 64 * MIB),
        # 1 TB at 64 MiB would need 15,000 parts: parts grow to stay within S3's 10,000.
        (10**12, 64 * MIB, 9935, 96 * MIB, 10**12 - 9934 * 96 * MIB),
    ],
)
def test_plan_parts(size: int, preferred: int, count: int, part: int, last: int) -> None:
    plan = plan_parts(size, preferred)
    assert (plan.count, plan.part_size, plan.part_length(plan.count)) == (count, part, last)
    assert plan.count <= MAX_PARTS
    assert sum(plan.part_length(n) for n in range(1, plan.count + 1)) == size


def parts(*numbers: int) -> list[CompletedPartIn]:
    return [CompletedPartIn(number=n, etag=f'"e{n}"') for n in numbers]


@pytest.mark.parametrize("numbers", [(1, 2), (1, 2, 3, 3), (2, 3), (1, 2, 3, 4), ()])
def test_check_parts_refuses_gaps_and_duplicates(numbers: tuple[int, ...]) -> None:
    with pytest.raises(UploadIncomplete):
        check_parts(plan_parts(15 * MIB, 5 * MIB), parts(*numbers))


def test_check_parts_orders_them() -> None:
    ordered = check_parts(plan_parts(15 * MIB, 5 * MIB), parts(3, 1, 2))
    assert [p.number for p in ordered] == [1, 2, 3]


def test_signature_binds_upload_part_and_expiry() -> None:
    base = part_signature("secret", "u1", 1, 1000)
    assert base == part_signature("secret", "u1", 1, 1000)
    others = {
        part_signature("other", "u1", 1, 1000),
        part_signature("secret", "u2", 1, 1000),
        part_signature("secret", "u1", 2, 1000),
        part_signature("secret", "u1", 1, 1001),
    }
    assert base not in others and len(others) == 4
