"""Which options a remote accepts, and which of them are secrets. Pure: no I/O.

Secrets may only be written to `config.local.yaml` (never committed) or the per-user config,
and are never printed.
"""

from __future__ import annotations

import re

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
SECRETS = {"access_key_id", "secret_access_key", "session_token", "credentialpath"}
# Options of other fsspec protocols pass through to the filesystem; these words mark secrets.
SECRET_WORDS = re.compile(r"secret|token|passw|credential|private|key_id|access_key|sas|auth")


def is_secret(option: str) -> bool:
    return option in SECRETS or bool(SECRET_WORDS.search(option.lower()))


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


def check_secret_level(name: str, option: str, level: str) -> None:
    """Secrets never go into the committed `.artver/config.yaml`."""
    if level == "repo" and is_secret(option):
        raise ConfigError(
            f"{option} is a secret: it cannot go into .artver/config.yaml, which is committed",
            hint=f"Use `artver remote modify --local {name} {option} ...` to keep it in "
            ".artver/config.local.yaml (never committed).",
        )


def check_jobs(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"jobs must be a whole number of at least 1; got {value!r}")


def mask(option: str, value: object) -> object:
    """What `remote list` shows for an option's value."""
    if is_secret(option):
        return "****"
    if option == "url" and isinstance(value, str):
        # https://user:password@host/...: hide the password part of the URL
        return re.sub(r"(://[^/:@]+):[^/@]+@", r"\1:****@", value)
    return value
