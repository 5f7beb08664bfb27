# Shared fixtures (real Kafka, FerretDB, Redis, stripe-mock, a token issuer) for every test tree.
pytest_plugins = ["ds_common.testing.fixtures"]
