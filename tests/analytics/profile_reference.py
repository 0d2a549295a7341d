"""A plain Python statement of the market profile's POC, CBOT value area and shape, the
oracle the SQL definition (``sql/analytics/121_profile_value_area.sql``) is checked against.

Rules (the SQL file's header states them): POC = most volume, ties to the level whose
midpoint is nearest the VWAP, then the lower level; value area = the CBOT Market Profile
handbook walk (pairs of levels, larger pair first, both on a tie) to the share; shape in the
order D (n < 5), B, thin, P, b, D. Volumes are integers (1e-8 units), indexes 0 = lowest.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

SHAPE_BINS = 20
MIN_B_BINS = 6
MIN_SHAPE_LEVELS = 5
THIN_SHARE = Fraction(3, 5)
P_LOW_EDGE, P_MIDDLE = Fraction(2, 5), Fraction(3, 5)
B_HIGH_EDGE, B_MIDDLE = Fraction(3, 5), Fraction(2, 5)


def point_of_control(volumes: list[int], offset: Callable[[int], Fraction | int]) -> int:
    """Index of the POC: the most volume; ties -> the smallest ``|offset(i)|`` (the level
    midpoint minus the VWAP); then the lowest index."""
    top = max(volumes)
    candidates = [i for i, v in enumerate(volumes) if v == top]
    return min(candidates, key=lambda i: (abs(offset(i)), i))


def value_area(volumes: list[int], poc: int, share: Fraction) -> tuple[int, int]:
    """``(low index, high index)`` of the CBOT value area around ``poc`` (inclusive)."""
    total = sum(volumes)
    target = share * total
    lo = hi = poc
    acc = volumes[poc]
    n = len(volumes)
    while acc < target:
        up_n, down_n = min(2, n - 1 - hi), min(2, lo)
        if up_n == 0 and down_n == 0:
            break
        up = sum(volumes[hi + 1 : hi + 1 + up_n])
        down = sum(volumes[lo - down_n : lo])
        if down_n == 0 or (up_n and up > down):
            hi += up_n
            acc += up
        elif up_n == 0 or down > up:
            lo -= down_n
            acc += down
        else:  # exact tie with both sides available: take both pairs
            hi += up_n
            lo -= down_n
            acc += up + down
    return lo, hi


def _double_distribution(volumes: list[int]) -> bool:
    n = len(volumes)
    k = min(SHAPE_BINS, n // 2)
    if k < MIN_B_BINS:
        return False
    bins = [sum(volumes[g * n // k : (g + 1) * n // k]) for g in range(k)]
    p = max(range(k), key=lambda i: (bins[i], -i))
    for q in range(k):
        if abs(q - p) < 2 or 2 * bins[q] < bins[p]:
            continue
        left = bins[q - 1] if q > 0 else -1
        right = bins[q + 1] if q < k - 1 else -1
        if bins[q] < left or bins[q] < right:
            continue
        valley = min(bins[min(p, q) + 1 : max(p, q)])
        if 2 * valley <= bins[q]:
            return True
    return False


def classify_shape(volumes: list[int], lo: int, hi: int) -> str:
    """Profile shape ``"P" | "b" | "D" | "B" | "thin"`` of the dense volumes with value area
    ``lo..hi``."""
    n = len(volumes)
    if n < MIN_SHAPE_LEVELS:
        return "D"
    if _double_distribution(volumes):
        return "B"
    if Fraction(hi - lo + 1, n) >= THIN_SHARE:
        return "thin"
    low_edge, high_edge = Fraction(lo, n - 1), Fraction(hi, n - 1)
    middle = (low_edge + high_edge) / 2
    if low_edge >= P_LOW_EDGE and middle >= P_MIDDLE:
        return "P"
    if high_edge <= B_HIGH_EDGE and middle <= B_MIDDLE:
        return "b"
    return "D"
