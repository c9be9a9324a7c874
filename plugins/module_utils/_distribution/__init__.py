# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCI distribution (Docker registry v2) API. Private to this collection: not a public API.

Laid out like community.crypto's ``_acme`` package; import from the part you need:

* ``_headers``: pure parsers (``WWW-Authenticate`` challenges, ``Link``, ``Retry-After``,
  rate limits, scopes, JWT claims);
* ``_errors``: failure categories (``CATEGORIES``), transport error classification, redaction;
* ``_auth``: token authentication (ping, login, token fetch, realm checks) as a mixin;
* ``_client``: ``RegistryClient`` (transport, retries, endpoints) and digest checks.

Which host the client talks to is ``_registry_host.api_host``. The protocol facts are in
docs/reference/registry-protocol.md.
"""
