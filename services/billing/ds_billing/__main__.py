"""`python -m ds_billing api|relay|consumer [--host H] [--port P]`."""

from ds_common.service import run

from ds_billing import BASE_PORT, SERVICE
from ds_billing.main import PROCESSES

if __name__ == "__main__":
    run(None, service=SERVICE, base_port=BASE_PORT, apps=PROCESSES)
