# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd's per-registry host configuration (``<config_path>/<host>/hosts.toml``) on a node:
finding ``config_path`` in containerd's config, rendering ``hosts.toml``, planning and applying the
files. Runner of ``containerd_hosts``. Private to this collection: not a public API.

Layout this module owns, per registry ``<config_path>/<dir>/`` (``dir`` is ``host[:port]``, or
``_default``):

* ``hosts.toml``, starting with the ``MARKER`` line (a file without it is not ours: it is replaced
  only with ``force``, and then kept as ``hosts.toml.registrylink-backup`` for ``state=absent``
  to put back);
* ``registrylink-*.crt`` / ``registrylink-*.key``: the CA and client certificate files the
  ``hosts.toml`` names. Any other file in the directory is never touched.

containerd reads ``hosts.toml`` at every pull: nothing is restarted. Only setting ``config_path``
itself (in ``config.toml``) needs a containerd restart, and this module never edits ``config.toml``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import ipaddress
import json
import os
import re
import shutil
import tempfile

from ansible_collections.registrylink.k8s.plugins.module_utils._common import content_hash
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner

try:  # Python >= 3.11
    import tomllib as _toml
except ImportError:  # pragma: no cover - depends on the node's Python
    try:
        import tomli as _toml
    except ImportError:
        _toml = None

MARKER = '# Managed by registrylink.k8s (containerd_hosts); changes here are overwritten.'
BACKUP_SUFFIX = '.registrylink-backup'
FILE_PREFIX = 'registrylink-'
CAPABILITIES = ('pull', 'resolve', 'push')

#: containerd config ``version`` -> the table that holds the CRI plugin's ``registry`` settings.
CRI_REGISTRY_TABLES = {
    1: ('plugins', 'cri', 'registry'),
    2: ('plugins', 'io.containerd.grpc.v1.cri', 'registry'),
    3: ('plugins', 'io.containerd.cri.v1.images', 'registry'),
}

_HOST_RE = re.compile(r'^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
                      r'(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$')
_PEM_RE = re.compile(r'-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----')


class ContainerdConfigError(RegistryLinkError):
    """containerd's config cannot tell where ``hosts.toml`` files go (or refuses them)."""


# --------------------------------------------------------------------------------------
# containerd's config.toml


def _table_header(line):
    """The dotted key path of a ``[table]`` header line, or None."""
    line = line.strip()
    if not line.startswith('[') or line.startswith('[['):
        return None
    inner = line[1:line.index(']', 1) if ']' in line[1:] else len(line)].strip()
    # split on dots outside quotes
    parts, cur, quote = [], '', None
    for ch in inner:
        if quote:
            if ch == quote:
                quote = None
            else:
                cur += ch
        elif ch in '"\'':
            quote = ch
        elif ch == '.':
            parts.append(cur.strip())
            cur = ''
        else:
            cur += ch
    parts.append(cur.strip())
    return tuple(parts)


def _scan_config(text):
    """A small reader for the few keys this module needs, for nodes whose Python has neither
    ``tomllib`` (3.11+) nor ``tomli``: top-level ``version``, and ``config_path`` / ``mirrors`` /
    ``configs`` under each registry table. Returns a nested dict shaped like a TOML parse."""
    data = {}
    table = ()
    key_re = re.compile(r'^\s*("?)([A-Za-z0-9_.-]+)\1\s*=\s*(.+?)\s*$')
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        header = _table_header(line)
        if header is not None:
            table = header
            node = data
            for part in header:
                node = node.setdefault(part, {})
            continue
        m = key_re.match(line)
        if not m:
            continue
        key, value = m.group(2), m.group(3)
        if not m.group(1) and '.' in key:  # a dotted key (registry.config_path = ...) names a nested table
            parts = key.split('.')
            inner, key = parts[:-1], parts[-1]
        else:
            inner = []
        if value.startswith('['):
            try:
                value = json.loads(value.split(']', 1)[0] + ']')
            except ValueError:
                pass
        elif value.startswith('"'):
            try:
                value = json.loads(value[:value.rindex('"') + 1])
            except ValueError:
                continue
        elif value.startswith("'"):
            value = value[1:value.index("'", 1)] if "'" in value[1:] else value[1:]
        else:
            value = value.split('#', 1)[0].strip()
            if value.isdigit():
                value = int(value)
        node = data
        for part in tuple(table) + tuple(inner):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[key] = value
    return data


