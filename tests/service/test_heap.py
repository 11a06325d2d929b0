"""The daemon's malloc setting: made where glibc is there to take it."""

from __future__ import annotations

import platform
import sys

import pytest

from maildesk.service.heap import fix_mmap_threshold


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="only glibc has the setting",
)
def test_glibc_takes_a_fixed_mmap_threshold() -> None:
    assert fix_mmap_threshold()
