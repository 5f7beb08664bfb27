"""A tiny example service process for the relay crash test: runs one OutboxRelay until killed.

    python example_relay.py MONGO_URL DB COLLECTION BOOTSTRAP BATCH_SIZE
"""

import asyncio
import sys

from ds_common.events.kafka import KafkaPublisher
from ds_common.events.outbox import OutboxRelay
from ds_common.mongo import make_mongo_client


async def main(mongo_url: str, db: str, collection: str, bootstrap: str, batch_size: str) -> None:
    client = make_mongo_client(mongo_url)
    relay = OutboxRelay(client[db], [collection], KafkaPublisher(bootstrap, client_id="example-relay"),
                        service="example", batch_size=int(batch_size))
    await relay.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