def parse_toml(text, where):
    """``text`` as TOML (``tomllib``/``tomli``, else ``_scan_config``). Raises ``ContainerdConfigError``."""
    if _toml is None:
        return _scan_config(text)
    try:
        return _toml.loads(text)
    except Exception as exc:  # tomllib.TOMLDecodeError; tomli's is a ValueError
        raise ContainerdConfigError('%s is not valid TOML: %s' % (where, exc))


def _dig(data, path):
    node = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def how_to_set_config_path(version, suggested='/etc/containerd/certs.d'):
    """The lines to add to containerd's config for ``config_path``, and the restart it needs."""
    table = '.'.join(p if '.' not in p else '"%s"' % p for p in CRI_REGISTRY_TABLES.get(version, CRI_REGISTRY_TABLES[2]))
    return ('add to containerd\'s config: [%s] config_path = "%s" (and remove any registry.mirrors / registry.configs'
            ' there), then restart containerd once (systemctl restart containerd): config.toml is read only at start;'
            ' hosts.toml files under config_path are read at every pull and never need a restart'
            % (table, suggested))


def read_config_path(text, where):
    """Where containerd looks for ``hosts.toml``, read from its config text.

    Returns ``{'version', 'config_path' (first directory, or None), 'config_path_all' (list),
    'table' (dotted name of the registry table), 'legacy' (registry.mirrors / registry.configs
    keys that are set)}``. Raises ``ContainerdConfigError`` for TOML errors.
    """
    data = parse_toml(text, where)
    version = data.get('version', 1)
    if not isinstance(version, int) or version not in CRI_REGISTRY_TABLES:
        raise ContainerdConfigError('%s: containerd config version %r is not one this module knows (1, 2, 3)'
                                    % (where, version))
    path = CRI_REGISTRY_TABLES[version]
    registry = _dig(data, path) or {}
    raw = registry.get('config_path') if isinstance(registry, dict) else None
    dirs = [d for d in (raw or '').split(':') if d] if isinstance(raw, str) else []
    legacy = []
    if isinstance(registry, dict):
        if registry.get('mirrors'):
            legacy.append('mirrors')
        # containerd refuses only configs.<host>.tls with config_path; configs.<host>.auth is allowed
        configs = registry.get('configs')
        if isinstance(configs, dict) and any(isinstance(c, dict) and 'tls' in c for c in configs.values()):
            legacy.append('configs')
        legacy.sort()
    mirrors = registry.get('mirrors') if isinstance(registry, dict) else None
    legacy_mirrors = {}
    for name, conf in (mirrors.items() if isinstance(mirrors, dict) else []):
        endpoints = conf.get('endpoint') if isinstance(conf, dict) else None
        if isinstance(endpoints, list):
            legacy_mirrors[name] = [e for e in endpoints if isinstance(e, str)]
    return {'version': version, 'config_path': dirs[0] if dirs else None, 'config_path_all': dirs,
            'table': '.'.join(path), 'legacy': legacy, 'legacy_mirrors': legacy_mirrors}


# --------------------------------------------------------------------------------------
# validation of the input


def validate_host(value, field):
    """A ``hosts.toml`` directory name: ``host[:port]`` (a name, IPv4 or bracketed IPv6) or ``_default``."""
    if not isinstance(value, str) or not value:
        raise ValidationError('%s must be a registry host such as registry.example.com:5000 or _default' % field,
                              field=field)
    if value == '_default':
        return value
    if '://' in value or '/' in value:
        raise ValidationError('%s is %r: give the host as host[:port] without scheme or path (the scheme goes into'
                              ' server, for example server: https://%s)' % (field, value, value.split('://')[-1].split('/')[0]),
                              field=field)
    m = _HOST_RE.match(value)
    if m and value.startswith('['):
        try:  # a bracketed host is an IPv6 address, nothing else
            ipaddress.IPv6Address(u'%s' % value[1:value.index(']')])
        except ValueError:
            m = None
    if not m or (m.group(1) and not 0 < int(m.group(1)) < 65536):
        raise ValidationError('%s is %r, which is not a valid host[:port] (letters, digits, dots and dashes, an optional'
                              ' port 1-65535)' % (field, value), field=field)
    return value.lower()


