"""Which options a remote accepts, and where a secret among them is written. Pure: no I/O.

Secrets are written only to `config.local.yaml` (never committed) or the per-user config, and
are never printed; what a secret is, `artver.redact` decides.
"""

from __future__ import annotations

import re

from artver import redact
from artver.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
COMMON = {"url", "jobs"}
BY_PROTOCOL: dict[str, set[str]] = {
    "s3": {
        "endpointurl",
        "region",
        "profile",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "sse",
    },
    "gs": {"projectname", "credentialpath", "endpointurl"},
    "file": set(),
}


def is_secret(option: str) -> bool:
    return redact.is_secret_key(option)


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ConfigError(
            f"invalid remote name {name!r}: use letters, digits, '-' and '_' "
            "(starting with a letter or digit)"
        )


def check_option(protocol: str, option: str) -> None:
    """Raise unless `option` is known for remotes of `protocol` (other fsspec protocols take
    any option: it is passed to their filesystem)."""
    known = BY_PROTOCOL.get(protocol)
    if known is None or option in COMMON or option in known:
        return
    raise ConfigError(
        f"unknown option {option!r} for a {protocol}:// remote",
        hint="Known options: " + ", ".join(sorted(COMMON | known)) + " (see docs/remotes.md).",
    )


LOCAL_FILE = ".artver/config.local.yaml"
REPO_FILE = ".artver/config.yaml"


def placement(name: str, option: str, value: str, level: str) -> tuple[list, str | None]:
    """Where setting remote `name`'s `option` to `value` at `level` writes: ([(level, value),
    ...], a note for the user or None). Secrets asked for at the committed repo level go to the
    local level instead; a URL with a password goes there whole, and to the repo level without
    its password, so that the rest of the team sees where the remote is."""
    if level != "repo":
        return [(level, value)], None
    if option == "url":
        public = redact.public_url(value)
        if public == value:
            return [("repo", value)], None
        note = (
            f"the URL of remote {name} holds a password: stored {public} in {REPO_FILE} "
            f"and the whole URL in {LOCAL_FILE} (never committed)"
        )
        return [("repo", public), ("local", value)], note
    if is_secret(option):
        note = f"{option} is a secret: stored in {LOCAL_FILE} (never committed), not in {REPO_FILE}"
        return [("local", value)], note
    return [("repo", value)], None


def check_jobs(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"jobs must be a whole number of at least 1; got {value!r}")
