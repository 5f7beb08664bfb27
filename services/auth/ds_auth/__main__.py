"""`python -m ds_auth api|relay|consumer [--host H] [--port P]`, or `create-account` (service/accounts.py)."""

import sys

from ds_common.service import run

from ds_auth import BASE_PORT, SERVICE
from ds_auth.main import PROCESSES
from ds_auth.service import accounts

if __name__ == "__main__":
    if sys.argv[1:2] == ["create-account"]:
        sys.exit(accounts.main(sys.argv[2:]))
    run(None, service=SERVICE, base_port=BASE_PORT, apps=PROCESSES)