def validate_url(value, field, allow_path=False):
    """An ``http(s)://host[:port][/path]`` URL without user info, query or fragment."""
    if not isinstance(value, str) or not value:
        raise ValidationError('%s must be a URL such as https://mirror.example.com' % field, field=field)
    m = re.match(r'^(https?)://([^/?#@\s]+)(/[^?#\s]*)?$', value)
    if not m:
        raise ValidationError('%s is %r: give a URL http(s)://host[:port][/path] without user name, password, query or'
                              ' spaces' % (field, value), field=field)
    validate_host(m.group(2), field)
    path = (m.group(3) or '').rstrip('/')
    if path and not allow_path:
        raise ValidationError('%s is %r: a path is only allowed with override_path' % (field, value), field=field)
    return '%s://%s%s' % (m.group(1), m.group(2).lower(), path)


def validate_pem(value, field, kinds):
    """PEM text holding at least one block of a type in ``kinds`` with valid base64."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError('%s is empty: give the PEM file' % field, field=field)
    blocks = _PEM_RE.findall(value)
    if not any('PRIVATE KEY' in kind for kind in kinds) and 'PRIVATE KEY-----' in value:
        # a key where a certificate belongs (a key file, or a cert+key bundle) would be written to a
        # world-readable .crt file and is logged as a plain option: refuse it, never echo it
        raise ValidationError('%s holds a private key (a -----BEGIN ... PRIVATE KEY----- block): give the %s only;'
                              ' a client key goes into client_key' % (field, kinds[0]), field=field)
    if not blocks or not any(kind in kinds for kind, _body in blocks):
        raise ValidationError('%s is not a PEM %s (no -----BEGIN %s----- block)' % (field, kinds[0], kinds[0]),
                              field=field)
    for _kind, body in blocks:
        try:
            base64.b64decode(re.sub(r'\s+', '', body), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError('%s holds a PEM block whose base64 is broken' % field, field=field)
    return value if value.endswith('\n') else value + '\n'


KEY_KINDS = ('PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY')


def _validate_endpoint(ep, field, warnings, is_server):
    out = {'capabilities': None, 'ca': None, 'client_cert': None, 'client_key': None,
           'skip_verify': bool(ep.get('skip_verify')), 'override_path': bool(ep.get('override_path'))}
    caps = ep.get('capabilities')
    if caps is not None:
        bad = [c for c in caps if c not in CAPABILITIES]
        if bad or not caps:
            raise ValidationError('%s.capabilities must be a non-empty list of %s (got %s)'
                                  % (field, ', '.join(CAPABILITIES), caps), field=field + '.capabilities')
        out['capabilities'] = [c for c in CAPABILITIES if c in caps]
    elif not is_server:
        out['capabilities'] = ['pull', 'resolve']
    if ep.get('ca'):
        out['ca'] = validate_pem(ep['ca'], field + '.ca', ('CERTIFICATE',))
    if bool(ep.get('client_cert')) != bool(ep.get('client_key')):
        missing = field + ('.client_key' if ep.get('client_cert') else '.client_cert')
        raise ValidationError('%s is missing: client_cert and client_key go together (mTLS needs both)' % missing,
                              field=missing)
    if ep.get('client_cert'):
        out['client_cert'] = validate_pem(ep['client_cert'], field + '.client_cert', ('CERTIFICATE',))
        out['client_key'] = validate_pem(ep['client_key'], field + '.client_key', KEY_KINDS)
    if out['skip_verify']:
        warnings.append('%s: skip_verify is true: the node will not check this registry\'s TLS certificate, so anyone'
                        ' in the network path can serve images to it. Prefer ca.' % field)
        if out['ca']:
            raise ValidationError('%s.skip_verify is true and %s.ca is given: give either ca or skip_verify, not both'
                                  % (field, field), field=field + '.skip_verify')
    return out


def validate_registries(registries, state):
    """Check every entry of ``registries`` before any file is touched.

    Returns ``(entries, warnings)``; each entry is ``{'host', 'server', 'server_opts', 'mirrors'}``
    with PEM text normalised. Raises ``ValidationError`` naming ``registries[i].<option>``.
    """
    if not registries:
        raise ValidationError('registries is empty: give at least one registry (host, and mirrors or ca)',
                              field='registries')
    entries, warnings, seen = [], [], {}
    for i, reg in enumerate(registries):
        field = 'registries[%d]' % i
        host = validate_host(reg.get('host'), field + '.host')
        if host in seen:
            raise ValidationError('%s.host %s is also registries[%d].host: give each registry once'
                                  % (field, host, seen[host]), field=field + '.host')
        seen[host] = i
        if state == 'absent':
            entries.append({'host': host})
            continue
        if reg.get('server'):
            server = validate_url(reg['server'], field + '.server', allow_path=True)
        elif host == '_default':
            server = None
        elif host == 'docker.io':
            server = 'https://registry-1.docker.io'
        else:
            server = 'https://' + host
        server_opts = _validate_endpoint(reg, field, warnings, True)
        mirrors = []
        for j, mirror in enumerate(reg.get('mirrors') or []):
            mfield = '%s.mirrors[%d]' % (field, j)
            opts = _validate_endpoint(mirror, mfield, warnings, False)
            url = validate_url(mirror.get('url'), mfield + '.url', allow_path=opts['override_path'])
            if any(m['url'] == url for m in mirrors) or url == server:
                raise ValidationError('%s.url %s is listed twice' % (mfield, url), field=mfield + '.url')
            if url.startswith('http://') and (opts['ca'] or opts['client_cert']):
                raise ValidationError('%s.url is %s: ca and client certificates need an https:// url' % (mfield, url),
                                      field=mfield + '.url')
            opts['url'] = url
            mirrors.append(opts)
        if server and server.startswith('http://') and (server_opts['ca'] or server_opts['client_cert']):
            raise ValidationError('%s.server is %s: ca and client certificates need an https:// server'
                                  % (field, server), field=field + '.server')
        if reg.get('server_fallback') is False:
            server = None
        if server is None and not mirrors:
            raise ValidationError('%s.mirrors is empty: without a server (host _default, or server_fallback: false)'
                                  ' the registry needs at least one mirror' % field, field=field + '.mirrors')
        if not mirrors and not any(server_opts[k] for k in ('ca', 'client_cert', 'skip_verify', 'capabilities')) \
                and not server_opts['override_path'] and not reg.get('server'):
            raise ValidationError('%s: nothing to configure for %s: give mirrors, ca, client_cert/client_key,'
                                  ' capabilities or skip_verify' % (field, host), field=field)
        entries.append({'host': host, 'server': server, 'server_opts': server_opts, 'mirrors': mirrors})
    return entries, warnings


# --------------------------------------------------------------------------------------
# rendering


def _file_label(url):
    """A file name part for an endpoint: ``mirror.example.com_5000`` (and its path, for a mirror
    served under a path, so two mirrors on one host never share a certificate file)."""
    rest = url.split('://', 1)[1]
    return re.sub(r'[^A-Za-z0-9.-]+', '_', rest).strip('_') or 'host'


def _tq(value):
    """A TOML basic string (JSON string escapes are valid TOML escapes)."""
    return json.dumps(value)


def _endpoint_lines(opts, files, directory, label, indent):
    lines = []
    if opts.get('capabilities'):
        lines.append('%scapabilities = [%s]' % (indent, ', '.join(_tq(c) for c in opts['capabilities'])))
    if opts['ca']:
        name = '%s%s-ca.crt' % (FILE_PREFIX, label)
        files[name] = (opts['ca'], 0o644, False)
        lines.append('%sca = %s' % (indent, _tq(os.path.join(directory, name))))
    if opts['client_cert']:
        cert, key = '%s%s-client.crt' % (FILE_PREFIX, label), '%s%s-client.key' % (FILE_PREFIX, label)
        files[cert] = (opts['client_cert'], 0o644, False)
        files[key] = (opts['client_key'], 0o600, True)
        lines.append('%sclient = [[%s, %s]]' % (indent, _tq(os.path.join(directory, cert)),
                                                _tq(os.path.join(directory, key))))
    if opts['skip_verify']:
        lines.append('%sskip_verify = true' % indent)
    if opts['override_path']:
        lines.append('%soverride_path = true' % indent)
    return lines


def render(entry, directory):
    """``(hosts_toml_text, files)`` for one validated entry; ``files`` maps a file name in
    ``directory`` to ``(content, mode, secret)``. Mirrors come first, in order (containerd tries
    them in order), then the ``server`` (the upstream) as the fallback."""
    files = {}
    lines = [MARKER, '# registry: %s' % entry['host']]
    if entry['server']:
        lines.append('server = %s' % _tq(entry['server']))
        lines.extend(_endpoint_lines(entry['server_opts'], files, directory, 'server', ''))
    labels = set()
    for mirror in entry['mirrors']:
        lines.append('')
        lines.append('[host.%s]' % _tq(mirror['url']))
        label = 'mirror-' + _file_label(mirror['url'])
        if label in labels:  # URLs that differ only in characters a file name cannot hold
            label += '-' + hashlib.sha256(mirror['url'].encode('utf-8')).hexdigest()[:8]
        labels.add(label)
        lines.extend(_endpoint_lines(mirror, files, directory, label, '  '))
    return '\n'.join(lines) + '\n', files


# --------------------------------------------------------------------------------------
# the node's files


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def _mode(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def _makedirs(path):
    """``os.makedirs`` that a concurrent run creating the same directory does not fail."""
    try:
        os.makedirs(path, 0o755)
    except OSError:
        if not os.path.isdir(path):
            raise


def write_atomic(path, content, mode):
    """Write ``content`` to ``path`` through a temporary file in the same directory, with ``mode``
    set before the content lands (a key is never readable by others, not even for a moment)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.registrylink-', dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'wb') as f:
            f.write(content.encode('utf-8'))
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _owned_files(directory):
    try:
        return sorted(n for n in os.listdir(directory) if n.startswith(FILE_PREFIX) and
                      (n.endswith('.crt') or n.endswith('.key')))
    except OSError:
        return []


