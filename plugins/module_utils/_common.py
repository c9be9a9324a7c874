# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small shared helpers (durations, timestamps, redaction). Private to this collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import hashlib
import hmac
import os
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError

MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
MANAGED_BY_VALUE = 'registrylink.k8s'
REDACTED = '<redacted>'

_DURATION_RE = re.compile(r'^\s*(?:(\d+)w)?\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$')


def parse_duration(value, field='duration'):
    """Parse a duration such as ``30d``, ``12h``, ``1d12h``, ``90m``, ``45s`` or a bare number of seconds.

    Returns the duration in seconds (int). Raises ValidationError naming ``field`` when the
    value is empty, negative or not of that form.
    """
    if isinstance(value, bool):
        raise ValidationError('%s: expected a duration such as 30d, 12h or 90m, got %r' % (field, value), field=field)
    if isinstance(value, int):
        if value < 0:
            raise ValidationError('%s: a duration cannot be negative (%d)' % (field, value), field=field)
        return value
    text = str(value).strip()
    if re.match(r'^[0-9]+\Z', text):  # not str.isdigit(): also true for a superscript digit, which int() refuses
        return int(text)
    m = _DURATION_RE.match(text)
    if not text or not m or not any(m.groups()):
        raise ValidationError(
            '%s: expected a duration such as 30d, 12h, 1d12h, 90m or 45s (units w, d, h, m, s), got %r' % (field, value),
            field=field)
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def utcnow():
    """The current time as an aware UTC datetime (a function so tests can patch it)."""
    return datetime.datetime.now(datetime.timezone.utc)


def format_rfc3339(when):
    """Format an aware datetime as RFC 3339 UTC with a ``Z`` suffix and whole seconds."""
    return when.astimezone(datetime.timezone.utc).replace(microsecond=0).strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_rfc3339(text):
    """Parse an RFC 3339 timestamp (``Z`` or an offset, optional fraction) into an aware UTC datetime.

    Returns None when ``text`` is empty or not a timestamp.
    """
    if not text:
        return None
    value = str(text).strip()
    if value.endswith('Z') or value.endswith('z'):
        value = value[:-1] + '+00:00'
    m = re.match(r'^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:\d{2})?$', value)
    if not m:
        return None
    base = datetime.datetime.strptime(m.group(1).replace(' ', 'T'), '%Y-%m-%dT%H:%M:%S')
    if m.group(2):
        base = base.replace(microsecond=int((m.group(2)[1:] + '000000')[:6]))
    offset = datetime.timedelta(0)
    if m.group(3):
        sign = 1 if m.group(3)[0] == '+' else -1
        hh, mm = m.group(3)[1:].split(':')
        offset = sign * datetime.timedelta(hours=int(hh), minutes=int(mm))
    return (base - offset).replace(tzinfo=datetime.timezone.utc)


# A random key per process: fingerprints compare within one task run (before vs. after in
# a diff) but cannot be used offline to guess a weak password, as a plain hash could.
_FINGERPRINT_KEY = os.urandom(32)


def content_hash(data):
    """Fingerprint of secret content for diffs: ``hmac-sha256:`` + 12 hex digits.

    ``data`` is bytes or text. Keyed with a random per-process key, so equal content gives
    equal fingerprints within one run (a diff shows whether content changed) while the value
    reveals nothing about the content, not even to a dictionary attack. Never compare
    fingerprints across runs.
    """
    if not isinstance(data, bytes):
        data = data.encode('utf-8')
    return 'hmac-sha256:' + hmac.new(_FINGERPRINT_KEY, data, hashlib.sha256).hexdigest()[:12]


def is_managed(metadata):
    """True when a Kubernetes object's metadata (dict) carries our managed-by label."""
    labels = (metadata or {}).get('labels') or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


GLOB_CHARS = '*?['


def is_glob(pattern):
    """True when ``pattern`` contains a shell glob character (``*``, ``?``, ``[``)."""
    return any(c in GLOB_CHARS for c in pattern)


def b64decode_lenient(text):
    """Decode base64 the forgiving way tokens and ``auth`` values are written in the wild.

    Surrounding whitespace and line breaks are ignored, missing ``=`` padding is added, and the
    URL-safe alphabet (``-``, ``_``) is read as well as the standard one. Returns bytes; raises
    ``ValueError`` (``binascii.Error``) when the text cannot be decoded at all. For the kubelet's
    own, stricter reading of ``auth`` see ``_go_compat.go_b64_auth``.
    """
    if isinstance(text, bytes):
        text = text.decode('ascii', 'replace')
    data = text.strip().replace('\r', '').replace('\n', '')
    data += '=' * (-len(data) % 4)
    return base64.urlsafe_b64decode(data.encode('ascii', 'replace'))
