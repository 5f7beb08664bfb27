"""ZPay over its epay protocol: the signed payment page URL, the order query API, notify checks.

Like the Stripe adapter it turns the provider's protocol into what billing decides on (a payment
of an order, confirmed by the provider); the grant is then the entitlement store's, for both.
Production points `DS_BILLING_ZPAY_BASE_URL` at https://zpayz.cn; dev and tests at the local
stand-in (deploy/local/zpay_server.py), which speaks the same protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
from ds_common.web import parse_json

from ds_billing.adapters.provider import ProviderUnavailable
from ds_billing.domain import zpay
from ds_billing.domain.zpay import Payment

logger = logging.getLogger("ds.billing.zpay")


class InvalidNotification(Exception):
    """A notify that does not come from our ZPay merchant account (bad signature or merchant id)."""


class ZPayProvider:
    name = "zpay"

    def __init__(self, *, base_url: str, pid: str, key: str, notify_url: str, return_url: str,
                 sitename: str = "Dictation Studio", submit_url: str = "", timeout_s: float = 10.0,
                 http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.submit_url = submit_url or f"{self.base_url}/submit.php"
        self.pid = pid
        self.key = key
        self.notify_url = notify_url
        self.return_url = return_url
        self.sitename = sitename
        self._http = http or httpx.AsyncClient(timeout=timeout_s)

    def payment_url(self, order_id: str, description: str, amount_fen: int, pay_type: str) -> str:
        """The page where the learner pays (ZPay's submit.php), signed."""
        params = {"money": zpay.to_money(amount_fen), "name": description, "notify_url": self.notify_url,
                  "out_trade_no": order_id, "pid": self.pid, "return_url": self.return_url,
                  "sitename": self.sitename, "type": pay_type}
        return f"{self.submit_url}?{urlencode(zpay.signed(params, self.key))}"

    def verify_notification(self, params: Mapping[str, str]) -> Payment:
        """The payment a notify reports, once it is shown to come from our merchant account."""
        if not zpay.has_valid_signature(params, self.key):
            raise InvalidNotification("bad signature")
        if params.get("pid") != self.pid:
            raise InvalidNotification("another merchant's notify")
        return zpay.notification(params)

    async def query(self, order_id: str) -> Payment | None:
        """What ZPay's order API says of the order (None: it does not know it)."""
        params = {"act": "order", "pid": self.pid, "key": self.key, "out_trade_no": order_id}
        try:
            response = await self._http.get(f"{self.base_url}/api.php", params=params)
            response.raise_for_status()
            body = parse_json(response.content)
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("ZPay order API unavailable for %s: %s", order_id, type(exc).__name__)
            raise ProviderUnavailable("ZPay is unavailable") from exc
        if not isinstance(body, dict) or str(body.get("code")) != "1":
            return None
        # The epay protocol answers `status` 1 when paid; some deployments say `trade_status` too.
        paid = str(body.get("status")) == "1" or body.get("trade_status") == zpay.TRADE_SUCCESS
        return Payment(order_id=str(body.get("out_trade_no") or order_id), trade_no=str(body.get("trade_no") or ""),
                       amount_fen=zpay.to_fen(str(body.get("money") or "")), paid=paid,
                       pay_type=str(body.get("type") or ""))

    async def aclose(self) -> None:
        await self._http.aclose()
