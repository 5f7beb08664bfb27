"""Auth settings: `DS_AUTH_<FIELD>`, falling back to the shared `DS_<FIELD>`.

Secrets (SecretStr) are mandatory in production (fail closed, legacy W3). In dev and test, when no
signing key or refresh-token key is configured, auth generates them once and keeps them in its own
database so every API worker process signs and verifies with the same keys.
"""

from __future__ import annotations

from ds_common.settings import ServiceSettings, service_config
from pydantic import SecretStr


class Settings(ServiceSettings):
    model_config = service_config("AUTH")

    service_name: str = "auth"
    mongo_db: str = "auth"

    # Ed25519 private keys as PEM, several concatenated during a rotation: the FIRST one signs, all
    # are published in the JWKS. `file:/path` reads them from a file (a mounted secret).
    signing_keys: SecretStr | None = None
    # HMAC key that derives each refresh token's successor (lets concurrent refreshes agree).
    refresh_token_key: SecretStr | None = None

    access_token_ttl_s: int = 3600  # the front end refreshes when less than 10 minutes remain
    refresh_token_ttl_s: int = 30 * 24 * 3600  # sliding: every rotation starts a new 30 days
    session_max_age_s: int = 90 * 24 * 3600  # absolute cap, whatever the rotations
    refresh_grace_s: float = 10.0  # concurrent refreshes with one token all succeed within this
    checkpoint_interval_s: float = 1.0  # rotation state is written to Mongo in rounds this far apart,
    checkpoint_batch: int = 50  # at most this many sessions per round and API process,
    checkpoint_every_s: float = 30.0  # and at most once per session in this time (the UI refreshes hourly)

    # --- proof of identity at login -----------------------------------------------------------
    # Supabase access tokens (what the legacy front end signs in with). Enabled when an issuer and
    # either an HS256 secret (Supabase's legacy JWT secret) or a JWKS URL are set.
    supabase_issuer: str = ""  # e.g. https://<project>.supabase.co/auth/v1
    supabase_audience: str = "authenticated"
    supabase_jwks_url: str = ""
    supabase_jwt_secret: SecretStr | None = None
    # Google ID tokens (RS256 from Google's JWKS). Enabled when at least one client id is set.
    google_client_ids: list[str] = []
    google_issuers: list[str] = ["https://accounts.google.com", "accounts.google.com"]
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"

    # Operator bootstrap: these (verified) e-mails get the Admin role when their user is created.
    # Later role changes go through PUT /auth/user/role by an admin.
    admin_emails: list[str] = []

    # --- rate limits (fixed windows of 60 s, in Redis) ----------------------------------------
    # Password guessing: attempts per IP, and failures per account (a success costs nothing, and
    # someone else's wrong guesses never lock out the owner's identity-token sign-in).
    limit_password_per_ip: int = 30
    limit_password_failures_per_account: int = 10
    # Identity-token sign-ins, counted apart: the front end signs in again on every page load and
    # every time a tab becomes visible (10+ a minute for a normal learner).
    limit_identity_per_ip: int = 600
    limit_identity_per_account: int = 120
    # Answers that tell whether an address has an account (registration, check-email): per IP,
    # and per address (many IPs probing one address).
    limit_register_per_ip: int = 10
    limit_register_per_address: int = 5
    limit_refresh_per_ip: int = 600
    limit_refresh_per_session: int = 30
    limit_check_email_per_ip: int = 30
    limit_check_email_per_address: int = 10
    limit_feedback_per_user: int = 10

    # --- feedback uploads --------------------------------------------------------------------
    feedback_max_images: int = 3  # per message
    feedback_max_image_bytes: int = 2 * 1024 * 1024
    feedback_max_message_chars: int = 5000
    feedback_max_stored_images: int = 30  # per learner, all messages together
    feedback_max_stored_image_bytes: int = 20 * 1024 * 1024
    # Images are shown through links signed for one to two of these periods.
    feedback_image_link_ttl_s: int = 3600
    # Where browsers reach this service through the gateway (the links to feedback images).
    public_base_url: str = "http://localhost:4001/dictation-studio"