def plan_host(entry, config_path, state, force):
    """What to do in ``<config_path>/<host>/``: a dict with ``action`` (created / updated /
    unchanged / deleted / absent / refused), ``writes`` [(name, content, mode, secret)],
    ``removes`` [names], ``backup`` (move the unmanaged hosts.toml aside), ``restore`` (put the
    backup back), ``before``/``after`` texts for the diff, ``reason`` when refused."""
    directory = os.path.join(config_path, entry['host'])
    hosts = os.path.join(directory, 'hosts.toml')
    current = _read(hosts)
    managed = current is not None and current.startswith(MARKER)
    has_backup = os.path.exists(hosts + BACKUP_SUFFIX)
    owned = _owned_files(directory)
    plan = {'host': entry['host'], 'directory': directory, 'path': hosts, 'writes': [], 'removes': [],
            'backup': False, 'restore': False, 'before': current, 'after': current, 'reason': None}
    if state == 'absent':
        if current is not None and not managed:
            plan['action'] = 'absent'
            plan['reason'] = 'hosts.toml is not managed by this collection: left alone'
            return plan
        plan['removes'] = owned + (['hosts.toml'] if managed else [])
        # the original we kept aside goes back, also when someone deleted our hosts.toml since
        plan['restore'] = has_backup and (managed or current is None)
        plan['after'] = _read(hosts + BACKUP_SUFFIX) if plan['restore'] else None
        plan['action'] = 'deleted' if plan['removes'] or plan['restore'] else 'absent'
        return plan
    if current is not None and not managed and not force:
        plan['action'] = 'refused'
        plan['reason'] = ('%s exists and was not written by this collection; set force: true to replace it (it is kept'
                          ' as hosts.toml%s and put back by state: absent)' % (hosts, BACKUP_SUFFIX))
        return plan
    if current is not None and not managed and has_backup:
        plan['action'] = 'refused'
        plan['reason'] = ('%s was not written by this collection, and hosts.toml%s already holds the file that an earlier'
                          ' run with force replaced: replacing this one too would lose that original. Move one of them'
                          ' away, then run again' % (hosts, BACKUP_SUFFIX))
        return plan
    text, files = render(entry, directory)
    plan['after'] = text
    plan['backup'] = current is not None and not managed
    if current != text or _mode(hosts) != 0o644:
        plan['writes'].append(('hosts.toml', text, 0o644, False))
    for name in sorted(files):
        content, mode, secret = files[name]
        path = os.path.join(directory, name)
        if _read(path) != content or _mode(path) != mode:
            plan['writes'].append((name, content, mode, secret))
    plan['removes'] = [n for n in owned if n not in files]
    plan['files'] = sorted(files)
    if not plan['writes'] and not plan['removes']:
        plan['action'] = 'unchanged'
    else:
        plan['action'] = 'created' if current is None else 'updated'
    return plan


