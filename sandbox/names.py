"""Every name that comes from a browser, a terminal line or a lesson file is checked here.

Each pattern must match the WHOLE text (`fullmatch`). With `re.match(r"^...$")`, `$` also
matches before a final newline, so "pod.yaml\\n" passed as a file name. The character classes
are spelled out in ASCII ranges: `\\d` and `str.isdigit()` accept other scripts' digits
(fullwidth, Arabic-Indic, superscript), and `int("²")` then raises instead of refusing.
"""

from __future__ import annotations

import re

# RFC 1123 label: namespaces, Service names, lesson NodePort names.
DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
# RFC 1123 subdomain (most object names: Pods, Deployments, ConfigMaps).
DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
# A workspace file: no folders, no leading dot, nothing a shell or a path would read specially.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Lesson slugs and step ids as the lesson schema allows them.
LESSON_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
DECIMAL = re.compile(r"[0-9]{1,9}")
# A named port (IANA service name, as Kubernetes validates it): at most 15, a letter among them.
PORT_NAME = re.compile(r"(?=[0-9-]*[a-z])[a-z0-9](?:[a-z0-9]|-(?!-)){0,13}[a-z0-9]|[a-z]")


def is_dns_label(text: object) -> bool:
    return isinstance(text, str) and DNS_LABEL.fullmatch(text) is not None


def is_dns_subdomain(text: object) -> bool:
    return isinstance(text, str) and DNS_SUBDOMAIN.fullmatch(text) is not None


def is_file_name(text: object) -> bool:
    return isinstance(text, str) and FILE_NAME.fullmatch(text) is not None and ".." not in text


def is_lesson_key(text: object) -> bool:
    return isinstance(text, str) and LESSON_KEY.fullmatch(text) is not None


def is_decimal(text: object) -> bool:
    """ASCII decimal digits only, at most nine (no sign, no space, no other script)."""
    return isinstance(text, str) and DECIMAL.fullmatch(text) is not None


def is_port_name(text: object) -> bool:
    return isinstance(text, str) and PORT_NAME.fullmatch(text) is not None


def port(text: object) -> int | None:
    """A TCP port number 1-65535 from an int or its ASCII decimal digits, else None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and len(text) <= 5 and is_decimal(text):
        value = int(text)
    else:
        return None
    return value if 1 <= value <= 65535 else None
