"""The annual plans of the CA service agreement (000 篇七) as data. Amounts in fen (分)."""

from __future__ import annotations

from dataclasses import dataclass

from yinxin.errors import ValidationError


@dataclass(frozen=True)
class Plan:
    code: str
    title: str
    annual_fen: int  # first-year service fee per year
    renewal_fen: int  # per year on renewal
    medium_fen: int  # one-off medium (USB key) fee with the first year
    includes_hardware: bool

    def first_amount(self, years: int) -> int:
        return self.annual_fen * years + self.medium_fen

    def renewal_amount(self, years: int) -> int:
        return self.renewal_fen * years


PLANS: dict[str, Plan] = {
    "standard": Plan(
        "standard", "标准服务：70元/年，另收介质费50元，续费70元/年", 7000, 7000, 5000, False
    ),
    "premium": Plan(
        "premium", "全程服务：650元/年（含硬件与上门服务），续费600元/年", 65000, 60000, 0, True
    ),
}
DEFAULT_PLAN = "standard"


def get_plan(code: str) -> Plan:
    try:
        return PLANS[code]
    except KeyError:
        raise ValidationError(
            f"unknown fee plan {code!r}; choose one of {', '.join(PLANS)}", field="plan"
        ) from None


# The most years one payment buys, and so a certificate's or a seal's validity: the API's
# bodies (``years``, ``validity_years``) declare it as their maximum, so the OpenAPI document
# promises what check_years lets through (it said 10, and 6..10 were refused by the service).
MAX_YEARS = 5


def check_years(years: int, field: str = "years") -> int:
    """``years`` paid for or of validity, refused naming ``field`` (the caller's name for it:
    an approval's ``validity_years``)."""
    if not isinstance(years, int) or not 1 <= years <= MAX_YEARS:
        raise ValidationError(f"{field} must be a whole number from 1 to {MAX_YEARS}", field=field)
    return years


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"