def apply_plan(plan):
    """Carry out ``plan`` on the node's files. containerd reads ``hosts.toml`` at every pull, so at
    no moment may it name a certificate file that is not there, and an original ``hosts.toml``
    that is replaced stays in place until ours lands."""
    directory, hosts = plan['directory'], plan['path']
    if plan['writes']:
        if not os.path.isdir(directory):
            _makedirs(directory)
        if plan['backup']:
            shutil.copy2(hosts, hosts + BACKUP_SUFFIX, follow_symlinks=False)  # a symlink stays a symlink
        # certificate files first: hosts.toml must never name a file that is not there yet
        for name, content, mode, _secret in sorted(plan['writes'], key=lambda w: w[0] == 'hosts.toml'):
            write_atomic(os.path.join(directory, name), content, mode)
    # hosts.toml first: it must never name a file that is already gone
    if 'hosts.toml' in plan['removes']:
        if plan['restore']:
            os.rename(hosts + BACKUP_SUFFIX, hosts)
        else:
            os.unlink(hosts)
    elif plan['restore']:  # our hosts.toml is already gone: put the original back
        os.rename(hosts + BACKUP_SUFFIX, hosts)
    for name in plan['removes']:
        if name != 'hosts.toml':
            os.unlink(os.path.join(directory, name))
    if 'hosts.toml' in plan['removes'] and not plan['restore']:
        try:
            os.rmdir(directory)  # only when nothing else is left in it
        except OSError:
            pass


