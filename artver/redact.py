"""What artver never prints: credentials in config values and passwords in URLs. Pure: no I/O.

The one place that decides what a secret is. Every output path goes through it: `config`
(every form, JSON too), `remote list`, `doctor`, push/fetch/pull messages (`Remote.__str__`),
error messages, and with -v the tracebacks and the storage libraries' logs (`artver.ui` masks
every line it prints).

- A config key is a secret when its name (case, `_` and `-` ignored) is one of the options the
  storage backends take credentials in (`SECRET_KEYS`), or contains one of `SECRET_WORDS`,
  unless it is one of `NOT_SECRET`: options that name a *path* to a key file. A path tells where
  a secret lives, not what it is, and a user debugging "file not found" needs to see it.
- A URL's secret is the password of `user:password@host`; a user name alone (`alice@host`) is
  kept for ssh and sftp, where it is a login, and is a secret for every other scheme, where
  it is usually a token (`https://TOKEN@host/...`).
- The values of the secrets in the configuration loaded by this process (`watch`) are also
  replaced wherever they appear in a message, in case a storage library echoes one.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

MASK = "****"

# The options each backend takes credentials in (the fsspec filesystem's keyword, or ours).
SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "s3": ("access_key_id", "secret_access_key", "session_token", "key", "secret", "token"),
    "gs": ("token",),
    "az": ("account_key", "connection_string", "sas_token", "client_secret", "credential"),
    "sftp": ("password", "passphrase", "pkey"),
    "webdav": ("auth", "password"),
    "oss": ("key", "secret", "token"),
}
# Any other key whose name contains one of these is a secret too.
SECRET_WORDS = (
    "key",
    "secret",
    "token",
    "passw",
    "passphrase",
    "pwd",
    "credential",
    "auth",
    "private",
    "sas",
)
# Keys that contain such a word and are known to hold a path, not a secret.
NOT_SECRET = (
    "credentialpath",  # gs: the service-account JSON key file
    "key_filename",  # sftp (paramiko)
    "keyfile",
    "key_file",
    "key_path",
    "private_key_file",
    "private_key_path",
)
# Secrets shorter than this are not searched for in free text: every "a" of a message would go.
MIN_LITERAL = 4


def _norm(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


_KNOWN = {_norm(k) for keys in SECRET_KEYS.values() for k in keys}
_HARMLESS = {_norm(k) for k in NOT_SECRET}


def is_secret_key(key: object) -> bool:
    """Whether a config key (a remote's option, or any key at any depth) holds a secret."""
    name = _norm(str(key))
    if name in _HARMLESS:
        return False
    return name in _KNOWN or any(word in name for word in SECRET_WORDS)


# -- URLs --------------------------------------------------------------------------------------
_url_re: Any = None


def _url_pattern() -> Any:
    """scheme://userinfo@ — compiled on first use (most commands print no URL). The userinfo
    runs to the last `@` before the authority ends (`/`, `?`, `#`, a space or a quote), so a
    password with an unencoded `@` is masked whole."""
    global _url_re
    if _url_re is None:
        import re

        _url_re = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^\s/?#\"'<>]*)@")
    return _url_re


def _userinfo_secret(scheme: str, userinfo: str) -> str | None:
    """The secret part of a URL's userinfo, or None."""
    user, colon, password = userinfo.partition(":")
    if colon:
        return password or None
    if not user or scheme.lower().endswith(("ssh", "sftp")):
        return None
    return user  # https://TOKEN@host: a token in the user name's place


def _masked_userinfo(match: Any) -> str:
    scheme, userinfo = match.group(1), match.group(2)
    secret = _userinfo_secret(scheme, userinfo)
    if secret is None:
        return match.group(0)
    if ":" in userinfo:
        return f"{scheme}://{userinfo.partition(':')[0]}:{MASK}@"
    return f"{scheme}://{MASK}@"


def url_secret(url: str) -> str | None:
    """The password (or token) a URL carries, or None."""
    match = _url_pattern().match(url) if "@" in url else None
    return _userinfo_secret(match.group(1), match.group(2)) if match else None


def public_url(url: str) -> str:
    """The URL without its secret: `webdav://alice:PW@host/x` and `https://TOKEN@host/x` ->
    `webdav://host/x` and `https://host/x` (the whole userinfo goes: a user name left alone
    would read as a token); any other URL unchanged."""
    match = _url_pattern().match(url) if "@" in url else None
    if not match or _userinfo_secret(match.group(1), match.group(2)) is None:
        return url
    return f"{match.group(1)}://{url[match.end() :]}"


# -- the secrets of the loaded configuration -----------------------------------------------------
_watched: list[Any] = []
_literals: list[str] | None = None


def watch(data: Any) -> None:
    """Remember a loaded configuration: the values of its secrets are masked in every message
    from now on. Costs nothing until a message is masked."""
    global _literals
    _watched.append(data)
    _literals = None


def _items(data: dict[str, Any], prefix: str) -> list[tuple[str, str, Any]]:
    """(key, dotted key, value) below `data`, with `remote.NAME` looked through: a remote's
    name is a name, not an option, and `remote.backup-keys` is no secret."""
    found = []
    for key, value in data.items():
        if not prefix and key == "remote" and isinstance(value, dict):
            for name, conf in value.items():
                found.append((str(name), f"remote.{name}", conf))
        else:
            found.append((str(key), f"{prefix}{key}", value))
    return found


def _collect(value: Any, found: set[str], secret: bool, prefix: str = "") -> None:
    if isinstance(value, dict):
        for key, dotted, val in _items(value, prefix):
            named = dotted.startswith("remote.") and dotted.count(".") == 1
            _collect(val, found, secret or (not named and is_secret_key(key)), dotted + ".")
    elif isinstance(value, list | tuple):
        for val in value:
            _collect(val, found, secret, prefix)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        from_url = url_secret(text) if "://" in text else None
        for literal in (text if secret else None, from_url):
            if literal and len(literal) >= MIN_LITERAL:
                found.add(literal)
                if "%" in literal:  # percent-encoded in the URL; a library may print it decoded
                    from urllib.parse import unquote

                    found.add(unquote(literal))


def _known_literals() -> list[str]:
    global _literals
    if _literals is None:
        found: set[str] = set()
        for data in _watched:
            _collect(data, found, False)
        _literals = sorted(found, key=len, reverse=True)  # longest first: no partial leftovers
    return _literals


# -- masking -----------------------------------------------------------------------------------
def mask_text(text: str) -> str:
    """Free text with every URL's secret and every known secret value replaced by ****."""
    if "://" in text and "@" in text:
        text = _url_pattern().sub(_masked_userinfo, text)
    for literal in _known_literals() if _watched else ():
        if literal in text:
            text = text.replace(literal, MASK)
    return text


def mask_value(key: object, value: Any) -> Any:
    """What may be shown of option `key`'s `value`: **** for a secret (a whole section too),
    nested mappings and lists masked key by key, URLs without their secrets."""
    if is_secret_key(key) and value not in (None, ""):
        return MASK
    if isinstance(value, dict):
        return {sub: mask_value(sub, val) for sub, val in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value("", val) for val in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_config(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A configuration, or its section at dotted `prefix` ("remote.origin."), as it may be
    shown."""
    if prefix == "remote.":
        return {
            name: mask_config(conf) if isinstance(conf, dict) else conf
            for name, conf in data.items()
        }
    shown: dict[str, Any] = {}
    for key, value in data.items():
        if not prefix and key == "remote" and isinstance(value, dict):
            shown[key] = mask_config(value, "remote.")
        else:
            shown[key] = mask_value(key, value)
    return shown


def secret_keys_in(data: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of `data` that hold a secret, or a URL with one (for `doctor`'s check
    of the committed config file)."""
    found = []
    for key, dotted, value in _items(data, prefix):
        named = dotted.startswith("remote.") and dotted.count(".") == 1
        if not named and is_secret_key(key) and value not in (None, ""):
            found.append(dotted)
        elif isinstance(value, dict):
            found.extend(secret_keys_in(value, dotted + "."))
        elif isinstance(value, str) and url_secret(value) is not None:
            found.append(dotted)
    return found


def is_secret_path(dotted: str) -> bool:
    """Whether dotted config key `dotted` is, or lies inside, a secret (`remote.NAME` is a
    remote's name, never a secret)."""
    parts = dotted.split(".")
    named = parts[2:] if parts[0] == "remote" else parts
    return any(is_secret_key(part) for part in named)


def mask_key(dotted: str, value: Any) -> Any:
    """What `artver config KEY` may show of `value`, the value at dotted key `dotted`."""
    if value in (None, ""):
        return value
    if is_secret_path(dotted):
        return MASK
    if isinstance(value, dict):
        return mask_config(value, dotted + ".")
    return mask_value("", value)
