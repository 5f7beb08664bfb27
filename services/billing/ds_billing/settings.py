"""Billing settings: `DS_BILLING_<FIELD>`, falling back to the shared `DS_<FIELD>`.

The plan catalogue (days, display price, Stripe Price ids) is server-side configuration: the
client names a plan and nothing else (legacy W9). Override it as JSON, e.g.
`DS_BILLING_PLANS='{"Basic": {"days": 30, ...}, ...}'`.
"""

from __future__ import annotations

from ds_common.settings import ServiceSettings, service_config
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator


class PlanOffer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int
    price_minor: int  # display price; what Stripe charges lives on its Price objects
    currency: str
    stripe_price_one_time: str
    stripe_price_recurring: str


DEFAULT_PLANS: dict[str, PlanOffer] = {
    "Basic": PlanOffer(days=30, price_minor=1900, currency="cny",
                       stripe_price_one_time="price_basic_one_time", stripe_price_recurring="price_basic_recurring"),
    "Pro": PlanOffer(days=90, price_minor=4900, currency="cny",
                     stripe_price_one_time="price_pro_one_time", stripe_price_recurring="price_pro_recurring"),
    "Premium": PlanOffer(days=180, price_minor=8900, currency="cny",
                         stripe_price_one_time="price_premium_one_time",
                         stripe_price_recurring="price_premium_recurring"),
}


class Settings(ServiceSettings):
    model_config = service_config("BILLING")

    service_name: str = "billing"
    mongo_db: str = "billing"
    consumer_group: str = "billing"

    plans: dict[str, PlanOffer] = DEFAULT_PLANS

    # Stripe: the official library, pointed at stripe-mock outside production.
    stripe_api_key: SecretStr = SecretStr("sk_test_123")
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_s: float = 10.0
    stripe_webhook_secret: SecretStr = SecretStr("whsec_dev_only_not_a_secret")
    stripe_webhook_tolerance_s: int = 300
    # The front end's success page reads the Checkout Session id from `session_id`.
    checkout_success_url: str = "http://localhost:5173/payment/success?session_id={CHECKOUT_SESSION_ID}"
    checkout_cancel_url: str = "http://localhost:5173/payment/cancel"
    # Repeated identical checkout requests inside this window reuse one Stripe session (double clicks).
    checkout_idempotency_window_s: int = 60

    # Membership codes: HMAC key, lifetime, redemption rate limit per user.
    code_secret: SecretStr = SecretStr("dev-only-membership-code-key")
    code_lifetime_s: int = 3600
    code_redeem_limit: int = 10
    code_redeem_window_s: int = 60

    # How often the consumer process copies ledger entries a writer that died left in an entitlement
    # (a safety net that reads every changed entitlement: rare, and at every start).
    ledger_sweep_interval_s: float = 3600.0

    # ZPay (Alipay / WeChat Pay): the merchant id and key, ZPay's address (https://zpayz.cn in
    # production; the local stand-in, deploy/local/zpay_server.py, elsewhere), the public URL of our
    # notify route (through the gateway) and the front end's page the learner returns to.
    zpay_pid: str = "1000"
    zpay_key: SecretStr = SecretStr("dev-only-zpay-merchant-key")
    zpay_base_url: str = "http://127.0.0.1:12131"
    # Where browsers open the payment page, if not `<zpay_base_url>/submit.php` (a stand-in that
    # billing reaches on an inner network but browsers on another address, as in docker-compose).
    zpay_submit_url: str = ""
    zpay_notify_url: str = "http://127.0.0.1:4001/dictation-studio/payment/zpay/notify"
    zpay_return_url: str = "http://localhost:5173/profile/upgrade-plan"
    zpay_sitename: str = "Dictation Studio"
    zpay_timeout_s: float = 10.0

    @model_validator(mode="after")
    def _zpay_configured_in_production(self) -> Settings:
        needed = ("zpay_pid", "zpay_base_url", "zpay_notify_url", "zpay_return_url")
        if self.environment == "production" and (missing := [f for f in needed if f not in self.model_fields_set]):
            raise ValueError(f"production mode needs the ZPay settings set explicitly: {missing}")
        return self
