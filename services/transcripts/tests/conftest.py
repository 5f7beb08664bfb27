"""Fixtures of the transcripts tests: the progress stand-in, fresh settings and database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_transcripts.settings import Settings
from transcripts_helpers import ProgressStandIn, fresh_db_name, settings_for


@pytest.fixture(scope="session")
def progress(issuer: TestIssuer) -> Iterator[ProgressStandIn]:
    stand_in = ProgressStandIn(issuer)
    stand_in.serve()
    yield stand_in
    stand_in.close()


@pytest_asyncio.fixture
async def settings(endpoints: Endpoints, issuer: TestIssuer, progress: ProgressStandIn,
                   mongo_client) -> AsyncIterator[Settings]:
    db = fresh_db_name()
    yield settings_for(endpoints, issuer, progress.url, db)
    await mongo_client.drop_database(db)
