# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner of ``registry_probe``: live registry checks and failure classification. Private to this collection.

A probe walks the steps a pull takes and stops at the first one that fails (the classification
order of docs/reference/registry-protocol.md, "Errors and their categories"):

``dns`` -> ``connect`` -> ``tls`` -> ``ping`` (``GET /v2/``, challenge) -> ``login`` (credentials
authenticate, no scope) -> ``manifest`` (``HEAD`` with a pull-scoped token; HEAD does not count
against Docker Hub pull limits) -> on 404 a tags list to tell a missing repository from a missing tag.

Every failure becomes one stable ``category`` (``_distribution.CATEGORIES``) with a ``hint`` a person
can act on. Results never carry a password, a token or an ``auth`` value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import datetime
import hashlib
import json
import os
import re
import socket
import ssl
import tempfile
import time

from ansible_collections.registrylink.k8s.plugins.module_utils._common import b64decode_lenient, format_rfc3339
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import RegistryClient
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import CATEGORIES, classify_exception
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import decode_jwt_claims, parse_rate_limit
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ItemsFailed, RegistryError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import current_policy
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import (
    ACR_NULL_GUID, DOCKER_HUB_API_HOST, GAR_HOST_RE, api_host, is_ecr_host,
)

try:
    import requests
    import requests.utils
except ImportError:  # pragma: no cover - reported by the module
    requests = None


def _epoch_to_rfc3339(epoch):
    try:
        return format_rfc3339(datetime.datetime.fromtimestamp(float(epoch), datetime.timezone.utc))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _ecr_expiration(password):
    """The ``expiration`` epoch inside an ECR authorization token password, if it decodes to one.

    ``aws ecr get-login-password`` returns base64 of a JSON document with ``payload``, ``datakey``,
    ``version``, ``type`` and ``expiration`` [unverified: observed format, not documented by AWS].
    """
    try:
        raw = b64decode_lenient(password)
        doc = json.loads(raw.decode('utf-8'))
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        return None
    if isinstance(doc, dict) and isinstance(doc.get('expiration'), (int, float)):
        return float(doc['expiration'])
    return None


def credential_facts(registry_host, username, password, now=None):
    """Secret-free facts about a username/password pair, before any network call.

    Returns a dict: ``username``, ``password_kind`` (``jwt``, ``ecr_token``, ``opaque``, ``none``),
    ``token_expires_at`` (RFC 3339, for JWT-shaped passwords and ECR tokens), ``expired`` (bool),
    ``advice`` (list of strings for known pitfalls: Harbor robot names that lost their ``$``, ECR 12 h
    tokens, the ACR null GUID, GitLab job tokens, GAR access tokens).
    """
    now = time.time() if now is None else now
    facts = {'username': username, 'password_kind': 'none', 'token_expires_at': None, 'expired': False,
             'advice': []}
    host = (registry_host or '').split(':')[0]
    if password:
        facts['password_kind'] = 'opaque'
        claims = decode_jwt_claims(password)
        exp = None
        if claims is not None:
            facts['password_kind'] = 'jwt'
            exp = claims.get('exp')
        elif is_ecr_host(host) or username == 'AWS':
            exp = _ecr_expiration(password)
            if exp is not None:
                facts['password_kind'] = 'ecr_token'
        if isinstance(exp, (int, float)):
            facts['token_expires_at'] = _epoch_to_rfc3339(exp)
            facts['expired'] = exp <= now
    if username:
        if username == 'robot' or username.startswith('robot+'):
            facts['advice'].append(
                "The username %r looks like a Harbor robot account whose '$...' part was lost to shell or"
                " template expansion (robot names are robot$<project>+<name>)." % username)
        if username == 'gitlab-ci-token':
            facts['advice'].append('CI job tokens expire when the job ends; use a deploy token with read_registry'
                                   ' (username gitlab+deploy-token-<n>).')
        if is_ecr_host(host) and username == 'AWS':
            facts['advice'].append('ECR authorization tokens last 12 hours; schedule a refresh (rotate playbook).')
        if username == ACR_NULL_GUID:
            facts['advice'].append('ACR AAD refresh tokens are short-lived (about 3 hours); prefer a scope-map token'
                                   ' or AcrPull on the kubelet identity for long-lived pulls.')
        if username == 'oauth2accesstoken' and GAR_HOST_RE.match(host):
            facts['advice'].append('Google OAuth access tokens last 1 hour; use a workload identity or refresh'
                                   ' hourly.')
    return facts


