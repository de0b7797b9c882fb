"""Hypothesis strategies for GB phone numbers and the ways people write them."""

from __future__ import annotations

import phonenumbers
from hypothesis import strategies as st


def _valid(nsn: str) -> bool:
    return nsn.startswith("7700900") or phonenumbers.is_valid_number(
        phonenumbers.parse("+44" + nsn))


# A GB mobile national significant number: 7 + 9 digits in the 74xx, 75xx, 79xx ranges
# (unallocated blocks filtered out), or the Ofcom drama range 07700 900xxx that synthetic
# scenarios use.
gb_mobile_nsn = st.one_of(
    st.builds(lambda p, r: p + r, st.sampled_from(["74", "75", "79"]),
              st.text("0123456789", min_size=8, max_size=8)).filter(_valid),
    st.builds(lambda r: "7700900" + r, st.text("0123456789", min_size=3, max_size=3)),
)

separator = st.sampled_from(["", " ", "-", ".", "  "])


def written_forms(nsn: str, sep: str) -> list[str]:
    """The ways one GB mobile number appears in records and extractions."""
    a, b = nsn[:4], nsn[4:]
    return [
        f"0{a}{sep}{b}",
        f"0{a}{sep}{b[:3]}{sep}{b[3:]}",
        f"+44{sep}{a}{sep}{b}",
        f"+44 (0){a}{sep}{b}",
        f"0044{sep}{a}{sep}{b}",
        f"(0){a}{sep}{b}",
        f" +44{nsn} ",
        f"(0{a}) {b}",
    ]
