"""ZPay (an epay-protocol gateway for Alipay and WeChat Pay): its signature, amounts and order ids.

Signature (the epay MD5 scheme): the parameters sorted by name, without `sign`, `sign_type` and
empty values, joined as `k=v&...`, the merchant key appended, MD5 in lower-case hex. It is checked
in constant time. Amounts are exact decimals compared in fen (hundredths of a yuan): "19" and
"19.00" are the same amount, "19.001" or "abc" are not amounts (legacy W15 compared strings).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

PayType = Literal["alipay", "wxpay"]
OrderStatus = Literal["pending", "paid", "failed"]
TRADE_SUCCESS = "TRADE_SUCCESS"
UNSIGNED = frozenset({"sign", "sign_type"})
_MONEY = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
_ORDER_ID = re.compile(r"^DS_ZPAY_\d{10}_[0-9A-F]{8}$")


def signature(params: Mapping[str, str], key: str) -> str:
    signed = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in UNSIGNED and v != "")
    return hashlib.md5((signed + key).encode()).hexdigest()  # noqa: S324 - the protocol's MD5, not ours


def signed(params: Mapping[str, str], key: str) -> dict[str, str]:
    """The parameters with their `sign` and `sign_type`."""
    return {**params, "sign": signature(params, key), "sign_type": "MD5"}


def has_valid_signature(params: Mapping[str, str], key: str) -> bool:
    return hmac.compare_digest(signature(params, key), params.get("sign", "").lower())


def to_fen(money: str) -> int | None:
    """An amount in yuan ("19", "19.00", "0.5") as fen; None if it is not an amount."""
    if not _MONEY.match(money):
        return None
    try:
        return int(Decimal(money) * 100)
    except InvalidOperation:
        return None


def to_money(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def new_order_id() -> str:
    """`DS_ZPAY_<unix seconds>_<8 upper-case hex>`, the legacy format."""
    return f"DS_ZPAY_{int(time.time())}_{os.urandom(4).hex().upper()}"


def is_order_id(value: str) -> bool:
    return bool(_ORDER_ID.match(value))


@dataclass(frozen=True)
class Payment:
    """What ZPay says of one order, in its notify or in its order API's answer."""

    order_id: str
    trade_no: str
    amount_fen: int | None
    paid: bool
    pay_type: str = ""


def notification(params: Mapping[str, str]) -> Payment:
    """The payment a (verified) notify describes."""
    return Payment(order_id=params.get("out_trade_no", ""), trade_no=params.get("trade_no", ""),
                   amount_fen=to_fen(params.get("money", "")), paid=params.get("trade_status") == TRADE_SUCCESS,
                   pay_type=params.get("type", ""))
