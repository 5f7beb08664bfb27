"""`python -m ds_catalog api|relay|consumer [--host H] [--port P]`, or `announce` (service/announce.py)."""

import sys

from ds_common.service import run

from ds_catalog import BASE_PORT, SERVICE
from ds_catalog.main import PROCESSES
from ds_catalog.service import announce

if __name__ == "__main__":
    if sys.argv[1:2] == ["announce"]:
        sys.exit(announce.main(sys.argv[2:]))
    run(None, service=SERVICE, base_port=BASE_PORT, apps=PROCESSES)