def _file_diff_line(name, content, secret):
    what = 'private key' if secret else 'certificate'
    return '%s: %s, fingerprint %s' % (name, what, content_hash(content))


def plan_diff(plan):
    """Ansible diff for one host: ``hosts.toml`` text (it holds paths, never key material), and
    the certificate and key files as fingerprints."""
    before = plan['before'] or ''
    after = plan['after'] or ''
    written = [w for w in plan['writes'] if w[0] != 'hosts.toml']
    if written or plan['removes']:
        after += ''.join('# file %s\n' % _file_diff_line(n, c, s) for n, c, _m, s in written)
        before += ''.join('# file %s: present\n' % n for n in plan['removes'] if n != 'hosts.toml')
    return {'before_header': plan['path'], 'after_header': plan['path'], 'before': before, 'after': after}


def _pem_options_holding_keys(registries):
    """The ``ca`` / ``client_cert`` texts that hold private key material (refused by validation,
    but the module's invocation would log them: they are plain options)."""
    found = []
    for reg in registries if isinstance(registries, list) else []:
        if not isinstance(reg, dict):
            continue
        mirrors = reg.get('mirrors') if isinstance(reg.get('mirrors'), list) else []
        for ep in [reg] + [m for m in mirrors if isinstance(m, dict)]:
            for opt in ('ca', 'client_cert'):
                if isinstance(ep.get(opt), str) and 'PRIVATE KEY' in ep[opt]:
                    found.append(ep[opt])
    return found


