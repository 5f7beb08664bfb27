"""Identity: sign-in, sessions and tokens, users, roles, preferences, feedback."""

SERVICE = "auth"
BASE_PORT = 8101
