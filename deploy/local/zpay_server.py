#!/usr/bin/env python3
"""A local stand-in for ZPay (zpayz.cn), the epay-protocol gateway billing sells plans through.

It speaks the parts of the protocol billing uses, with the same MD5 signing rules, so `make dev`
can sell a plan end to end without the real ZPay (and tests can drive every outcome):

- `GET|POST /submit.php`: the payment page the front end opens (pid, type, out_trade_no,
  notify_url, return_url, name, money, sitename, sign, sign_type). "Pay" marks the order paid, sends
  the signed notify to notify_url (repeated, as ZPay does, until it reads `success`) and sends the
  browser back to return_url with the same signed parameters; "Decline" ends it unpaid.
- `GET /api.php?act=order&pid=&key=&out_trade_no=`: the order query API (`status` 1 when paid).
- For tests, `POST /_control/pay` (JSON: out_trade_no, and optionally deliver, times, concurrent,
  delay_s, trade_status, money) pays an order as ZPay would and answers the signed notify
  parameters; `GET /_control/orders/<out_trade_no>` shows an order with its notify deliveries.

It stands in for ZPay in development and tests only; production sets DS_BILLING_ZPAY_BASE_URL to
https://zpayz.cn with the real merchant id and key. Standard library only (it starts before the
project's environment exists); orders live in memory.

    zpay_server.py [--host 127.0.0.1] [--port 12131] [--pid PID] [--key KEY]

The merchant id and key default to billing's own settings (DS_BILLING_ZPAY_PID, DS_BILLING_ZPAY_KEY)
when they are in the environment, else to billing's development defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUBMIT_FIELDS = ("pid", "type", "out_trade_no", "notify_url", "return_url", "name", "money")
RETRY_DELAYS_S = (0, 2, 5, 15, 60, 300)  # a notify not answered `success` is repeated this way


def signature(params: dict[str, str], key: str) -> str:
    signed = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sign", "sign_type") and v != "")
    return hashlib.md5((signed + key).encode()).hexdigest()  # noqa: S324 - the protocol's MD5


@dataclass
class Order:
    params: dict[str, str]  # what the merchant submitted
    trade_no: str
    created: float
    paid: float | None = None
    trade_status: str = "WAIT_BUYER_PAY"
    deliveries: list[dict[str, Any]] = field(default_factory=list)


class ZPay:
    def __init__(self, pid: str, key: str) -> None:
        self.pid = pid
        self.key = key
        self.orders: dict[str, Order] = {}
        self.lock = threading.Lock()

    def submit(self, params: dict[str, str]) -> Order:
        missing = [f for f in SUBMIT_FIELDS if not params.get(f)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        if params["pid"] != self.pid:
            raise ValueError("unknown merchant")
        if not hmac.compare_digest(signature(params, self.key), params.get("sign", "").lower()):
            raise ValueError("signature mismatch")
        with self.lock:
            order = self.orders.get(params["out_trade_no"])
            if order is None:
                order = Order({k: v for k, v in params.items() if k not in ("sign", "sign_type")},
                              trade_no=time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:8], created=time.time())
                self.orders[params["out_trade_no"]] = order
            return order

    def callback(self, order: Order, *, money: str | None = None) -> dict[str, str]:
        """The signed parameters of the notify and of the browser's return."""
        params = {"pid": self.pid, "trade_no": order.trade_no, "out_trade_no": order.params["out_trade_no"],
                  "type": order.params["type"], "name": order.params["name"],
                  "money": money or order.params["money"], "trade_status": order.trade_status}
        return {**params, "sign": signature(params, self.key), "sign_type": "MD5"}

    def settle(self, order: Order, trade_status: str) -> None:
        with self.lock:
            order.trade_status = trade_status
            order.paid = time.time() if trade_status == "TRADE_SUCCESS" else None

    def deliver(self, order: Order, params: dict[str, str], *, times: int = 1, concurrent: bool = False,
                delay_s: float = 0.0, retry: bool = True) -> None:
        """Send the notify `times` times (at once, or one after another), each repeated until it
        reads `success` (when `retry`), in the background."""
        def one() -> None:
            for wait in RETRY_DELAYS_S if retry else (0,):
                time.sleep(wait)
                if self.notify(order, params):
                    return

        def run() -> None:
            time.sleep(delay_s)
            threads = [threading.Thread(target=one, daemon=True) for _ in range(times)]
            for thread in threads:
                thread.start()
                if not concurrent:
                    thread.join()
            for thread in threads:
                thread.join()

        threading.Thread(target=run, daemon=True).start()

    def notify(self, order: Order, params: dict[str, str]) -> bool:
        url = order.params["notify_url"] + "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - the merchant's notify_url
                body = reply.read(100).decode(errors="replace").strip()
        except OSError as exc:  # urllib's HTTPError (a 4xx/5xx answer) is an OSError too
            body = getattr(exc, "read", lambda *_: b"")(100).decode(errors="replace").strip() or type(exc).__name__
        with self.lock:
            order.deliveries.append({"at": time.time(), "reply": body})
        return body == "success"

    def query(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("pid") != self.pid or not hmac.compare_digest(params.get("key", ""), self.key):
            return {"code": -2, "msg": "商户ID或密钥错误"}  # the protocol's own message: wrong merchant or key
        order = self.orders.get(params.get("out_trade_no", ""))
        if order is None:
            return {"code": -1, "msg": "订单号不存在"}  # no such order
        return {"code": 1, "msg": "succ", "trade_no": order.trade_no, "out_trade_no": order.params["out_trade_no"],
                "type": order.params["type"], "pid": self.pid, "name": order.params["name"],
                "money": order.params["money"], "addtime": time.strftime("%Y-%m-%d %H:%M:%S",
                                                                        time.localtime(order.created)),
                "endtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(order.paid)) if order.paid else "",
                "status": 1 if order.trade_status == "TRADE_SUCCESS" else 0}


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Local ZPay</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}button{{font-size:1.1rem;margin:.5rem}}</style>
</head><body><h1>Local ZPay</h1><p><em>A development stand-in for ZPay: no money moves.</em></p>
<p>{sitename} &mdash; {name}</p><p>Amount: <strong>&yen;{money}</strong> ({type})</p>
<form method="post" action="/pay"><input type="hidden" name="out_trade_no" value="{order}">
<button name="outcome" value="TRADE_SUCCESS">Pay</button><button name="outcome" value="TRADE_CLOSED">Decline</button>
</form></body></html>"""


def handler_for(zpay: ZPay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _params(self) -> dict[str, str]:
            query = urllib.parse.urlsplit(self.path).query
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 65536)).decode() if length else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                return {**dict(urllib.parse.parse_qsl(query)), **json.loads(body or "{}")}
            return {**dict(urllib.parse.parse_qsl(query)), **dict(urllib.parse.parse_qsl(body))}

        def _send(self, status: int, body: str | dict[str, Any], content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            raw = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type + "; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            route = urllib.parse.urlsplit(self.path).path
            if route == "/healthz":
                self._send(200, {"status": "ok"})
            elif route == "/submit.php":
                self._submit(self._params())
            elif route == "/api.php" and self._params().get("act") == "order":
                self._send(200, zpay.query(self._params()))
            elif route.startswith("/_control/orders/"):
                order = zpay.orders.get(route.rsplit("/", 1)[1])
                if order is None:
                    self._send(404, {"error": "no such order"})
                else:
                    self._send(200, {"params": order.params, "trade_no": order.trade_no,
                                     "trade_status": order.trade_status, "deliveries": order.deliveries})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            route = urllib.parse.urlsplit(self.path).path
            params = self._params()
            if route == "/submit.php":
                self._submit(params)
            elif route == "/pay":
                self._pay(params)
            elif route == "/_control/pay":
                self._control_pay(params)
            else:
                self._send(404, {"error": "not found"})

        def _submit(self, params: dict[str, str]) -> None:
            try:
                order = zpay.submit(params)
            except ValueError as exc:
                self._send(400, f"<p>Payment refused: {html.escape(str(exc))}</p>", "text/html")
                return
            fields = {k: html.escape(order.params.get(k, "")) for k in ("sitename", "name", "money", "type")}
            self._send(200, PAGE.format(order=html.escape(order.params["out_trade_no"]), **fields), "text/html")

        def _pay(self, params: dict[str, str]) -> None:
            order = zpay.orders.get(params.get("out_trade_no", ""))
            if order is None:
                self._send(404, "<p>No such order</p>", "text/html")
                return
            zpay.settle(order, params.get("outcome", "TRADE_SUCCESS"))
            callback = zpay.callback(order)
            if order.trade_status == "TRADE_SUCCESS":
                zpay.deliver(order, callback)
            back = order.params["return_url"] + ("&" if "?" in order.params["return_url"] else "?")
            self._send(303, "", "text/plain", {"Location": back + urllib.parse.urlencode(callback)})

        def _control_pay(self, params: dict[str, Any]) -> None:
            order = zpay.orders.get(str(params.get("out_trade_no", "")))
            if order is None:
                self._send(404, {"error": "no such order"})
                return
            zpay.settle(order, str(params.get("trade_status", "TRADE_SUCCESS")))
            callback = zpay.callback(order, money=params.get("money"))
            if params.get("deliver", True):
                zpay.deliver(order, callback, times=int(params.get("times", 1)),
                             concurrent=bool(params.get("concurrent", False)), delay_s=float(params.get("delay_s", 0)),
                             retry=bool(params.get("retry", True)))
            self._send(200, {"notify": callback})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12131)
    parser.add_argument("--pid", default=os.environ.get("DS_BILLING_ZPAY_PID", "1000"))
    parser.add_argument("--key", default=os.environ.get("DS_BILLING_ZPAY_KEY", "dev-only-zpay-merchant-key"))
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), handler_for(ZPay(args.pid, args.key)))
    print(f"local ZPay stand-in on http://{args.host}:{args.port} (merchant {args.pid})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
