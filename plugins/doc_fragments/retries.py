# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Timeouts and retries of every request to the Kubernetes API server and to registries
    # (plugins/module_utils/_retry.py). docs/reliability.md shows them under faults.
    DOCUMENTATION = r'''
options:
  request_timeout:
    description:
      - Seconds to wait for the connection to the Kubernetes API server and then for its answer,
        per request.
      - A request that gets no answer in time fails with a C(timed out) error naming the request
        (verb, resource, namespace); timeouts are never retried, so the task fails within
        O(request_timeout) plus the connect time. A write that timed out is reported with
        C(write_outcome=unknown), because the API server may have applied it.
      - Registry requests use the module's registry timeout instead (C(timeout) in M(registrylink.k8s.registry_probe)
        and M(registrylink.k8s.registry_gc), C(registry_timeout) in M(registrylink.k8s.pull_canary)).
    type: int
    default: 30
  request_retries:
    description:
      - How often one request is retried after a retryable failure, for the Kubernetes API server
        and for registries. C(0) turns retries off; at most C(20).
      - "Retryable: HTTP 429 and 500, 502, 503, 504 (a registry C(DELETE) only after 429, 502, 503, 504),
        a refused connection (the request was not sent; for the API server and for registries, every
        method) and, for reads only, a connection that broke. A write (a registry C(DELETE)) whose
        connection broke after it was sent is never retried: it may have been applied."
      - When every retry failed the task fails with the last error and says that it gave up after
        O(request_retries) retries. Once the API server (or a registry host and port, including a token
        realm or a blob redirect target) refused every retry of a request, the rest of the task's requests
        to it fail at once as C(not sent) instead of each waiting out its retries (for registries also
        across images, and in the TLS check of M(registrylink.k8s.registry_probe)); the message names the
        host that refused.
      - "Not retried: a request rejected before anything was sent (an invalid URL or request header, a
        proxy that could not open the tunnel); it fails at once as C(not sent)."
    type: int
    default: 5
  retry_max_wait:
    description:
      - The longest wait in seconds before one retry.
      - The wait is the server's C(Retry-After) (seconds or an HTTP date) when it sends one, else
        0.5 s, 1 s, 2 s, 4 s, 8 s, 8 s ... with up to 25 % jitter, capped at this value.
      - A C(Retry-After) longer than this is not waited for; the request fails at once with the
        wait the server asked for in the message.
    type: int
    default: 30
notes:
  - Every module with these options returns C(retries), the retries the task made
    (C(count), C(waited_seconds), C(by_reason) such as C(HTTP 429), C(connection refused),
    C(connection broken) or C(HTTP 409 conflict) (a write that lost a race with another writer, redone on a fresh read),
    C(by_target) C(kubernetes) / C(registry)), also when it fails.
'''