def _default_ca_bundle():
    for var in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        if os.environ.get(var):
            return os.environ[var]
    if requests is not None:
        return requests.utils.DEFAULT_CA_BUNDLE_PATH
    return None


def describe_certificate(der):
    """Subject, issuer, validity, SANs and SHA-256 fingerprint of a DER certificate (no secret in a cert)."""
    facts = {'sha256_fingerprint': hashlib.sha256(der).hexdigest()}
    try:
        from cryptography import x509
        from cryptography.x509.oid import ExtensionOID
        cert = x509.load_der_x509_certificate(der)
        facts['subject'] = cert.subject.rfc4514_string()
        facts['issuer'] = cert.issuer.rfc4514_string()
        not_after = getattr(cert, 'not_valid_after_utc', None) or cert.not_valid_after.replace(
            tzinfo=datetime.timezone.utc)
        not_before = getattr(cert, 'not_valid_before_utc', None) or cert.not_valid_before.replace(
            tzinfo=datetime.timezone.utc)
        facts['not_after'] = format_rfc3339(not_after)
        facts['not_before'] = format_rfc3339(not_before)
        facts['self_signed'] = cert.subject == cert.issuer
        try:
            sans = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            facts['sans'] = [str(v) for v in sans.get_values_for_type(x509.DNSName)] + \
                [str(v) for v in sans.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            facts['sans'] = []
        return facts
    except ImportError:
        pass
    except Exception:  # an unparsable certificate: the fingerprint is still useful
        return facts
    # Fallback without cryptography: the ssl module's decoder needs a file.
    try:
        pem = ssl.DER_cert_to_PEM_cert(der)
        with tempfile.NamedTemporaryFile('w', suffix='.pem', delete=False) as fh:
            fh.write(pem)
            path = fh.name
        try:
            decoded = ssl._ssl._test_decode_cert(path)  # pylint: disable=protected-access
        finally:
            os.unlink(path)
        facts['subject'] = ', '.join('%s=%s' % kv for rdn in decoded.get('subject', ()) for kv in rdn)
        facts['issuer'] = ', '.join('%s=%s' % kv for rdn in decoded.get('issuer', ()) for kv in rdn)
        facts['not_after'] = decoded.get('notAfter')
        facts['sans'] = [v for _k, v in decoded.get('subjectAltName', ())]
        facts['self_signed'] = decoded.get('subject') == decoded.get('issuer')
    except Exception:
        pass
    return facts


def tls_check(host, port, ca_path=None, validate_certs=True, timeout=10):
    """DNS, TCP and TLS handshake to ``host:port`` with the same trust as the registry client.

    Returns ``(facts, latency_ms, error)``: ``facts`` (protocol, cipher, certificate, verified),
    ``latency_ms`` (``dns``, ``connect``, ``tls``), ``error`` None or ``(category, message)``. On a
    verification failure the certificate is fetched again without verification to report its
    subject and issuer; no data is ever sent on that connection. A refused connection is retried
    with the task's retry policy (counted as ``connection refused``), as the registry client does; once
    ``host:port`` refused every retry it is remembered as unreachable for the rest of the task, and later
    checks and registry requests to it fail at once instead of waiting through the retries again.
    """
    latency = {}
    facts = {'validate_certs': bool(validate_certs), 'ca_path': ca_path, 'verified': False}
    t0 = time.time()
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        latency['dns'] = int((time.time() - t0) * 1000)
        return facts, latency, ('dns', 'the host name %s does not resolve (%s)' % (host, exc.strerror or exc))
    except UnicodeError:
        return facts, latency, ('dns', 'the host name %s is not a valid DNS name' % host)
    latency['dns'] = int((time.time() - t0) * 1000)
    facts['addresses'] = sorted(set(info[4][0] for info in infos))[:8]

    def connect_once():
        last, refused = None, True
        for family, socktype, proto, _canon, addr in infos:
            sock = socket.socket(family, socktype, proto)
            sock.settimeout(timeout)
            try:
                sock.connect(addr)
                return sock, None, False
            except socket.timeout:
                sock.close()
                refused = False
                last = ('timeout', 'connecting to %s:%s timed out after %ss' % (host, port, timeout))
            except OSError as exc:
                sock.close()
                refused = refused and isinstance(exc, ConnectionRefusedError)
                last = ('connect', 'connecting to %s:%s failed: %s' % (host, port, exc.strerror or exc))
        return None, last, refused

    def connect():
        # a refused connection (a registry restarting) is retried as the registry client does; once a
        # host:port refused every retry, the task's later checks and requests to it fail at once
        policy = current_policy()
        host_port = '%s:%s' % (host.lower(), port)
        why = policy.unreachable(host_port)
        if why is not None:
            return None, ('connect', 'connecting to %s:%s: not attempted: it was found unreachable earlier in '
                                     'this task (%s)' % (host, port, why))
        attempt = 0
        while True:
            sock, last, refused = connect_once()
            if sock is not None or not refused:
                return sock, last
            wait = policy.delay(attempt)
            if wait is None:
                detail = '%s (%s)' % (last[1], policy.give_up_reason(attempt))
                policy.mark_unreachable(host_port, detail)
                return None, (last[0], detail)
            policy.record('registry', 'connection refused', wait)
            attempt += 1
            time.sleep(wait)

    t0 = time.time()
    sock, error = connect()
    latency['connect'] = int((time.time() - t0) * 1000)
    if sock is None:
        return facts, latency, error

    if validate_certs:
        if ca_path and os.path.isdir(ca_path):
            ctx = ssl.create_default_context(capath=ca_path)
        else:
            ctx = ssl.create_default_context(cafile=ca_path or _default_ca_bundle())
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    t0 = time.time()
    try:
        tls = ctx.wrap_socket(sock, server_hostname=host)
    except (ssl.SSLError, OSError) as exc:
        latency['tls'] = int((time.time() - t0) * 1000)
        sock.close()
        category, detail, _extra = classify_exception(exc)
        if category in ('connect', 'timeout') and isinstance(exc, ssl.SSLError):
            category = 'tls_error'
        if category in ('tls_untrusted', 'tls_hostname', 'tls_expired'):
            cert = _fetch_unverified_certificate(infos, host, timeout)
            if cert:
                facts['certificate'] = cert
        return facts, latency, (category, 'TLS handshake with %s:%s: %s' % (host, port, detail))
    latency['tls'] = int((time.time() - t0) * 1000)
    try:
        facts['verified'] = bool(validate_certs)
        facts['protocol'] = tls.version()
        cipher = tls.cipher()
        facts['cipher'] = cipher[0] if cipher else None
        der = tls.getpeercert(binary_form=True)
        if der:
            facts['certificate'] = describe_certificate(der)
    finally:
        tls.close()
    return facts, latency, None


def _fetch_unverified_certificate(infos, host, timeout):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for family, socktype, proto, _canon, addr in infos:
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(addr)
            with ctx.wrap_socket(sock, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
                return describe_certificate(der) if der else None
        except (OSError, ssl.SSLError):
            continue
        finally:
            sock.close()
    return None


def _proxy_for(url):
    if requests is None:
        return None
    try:
        proxies = requests.utils.get_environ_proxies(url)
    except Exception:
        return None
    proxy = proxies.get('https' if url.startswith('https') else 'http') or proxies.get('all')
    if not proxy:
        return None
    m = re.match(r'^([a-z]+://)?(?:[^@/]*@)?([^/]+)', proxy)  # never report proxy credentials
    return (m.group(1) or '') + m.group(2) if m else 'configured'


def refine(err, creds=None, anonymous=False):
    """Final ``(category, hint)`` for a RegistryError, using what we know about the credentials.

    * an ``unauthorized`` answer while the password is a JWT/ECR token whose ``exp`` has passed is
      ``expired_credentials`` (the registry's 401 is the consequence, not a wrong password);
    * a 429 whose message says "unauthenticated" while credentials were expected notes that they
      were not used (rate limit, not a bad password);
    * advice about known credential pitfalls is appended to the hint.
    """
    category = err.category
    hint = err.hint or CATEGORIES.get(category)
    if creds and creds.get('expired') and category in ('unauthorized', 'denied'):
        category = 'expired_credentials'
        hint = 'The password is a token that expired at %s. %s' % (
            creds.get('token_expires_at'), CATEGORIES['expired_credentials'])
    if category == 'rate_limited' and err.details.get('unauthenticated'):
        hint = ('The registry counted this pull as unauthenticated: no credentials were used. ' + (
            'Provide credentials.' if anonymous else 'Check that the pull secret matches the image (key) and is'
                                                     ' attached; a rate limit is not a bad password.')) + ' ' + hint
    if creds and creds.get('advice') and category in ('unauthorized', 'denied', 'expired_credentials'):
        hint = hint + ' ' + ' '.join(creds['advice'])
    return category, hint


class ProbeTarget(object):
    """What to probe: ``registry`` (host[:port] or URL), optional ``repository`` and ``reference`` (tag or digest)."""

    def __init__(self, registry, repository=None, reference=None, image=None):
        self.registry = registry
        self.repository = repository
        self.reference = reference
        self.image = image


def run_probe(target, username=None, password=None, ca_path=None, validate_certs=True, timeout=10,
              allow_insecure_http=False, allow_cross_host_realm=False, credential_source=None,
              client_factory=RegistryClient, tls_checker=tls_check, now=None):
    """Probe one registry (and optionally one manifest). Returns the per-target result dict.

    Never raises ``RegistryError``: failures are reported in ``category`` / ``hint`` / ``msg``.
    ``credential_source`` describes where the credentials came from (``explicit``, ``pull_secret``
    with secret and key, ``anonymous``); it is copied to ``credentials.source``.
    """
    started = time.time()
    result = _empty_result(target)
    anonymous = not username
    creds = credential_facts(target.registry, username, password, now=now)
    _report_credentials(result, creds, username, credential_source, anonymous)
    # 0: the input
    try:
        scheme, netloc = api_host(target.registry)
        result['registry'] = netloc
        client = client_factory(target.registry, username=username, password=password, ca_path=ca_path,
                                validate_certs=validate_certs, timeout=timeout,
                                allow_insecure_http=allow_insecure_http,
                                allow_cross_host_realm=allow_cross_host_realm)
    except RegistryError as err:
        return _fail(result, started, err.category, err.msg, err.hint, step='input')
    # 1-3: DNS, TCP, TLS as separate steps (skipped behind a proxy, where they would test the wrong path)
    failure = _network_steps(result, client, netloc, scheme, tls_checker, ca_path, validate_certs, timeout,
                             allow_insecure_http)
    if failure is not None:
        return _fail(result, started, *failure)
    # 4-6: the protocol
    try:
        _protocol_steps(result, client, target, anonymous)
        result['ok'] = True
    except RegistryError as err:
        _protocol_failure(result, err, creds, anonymous)
    finally:
        _collect_client_facts(client, result)
    result['latency_ms']['total'] = int((time.time() - started) * 1000)
    return result


def _empty_result(target):
    return {
        'ok': False,
        'category': None,
        'hint': None,
        'msg': None,
        'image': target.image,
        'registry': None,
        'repository': target.repository,
        'reference': target.reference,
        'api_url': None,
        'credentials': None,
        'auth': None,
        'manifest': None,
        'rate_limit': None,
        'token': None,
        'token_expires_at': None,
        'tls': None,
        'proxy': None,
        'latency_ms': {},
        'steps': [],
        'warnings': [],
    }


def _report_credentials(result, creds, username, credential_source, anonymous):
    """``credentials``, ``token_expires_at`` and the credential warnings of a probe result."""
    cred_report = {'source': credential_source or ('anonymous' if anonymous else 'explicit'),
                   'username': username, 'password_kind': creds['password_kind'],
                   'token_expires_at': creds['token_expires_at'], 'expired': creds['expired']}
    if isinstance(credential_source, dict):
        cred_report = dict(credential_source, username=username, password_kind=creds['password_kind'],
                           token_expires_at=creds['token_expires_at'], expired=creds['expired'])
    result['credentials'] = cred_report
    result['token_expires_at'] = creds['token_expires_at']
    for advice in creds['advice']:
        result['warnings'].append(advice)
    if creds['expired']:
        result['warnings'].append('The password is a token that expired at %s.' % creds['token_expires_at'])


def _fail(result, started, category, msg, hint=None, step=None, **extra):
    result['category'] = category
    result['hint'] = hint or CATEGORIES.get(category)
    result['msg'] = msg
    if step:
        result['steps'].append(dict({'step': step, 'ok': False, 'category': category}, **extra))
    result['latency_ms']['total'] = int((time.time() - started) * 1000)
    return result


def _network_steps(result, client, netloc, scheme, tls_checker, ca_path, validate_certs, timeout,
                   allow_insecure_http):
    """DNS, TCP and TLS (steps 1-3). Returns None, or ``(category, msg, hint, step)`` for a failure."""
    api_url = client.base_url + '/v2/'
    proxy = _proxy_for(api_url)
    result['proxy'] = proxy
    host = netloc
    port = None
    m = re.match(r'^\[?([^\]]+?)\]?(?::(\d+))?$', netloc)
    if m:
        host, port = m.group(1), int(m.group(2)) if m.group(2) else None
    if port is None:
        port = 443 if client.scheme == 'https' else 80
    if proxy:
        return None
    if client.scheme != 'https':
        result['tls'] = {'enabled': False}
        result['warnings'].append('Plain HTTP registry: nothing is encrypted, and nodes must list it as an'
                                  ' insecure registry.')
        return None
    facts, latency, error = tls_checker(host, port, ca_path=ca_path, validate_certs=validate_certs, timeout=timeout)
    result['latency_ms'].update(latency)
    result['tls'] = facts
    for step in ('dns', 'connect', 'tls'):
        if step in latency and (error is None or step != _failed_step(error[0])):
            result['steps'].append({'step': step, 'ok': True, 'ms': latency[step]})
    if error is None:
        return None
    category, msg = error
    hint = CATEGORIES.get(category)
    if category == 'tls_untrusted':
        cert = facts.get('certificate') or {}
        if cert.get('issuer'):
            hint = 'The certificate (subject %s) is issued by %s, which this host does not trust. %s' % (
                cert.get('subject'), cert.get('issuer'), hint)
    if category == 'plain_http' and allow_insecure_http and scheme != 'https':
        result['tls'] = {'enabled': False}
        return None
    return category, msg, hint, _failed_step(category)


def _protocol_steps(result, client, target, anonymous):
    """Ping, login and the manifest HEAD (steps 4-6); raises RegistryError on the first failure."""
    ping = client.ping()
    result['api_url'] = client.base_url + '/v2/'
    if client.scheme == 'http' and result['tls'] != {'enabled': False}:
        result['tls'] = {'enabled': False}
    result['auth'] = {'scheme': ping['auth_scheme'], 'challenges': ping['challenges'],
                      'api_version': ping['api_version'], 'authenticated': False}
    result['steps'].append({'step': 'ping', 'ok': True, 'status': ping['status']})
    if not anonymous:
        login = client.login()
        result['auth']['authenticated'] = login['authenticated']
        result['steps'].append({'step': 'login', 'ok': True, 'authenticated': login['authenticated']})
        if ping['auth_scheme'] is None:
            result['warnings'].append('The registry did not ask for credentials on /v2/; they are only used'
                                      ' if a repository asks for them.')
    if target.repository:
        ref = target.reference or 'latest'
        try:
            info = client.head_manifest(target.repository, ref)
        except RegistryError as err:
            if err.category == 'not_found':
                _explain_not_found(client, target.repository, ref, err)
            raise
        result['manifest'] = {'digest': info.digest, 'media_type': info.media_type, 'size': info.size}
        result['rate_limit'] = parse_rate_limit(info.headers)
        result['steps'].append({'step': 'manifest', 'ok': True, 'digest': info.digest})


def _protocol_failure(result, err, creds, anonymous):
    """Record a failed protocol step: the refined category and hint, and the failed step."""
    category, hint = refine(err, creds, anonymous=anonymous)
    step = err.details.get('step') or 'registry'
    extra = {}
    for key in ('status', 'codes', 'missing', 'retry_after', 'ambiguous_not_found', 'challenge_error'):
        if key in err.details:
            extra[key] = err.details[key]
    if 'rate_limit' in err.details:
        result['rate_limit'] = err.details['rate_limit']
    if 'retry_after' in err.details:
        result['retry_after'] = err.details['retry_after']
    result['category'] = category
    result['hint'] = hint
    result['msg'] = err.msg
    result['steps'].append(dict({'step': step, 'ok': False, 'category': category}, **extra))


def _failed_step(category):
    return {'dns': 'dns', 'connect': 'connect', 'timeout': 'connect'}.get(category, 'tls')


def _explain_not_found(client, repository, ref, err):
    """HEAD has no body: ask the tags list whether the repository exists, to say which part is missing."""
    if err.details.get('missing') not in (None, 'repository or tag'):
        return
    try:
        tags = client.first_tags(repository)
    except RegistryError as tag_err:
        if tag_err.category == 'not_found':
            err.details['missing'] = 'repository'
            err.msg = err.msg.replace('repository or tag not found', 'repository %s not found' % repository)
        return
    err.details['missing'] = 'tag' if not ref.startswith('sha256:') else 'digest'
    err.msg = err.msg.replace('repository or tag not found', '%s %s not found in repository %s' % (
        err.details['missing'], ref, repository))
    if tags:
        err.details['some_tags'] = tags[:10]
        err.hint = 'The repository exists but has no %s %s. Existing tags include: %s.' % (
            err.details['missing'], ref, ', '.join(tags[:10]))
        err.details['hint'] = err.hint


def _collect_client_facts(client, result):
    latency = result['latency_ms']
    for entry in client.trace:
        step = entry['step']
        latency[step] = latency.get(step, 0) + entry['elapsed_ms']
    token = client.token_facts()
    if token:
        result['token'] = {
            'expires_at': _epoch_to_rfc3339(token['expires_at']),
            'granted': token.get('granted'),
            'issuer': token.get('iss'),
            'requests': client.token_requests,
        }
    for warning in client.warnings:
        if warning not in result['warnings']:
            result['warnings'].append(warning)
    result['trace'] = [dict(entry) for entry in client.trace]


def docker_hub_note(registry):
    """A warning when the registry given is a Docker Hub alias that pull secrets must not use as a key."""
    try:
        _scheme, netloc = api_host(registry)
    except RegistryError:
        return None
    if netloc == DOCKER_HUB_API_HOST and DOCKER_HUB_API_HOST in (registry or ''):
        return ('registry-1.docker.io is the Docker Hub API host; a pull secret keyed with it never matches'
                ' Docker Hub images (use https://index.docker.io/v1/).')
    return None


# ---------------------------------------------------------------------------------------------
# module entry point
# ---------------------------------------------------------------------------------------------

def _target_from_image(image, field='image'):
    from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import (
        parse_image_reference, require_registry)
    ref = require_registry(parse_image_reference(image, field=field), field=field)
    return ProbeTarget(ref.registry, ref.repository, ref.digest or ref.tag, image=image), ref


def _connection_kwargs(params):
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_args import client_kwargs
    kwargs = client_kwargs(params)
    kwargs.pop('username')
    kwargs.pop('password')
    return kwargs


_DNS_LABEL_RE = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
_DNS_SUBDOMAIN_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


def _check_object_ref(ref, option, what):
    """``pull_secret`` / ``pod``: a namespace (RFC 1123 label) and a name (DNS subdomain)."""
    namespace, name = ref.get('namespace'), ref.get('name')
    if not isinstance(namespace, str) or not _DNS_LABEL_RE.match(namespace):
        raise ValidationError('%s.namespace: %r is not a namespace name (lowercase letters, digits and "-", at most '
                              '63 characters)' % (option, namespace), field=option)
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN_RE.match(name):
        raise ValidationError('%s.name: %r is not a %s name (lowercase RFC 1123 subdomain, at most 253 characters)'
                              % (option, name, what), field=option)


def validate_params(params):
    """Check the module's input before any network access; a bad option fails the task (it is not a
    probe result). Raises ``ValidationError`` naming the option and the fix."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import check_reference, is_valid_repository
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_args import check_registry_options
    if params.get('image') == '':
        raise ValidationError('image: the image reference is empty; give one such as registry.example.com/team/app:1.0',
                              field='image')
    check_registry_options(params)
    repository = params.get('repository')
    if repository is not None and not is_valid_repository(repository):
        raise ValidationError('repository: %r is not a repository name (lowercase components such as team/app, '
                              'separated by "/")' % repository, field='repository')
    if repository is not None:
        check_reference(params.get('reference') or 'latest', field='reference')
    if params.get('pull_secret'):
        _check_object_ref(params['pull_secret'], 'pull_secret', 'Secret')
    if params.get('pod'):
        _check_object_ref(params['pod'], 'pod', 'Pod')
    spec = params.get('verify')
    if spec:
        name = spec.get('secret_name')
        if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN_RE.match(name):
            raise ValidationError('verify.secret_name: %r is not a Secret name (lowercase RFC 1123 subdomain, at most '
                                  '253 characters)' % (name,), field='verify.secret_name')
        if spec.get('max_pod_diagnoses') is not None and spec['max_pod_diagnoses'] < 0:
            raise ValidationError('verify.max_pod_diagnoses: at least 0, got %r' % spec['max_pod_diagnoses'],
                                  field='verify.max_pod_diagnoses')
        for index, sa in enumerate(spec.get('service_accounts') or []):
            if not isinstance(sa, str) or len(sa) > 253 or not _DNS_SUBDOMAIN_RE.match(sa):
                raise ValidationError('verify.service_accounts[%d]: %r is not a ServiceAccount name' % (index, sa),
                                      field='verify.service_accounts')


class RegistryProbeRunner(Runner):
    """The runner of ``registry_probe``. ``kube_client``, ``client_factory`` and ``tls_checker``
    may be injected by tests. Never changes anything: ``changed`` is always false. With
    ``fail_on_error`` a failed probe raises ``ItemsFailed`` with the whole result."""

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, kube_client=None,
                 client_factory=RegistryClient, tls_checker=tls_check):
        super(RegistryProbeRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.kube_client = kube_client
        self.client_factory = client_factory
        self.tls_checker = tls_checker

    def run(self):
        """Probe, diagnose or verify, depending on the options; returns the result dict."""
        result = probe_for_params(self.params, register_secret=self.register_secret, kube_client=self.kube_client,
                                  client_factory=self.client_factory, tls_checker=self.tls_checker)
        for warning in result.pop('warnings', []):
            self.warn(warning)
        result['changed'] = False
        if self.params.get('fail_on_error') and not result['ok']:
            msg = result.pop('msg', None) or 'registry probe failed'
            raise ItemsFailed('%s (%s)' % (msg, result.get('category')), **result)
        return result


def probe_for_params(params, register_secret=None, kube_client=None, client_factory=RegistryClient,
                     tls_checker=tls_check):
    """Run ``registry_probe`` for its module params; returns the result dict (with a ``warnings`` list).

    ``register_secret`` is called with every credential read from the cluster so that Ansible masks it
    (``module.no_log_values.add``). ``kube_client`` (a ``_k8s.KubeClient``) is built from the cluster
    options when needed and not given.
    """
    validate_params(params)
    conn = _connection_kwargs(params)
    if params.get('verify'):
        from ansible_collections.registrylink.k8s.plugins.module_utils._verify import verify_cluster
        return verify_cluster(params, conn, register_secret=register_secret, kube_client=kube_client,
                              client_factory=client_factory, tls_checker=tls_checker)
    if params.get('pod'):
        from ansible_collections.registrylink.k8s.plugins.module_utils._diagnose import diagnose_pod
        return diagnose_pod(params, conn, register_secret=register_secret, kube_client=kube_client,
                            client_factory=client_factory, tls_checker=tls_checker)
    if params.get('pull_secret'):
        from ansible_collections.registrylink.k8s.plugins.module_utils._diagnose import probe_with_pull_secret
        return probe_with_pull_secret(params, conn, register_secret=register_secret, kube_client=kube_client,
                                      client_factory=client_factory, tls_checker=tls_checker)
    if params.get('image'):
        target, _ref = _target_from_image(params['image'])
    else:
        target = ProbeTarget(params.get('registry'), params.get('repository'),
                             (params.get('reference') or 'latest') if params.get('repository') else None)
    kwargs = dict((k, v) for k, v in conn.items() if k not in ('username', 'password'))
    kwargs['username'] = params.get('username') or None
    kwargs['password'] = params.get('password') or None
    result = run_probe(target, client_factory=client_factory, tls_checker=tls_checker, **kwargs)
    note = docker_hub_note(params.get('registry'))
    if note:
        result['warnings'].append(note)
    if conn.get('validate_certs') is False:
        result['warnings'].append('TLS certificate verification of the registry is disabled'
                                  ' (registry_validate_certs=false).')
    return result
