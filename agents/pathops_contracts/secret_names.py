"""Whether a variable, key, header or flag name holds a secret, judged by its words.

Names are split into words (`automountServiceAccountToken` -> automount service account
token, `X-Api-Key` -> x api key, `DB_PASSWORD_FILE` -> db password file), so a keyword
matches as a word and never as a substring of another (`author`, `authenticated`,
`tokens_used`). A name whose last word only describes the secret (`AUTH_URL`,
`TOKEN_TTL_SECONDS`, `secretName`, `secretKeyRef`) is not one: its value is evidence.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Words that make a name secret on their own. At least every name the final scan
# (`secret_scan._secret_name`: detect-secrets' keyword list and its own) takes for a secret's: a value
# the scan refuses and the redactor leaves would make one log line (`signature=valid`) stop a snapshot.
SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "credential", "credentials", "creds",
    "apikey", "authorization", "auth", "privatekey", "secretkey", "accesskey", "accountkey", "cookie",
    "sessionid", "signingkey", "passcode", "pw", "sig", "signature", "contrasena", "clientsecret", "authkey",
    "clientkey", "servicekey", "privkey", "dbkey", "databasekey", "dbpass", "databasepass", "keypass",
})
# `key` is a secret only with one of these in front of it (`api key`, `client-key-data`);
# alone it names a key (`secretKeyRef.key: token`).
KEY_QUALIFIERS = frozenset({
    "api", "private", "priv", "access", "secret", "account", "client", "signing", "encryption", "master", "auth",
    "service", "ssh", "shared", "storage", "session", "hmac", "license", "subscription", "webhook", "db",
    "database", "tls", "sas", "app",
})
# A last word that says what the name is about, not that it is the secret itself.
DESCRIPTORS = frozenset({
    "name", "names", "url", "uri", "urls", "endpoint", "host", "hostname", "port", "file", "files", "path", "dir",
    "directory", "ttl", "seconds", "secs", "minutes", "ms", "timeout", "expiry", "expires", "expiration", "length",
    "len", "size", "count", "id", "ids", "type", "kind", "ref", "refs", "header", "enabled", "disabled", "required",
    "used", "mode", "version", "policy", "format", "source", "provider", "method", "issuer", "audience", "scope",
    "scopes", "mount", "rotation", "interval", "retries", "limit", "max", "min", "hint", "algorithm", "location",
    "env", "namespace", "label", "selector", "strategy", "optional", "items", "volume", "store", "backend",
    "reference", "key", "keys",
})


def name_words(name: str) -> list[str]:
    """Lower-case words of an identifier, split at separators and camelCase."""
    return [word.lower() for word in _WORD.findall(name)]


def is_secret_name(name: str) -> bool:
    """True when a value assigned to `name` is a secret (see the module doc)."""
    words = name_words(name)
    if not words or (words[-1] in DESCRIPTORS and not _ends_in_qualified_key(words)):
        return False
    if any(word in SECRET_WORDS for word in words):
        return True
    return any(word == "key" and index > 0 and words[index - 1] in KEY_QUALIFIERS
               for index, word in enumerate(words))


def _ends_in_qualified_key(words: list[str]) -> bool:
    return len(words) >= 2 and words[-1] in {"key", "keys"} and (words[-2] in KEY_QUALIFIERS
                                                                 or words[-2] in SECRET_WORDS)