class ContainerdHostsRunner(Runner):
    """Runner of ``containerd_hosts``: find ``config_path``, validate, plan every host, then write."""

    def _config_path(self):
        given = self.params.get('config_path')
        conf = self.params['containerd_config']
        text = _read(conf)
        info = {'containerd_config': conf, 'config_path': None, 'found_in_config': False, 'restart_needed': False}
        if text is None:
            if given:
                self.warn('containerd config %s cannot be read: config_path %s is used as given; containerd only uses'
                          ' it when its config sets it' % (conf, given))
                info['config_path'] = given
                return info
            raise ValidationError('containerd_config %s cannot be read: give the path of containerd\'s config.toml'
                                  ' (k3s: /var/lib/rancher/k3s/agent/etc/containerd/config.toml, RKE2:'
                                  ' /var/lib/rancher/rke2/agent/etc/containerd/config.toml) or config_path'
                                  % conf, field='containerd_config')
        found = read_config_path(text, conf)
        info['config_version'] = found['version']
        if found['legacy'] and self.params['state'] == 'present':
            raise ContainerdConfigError(
                '%s sets registry.%s in [%s]: containerd refuses hosts.toml (config_path) together with them.'
                ' Move those settings into hosts.toml files (this module writes them) and remove them, then '
                % (conf, ' and registry.'.join(found['legacy']), found['table']) + how_to_set_config_path(found['version']),
                field='containerd_config', how_to_fix=how_to_set_config_path(found['version']))
        if found['config_path']:
            info['found_in_config'] = True
            if given and os.path.realpath(given) not in [os.path.realpath(d) for d in found['config_path_all']]:
                raise ValidationError('config_path %s differs from the config_path %s that containerd reads from %s:'
                                      ' leave config_path unset to use containerd\'s'
                                      % (given, ':'.join(found['config_path_all']), conf), field='config_path')
            info['config_path'] = given or found['config_path']
            return info
        fix = how_to_set_config_path(found['version'], given or '/etc/containerd/certs.d')
        if given and self.params['state'] == 'present':
            self.warn('%s does not set config_path: containerd ignores the files written to %s until you %s'
                      % (conf, given, fix))
            info.update(config_path=given, restart_needed=True, how_to_fix=fix)
            return info
        if given:
            info.update(config_path=given, how_to_fix=fix)
            return info
        raise ContainerdConfigError('%s does not set config_path, so containerd reads no hosts.toml files. To fix:'
                                    ' %s. Or give config_path to write the files first.' % (conf, fix),
                                    field='containerd_config', how_to_fix=fix)

    def run(self):
        state = self.params['state']
        for text in _pem_options_holding_keys(self.params['registries']):
            self.register_secret(text)  # a key given as ca / client_cert: masked in every output
        entries, warnings = validate_registries(self.params['registries'] or [], state)
        for w in warnings:
            self.warn(w)
        info = self._config_path()
        config_path = info['config_path']
        if not os.path.isabs(config_path):
            raise ValidationError('config_path %s is not an absolute path' % config_path, field='config_path')
        for entry in entries:
            for opts in ([entry['server_opts']] if entry.get('server_opts') else []) + (entry.get('mirrors') or []):
                if opts.get('client_key'):
                    self.register_secret(opts['client_key'])
        if state == 'present':
            for entry in entries:
                shadow = os.path.join(config_path, host_directories(entry['host'])[0])
                if host_directories(entry['host'])[0] != entry['host'] and os.path.isdir(shadow):
                    self.warn('%s exists: containerd reads it before %s, so the hosts.toml written for %s is not used'
                              ' while that directory is there' % (shadow, entry['host'], entry['host']))
        plans = [plan_host(e, config_path, state, self.params['force']) for e in entries]
        refused = [p for p in plans if p['action'] == 'refused']
        if refused:
            raise ValidationError(refused[0]['reason'], field='force', refused=[p['host'] for p in refused])
        if state == 'present' and not os.path.isdir(config_path) and not self.check_mode:
            _makedirs(config_path)
        results = []
        for p in plans:
            if not self.check_mode and p['action'] not in ('unchanged', 'absent'):
                apply_plan(p)
            item = {'host': p['host'], 'action': p['action'], 'path': p['path'],
                    'files': p.get('files', []), 'written': [w[0] for w in p['writes']], 'removed': p['removes'],
                    'restored_backup': p['restore'], 'kept_backup': p['backup']}
            if p['reason']:
                item['detail'] = p['reason']
            results.append(item)
        changed = any(r['action'] not in ('unchanged', 'absent') for r in results)
        summary = {}
        for r in results:
            summary[r['action']] = summary.get(r['action'], 0) + 1
        result = dict(info, changed=changed, results=results, summary=summary)
        if changed:
            result['diff'] = [plan_diff(p) for p in plans if p['action'] not in ('unchanged', 'absent')]
        return result


# --------------------------------------------------------------------------------------
# containerd_hosts_info


def host_directories(host):
    """The directory names containerd tries for ``host``, in its order (the first that exists is
    used, even without a ``hosts.toml`` in it): ``host_port_`` (when there is a port), ``host``, ``_default``."""
    names = []
    idx = host.rfind(':')
    if idx > 0:
        names.append(host[:idx] + '_' + host[idx + 1:] + '_')
    names.append(host)
    if host != '_default':
        names.append('_default')
    return names


def used_directory(roots, host):
    """The directory containerd uses for ``host`` under the ``config_path`` directories ``roots``, or None."""
    for root in roots:
        for name in host_directories(host):
            if os.path.isdir(os.path.join(root, name)):
                return os.path.join(root, name)
    return None


def describe_host(config_path, host, roots=None):
    """What containerd will use for ``host``: its ``hosts.toml`` (``exists``, ``managed`` by this
    collection, ``server``, ``mirrors`` [{url, capabilities}] in order, ``ca`` set for the server),
    and ``mirror_configured``. The directory is found as containerd does (``host_port_``, ``host``,
    ``_default``, in each of ``roots``). Raises ``ContainerdConfigError`` for a ``hosts.toml`` that is not TOML."""
    used = used_directory(roots or ([config_path] if config_path else []), host)
    if used:
        path = os.path.join(used, 'hosts.toml')
    else:
        path = os.path.join(config_path, host, 'hosts.toml') if config_path else None
    text = _read(path) if path else None
    out = {'host': host, 'path': path, 'exists': text is not None, 'managed': bool(text and text.startswith(MARKER)),
           'server': None, 'mirrors': [], 'ca': False, 'mirror_configured': False, 'source': 'hosts.toml'}
    if text is None:
        return out
    data = parse_toml(text, path)
    hosts = data.get('host') if isinstance(data.get('host'), dict) else {}
    out['server'] = data.get('server') if isinstance(data.get('server'), str) else None
    out['ca'] = bool(data.get('ca'))
    out['mirrors'] = [{'url': url, 'capabilities': (conf or {}).get('capabilities') if isinstance(conf, dict) else None}
                      for url, conf in hosts.items() if url != out['server']]
    out['mirror_configured'] = bool(out['mirrors'])
    return out


def describe_legacy_mirrors(legacy_mirrors, host):
    """The mirrors containerd 1.x uses for ``host`` from ``registry.mirrors`` in config.toml (the
    host's own entry, else ``*``), without the registry's own endpoint, which containerd adds last
    anyway. None when neither entry is there."""
    endpoints = legacy_mirrors.get(host, legacy_mirrors.get('*'))
    if endpoints is None:
        return None
    upstream = 'registry-1.docker.io' if host == 'docker.io' else host
    mirrors = []
    for url in endpoints:
        m = re.match(r'^(?:[A-Za-z]+://)?([^/]+)', url)
        if m and m.group(1).lower() in (upstream, host):
            continue
        mirrors.append({'url': url, 'capabilities': None})
    return {'source': 'config.toml registry.mirrors', 'mirrors': mirrors, 'mirror_configured': bool(mirrors)}


class ContainerdHostsInfoRunner(Runner):
    """Runner of ``containerd_hosts_info``: read-only, ``config_path`` then each host's ``hosts.toml``."""

    def run(self):
        hosts = self.params['hosts'] or []
        if not hosts:
            raise ValidationError('hosts is empty: give the registry hosts to look up (host[:port] as in image'
                                  ' references, docker.io for Docker Hub)', field='hosts')
        hosts = [validate_host(h, 'hosts[%d]' % i) for i, h in enumerate(hosts)]
        conf = self.params['containerd_config']
        given = self.params.get('config_path')
        text = _read(conf)
        info = {'containerd_config': conf, 'config_path': given, 'found_in_config': False}
        if text is None and not given:
            raise ValidationError('containerd_config %s cannot be read: give the path of containerd\'s config.toml or'
                                  ' config_path' % conf, field='containerd_config')
        if text is not None:
            found = read_config_path(text, conf)
            info['config_version'] = found['version']
            if found['config_path']:
                info.update(config_path=given or found['config_path'], found_in_config=True)
            elif not given:
                info['how_to_fix'] = how_to_set_config_path(found['version'])
        roots = [given] if given else (found['config_path_all'] if text is not None else [])
        registries = [describe_host(info['config_path'], h, roots) for h in hosts]
        if text is not None and not found['config_path'] and found['legacy_mirrors']:
            # no config_path: containerd 1.x pulls through registry.mirrors in config.toml instead
            for reg in registries:
                legacy = describe_legacy_mirrors(found['legacy_mirrors'], reg['host'])
                if legacy is not None and not given:
                    reg.update(legacy)
        return dict(info, changed=False, registries=registries)
