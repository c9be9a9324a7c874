# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: kubeconfig
short_description: Clusters from the contexts of kubeconfig files
version_added: 0.1.0
description:
  - One inventory host per context of one or more kubeconfig files. A host is a cluster, not a
    machine; the collection's playbooks run every task on the controller and pass the host
    variables C(kubeconfig) and C(kube_context) to every module through C(module_defaults).
  - Only names and the API server URL are read out of the kubeconfig. Tokens, passwords,
    client keys, certificates and exec or auth-provider settings never become host variables
    and are never written to the cache.
  - The configuration file name must end with C(kubeconfig.yml) or C(kubeconfig.yaml).
  - "Host variables: C(kubeconfig) (the file, or the C(KUBECONFIG)-style list of files, the module
    must read), C(kube_context) (context name), C(kube_cluster) and C(kube_user) (the names of
    the context's cluster and user entries), C(kube_server) (the API server URL, without any
    user information), and C(kube_namespace) when the context sets a namespace."
  - C(compose), C(groups), C(keyed_groups) and O(host_name) see those variables.
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: The name of this plugin; must be C(registrylink.k8s.kubeconfig).
    required: true
    type: str
    choices: [registrylink.k8s.kubeconfig]
  kubeconfig:
    description:
      - Kubeconfig sources. Each entry is a file path, a glob (every file it matches is a
        source of its own), or a C(KUBECONFIG)-style list of files separated by C(:).
      - A C(:)-separated list is merged the way C(kubectl) merges E(KUBECONFIG)
        (the first file that defines a context, cluster or user name wins; files that do not
        exist are skipped). Its hosts get the whole list as C(kubeconfig), which the
        collection's modules read the same way.
      - Relative paths are relative to the directory of this configuration file; C(~) is
        expanded. An entry may be a Jinja2 template, for example
        C({{ lookup('ansible.builtin.env', 'FLEET_KUBECONFIG') }}).
      - When not set, the E(KUBECONFIG) environment variable (one C(:)-separated source, relative
        paths from the current directory) and, when that is not set either, C(~/.kube/config).
      - A path or glob that names no file is an error naming the entry.
    type: list
    elements: str
  include_contexts:
    description:
      - Only contexts whose name matches one of these shell-style patterns (C(*), C(?),
        C([abc]); case-sensitive) become hosts. Empty or unset, every context.
    type: list
    elements: str
    default: []
  exclude_contexts:
    description:
      - Contexts whose name matches one of these shell-style patterns are left out, even when
        O(include_contexts) selects them.
    type: list
    elements: str
    default: []
  host_name:
    description:
      - A Jinja2 expression that gives the inventory host name of a context, evaluated with the
        host variables listed above (and O(use_extra_vars)).
      - Two contexts that would get the same host name are an error naming both files and
        contexts; kubeconfigs that all use one context name (for example
        C(kubernetes-admin@kubernetes) from kubeadm) need an expression such as
        C(kubeconfig | basename | splitext | first).
    type: str
    default: kube_context
  group:
    description:
      - Every host is put into this group. The collection's playbooks run on the group
        C(clusters) by default. An empty string puts hosts into no group of their own
        (C(groups) and C(keyed_groups) still apply).
    type: str
    default: clusters
notes:
  - Errors (a file that cannot be read or is not a kubeconfig, a context without a cluster or
    user entry, a context that names a cluster or user the kubeconfig does not define,
    duplicate host names) name the file and the context. Ansible reports an inventory source that
    fails as a warning and goes on without its hosts unless E(ANSIBLE_INVENTORY_UNPARSED_FAILED)
    is set.
  - With O(cache) on, the cache holds only the names and server URLs this plugin reads; a change of
    the kubeconfig files is seen when the cache expires (O(cache_timeout)) or with
    C(--flush-cache).
seealso:
  - name: Kubernetes documentation, organizing cluster access using kubeconfig files
    description: How kubectl finds and merges kubeconfig files.
    link: https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
'''

EXAMPLES = r'''
# fleet.kubeconfig.yml: every context of one file
plugin: registrylink.k8s.kubeconfig
kubeconfig: ~/.kube/fleet.yaml

---
# prod.kubeconfig.yml: one kubeconfig per cluster, all from kubeadm (same context name), the
# production ones only, grouped by region from the API server's host name
plugin: registrylink.k8s.kubeconfig
kubeconfig:
  - /etc/fleet/kubeconfigs/*.yaml
host_name: kubeconfig | basename | splitext | first
exclude_contexts: ['*-staging']
keyed_groups:
  - key: kube_server | urlsplit('hostname') | split('.') | first
    prefix: region
compose:
  ansible_connection: "'local'"

---
# local.kubeconfig.yml: the file named by an environment variable, else one next to this file
plugin: registrylink.k8s.kubeconfig
kubeconfig:
  - "{{ lookup('ansible.builtin.env', 'FLEET_KUBECONFIG') | default('kubeconfig', true) }}"
include_contexts: ['eu-*', 'us-*']
groups:
  eu: kube_context.startswith('eu-')
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/registrylink-inventory
cache_timeout: 600
'''

import fnmatch
import glob
import os
from urllib.parse import urlsplit, urlunsplit

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core itself needs PyYAML
    yaml = None

# What one context contributes: the host variables (all of them names or URLs, never a
# credential). This is also the whole content of the cache.
RECORD_KEYS = ('kubeconfig', 'kube_context', 'kube_cluster', 'kube_user', 'kube_server', 'kube_namespace')


class KubeconfigError(Exception):
    """A kubeconfig source that cannot be turned into hosts; the message names the file and context."""


def strip_userinfo(url):
    """The server URL without any ``user:password@`` part (the rest is kept as written)."""
    if not isinstance(url, str) or '@' not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return ''
    if not parts.netloc or '@' not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rsplit('@', 1)[1], parts.path, parts.query, parts.fragment))


def _named_entries(doc, section, path):
    """``{name: body}`` of one section (clusters, contexts, users) of a parsed kubeconfig."""
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise KubeconfigError('kubeconfig %s: "%s" must be a list, not %s' % (path, section, type(entries).__name__))
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get('name'), str) or not entry.get('name'):
            raise KubeconfigError('kubeconfig %s: %s[%d] has no name' % (path, section, index))
        body = entry.get(section[:-1])
        if body is not None and not isinstance(body, dict):
            raise KubeconfigError('kubeconfig %s: %s "%s": "%s" must be a mapping'
                                  % (path, section, entry['name'], section[:-1]))
        out.append((entry['name'], body or {}))
    return out


def load_kubeconfig(path):
    """Parse one kubeconfig file; return its ``{'clusters', 'contexts', 'users'}`` as ordered lists.

    :raises KubeconfigError: the file cannot be read, is not YAML, or is not shaped like a kubeconfig.
    """
    try:
        with open(path, 'rb') as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        raise KubeconfigError('kubeconfig %s cannot be read: %s' % (path, exc.strerror or exc))
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = ' (line %d)' % (mark.line + 1) if mark is not None else ''
        # The parser's message may quote the file's content (a token); only the position is shown.
        raise KubeconfigError('kubeconfig %s is not valid YAML%s' % (path, where))
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise KubeconfigError('kubeconfig %s is not a kubeconfig: a mapping with clusters, contexts '
                              'and users is expected, not %s' % (path, type(doc).__name__))
    return dict((section, _named_entries(doc, section, path)) for section in ('clusters', 'contexts', 'users'))


def contexts_of(paths):
    """The contexts of one source: one file, or several merged as kubectl merges ``KUBECONFIG``.

    The first file that defines a name wins (for contexts, clusters and users alike). Returns a
    list of records (dicts with the keys of ``RECORD_KEYS``, ``kubeconfig`` being the file or the
    ``:``-joined list) in file order.

    :raises KubeconfigError: a file is unreadable or malformed, a context lacks a cluster or user,
        or names one that no file of the source defines.
    """
    merged = {'clusters': {}, 'contexts': {}, 'users': {}}
    origin = {}
    order = []
    for path in paths:
        doc = load_kubeconfig(path)
        for section in ('clusters', 'contexts', 'users'):
            for name, body in doc[section]:
                if name not in merged[section]:
                    merged[section][name] = body
                    if section == 'contexts':
                        origin[name] = path
                        order.append(name)
    source = os.pathsep.join(paths)
    records = []
    for name in order:
        body = merged['contexts'][name]
        where = 'kubeconfig %s, context "%s"' % (origin[name], name)
        cluster, user = body.get('cluster'), body.get('user')
        if not isinstance(cluster, str) or not cluster:
            raise KubeconfigError('%s: the context names no cluster' % where)
        if not isinstance(user, str) or not user:
            raise KubeconfigError('%s: the context names no user' % where)
        if cluster not in merged['clusters']:
            raise KubeconfigError('%s: cluster "%s" is not defined in %s' % (where, cluster, source))
        if user not in merged['users']:
            raise KubeconfigError('%s: user "%s" is not defined in %s' % (where, user, source))
        server = merged['clusters'][cluster].get('server')
        if not isinstance(server, str) or not server:
            raise KubeconfigError('%s: cluster "%s" has no server URL' % (where, cluster))
        record = {
            'kubeconfig': source,
            'kube_context': name,
            'kube_cluster': cluster,
            'kube_user': user,
            'kube_server': strip_userinfo(server),
        }
        namespace = body.get('namespace')
        if isinstance(namespace, str) and namespace:
            record['kube_namespace'] = namespace
        records.append(record)
    return records


def expand_sources(entries, base_dir):
    """Turn the ``kubeconfig`` option's entries into sources (lists of absolute file paths).

    A glob gives one source per file it matches (sorted); a ``:``-separated list is one merged
    source of the files that exist; a plain path is one source.

    :raises KubeconfigError: an entry that names no file.
    """
    sources = []
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise KubeconfigError('kubeconfig: an entry is empty; give a file path, a glob or a ":"-separated list')
        parts = [p for p in entry.split(os.pathsep) if p.strip()]
        paths = [_absolute(p, base_dir) for p in parts]
        if len(paths) > 1:
            existing = [p for p in paths if os.path.isfile(p)]
            if not existing:
                raise KubeconfigError('kubeconfig %s: none of these files exists' % entry)
            sources.append(existing)
            continue
        path = paths[0]
        if glob.has_magic(path):
            matches = sorted(p for p in glob.glob(path) if os.path.isfile(p))
            if not matches:
                raise KubeconfigError('kubeconfig %s: the glob matches no file' % entry)
            sources.extend([match] for match in matches)
        elif not os.path.isfile(path):
            raise KubeconfigError('kubeconfig %s: file %s does not exist' % (entry, path))
        else:
            sources.append([path])
    return sources


def default_entries(environ=None, home=None):
    """What to read when the ``kubeconfig`` option is unset: ``$KUBECONFIG`` else ``~/.kube/config``."""
    environ = os.environ if environ is None else environ
    value = environ.get('KUBECONFIG', '')
    if value.strip():
        return [value]
    return [os.path.join(home or os.path.expanduser('~'), '.kube', 'config')]


def _absolute(path, base_dir):
    path = os.path.expanduser(path.strip())
    if not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return os.path.normpath(path)


def select_contexts(records, include, exclude):
    """Records whose context name matches ``include`` (all when empty) and no ``exclude`` pattern."""
    def matches(name, patterns):
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    return [r for r in records
            if (not include or matches(r['kube_context'], include)) and not matches(r['kube_context'], exclude)]


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Hosts from kubeconfig contexts."""

    NAME = 'registrylink.k8s.kubeconfig'

    def verify_file(self, path):
        if not super(InventoryModule, self).verify_file(path):
            return False
        return path.endswith(('kubeconfig.yml', 'kubeconfig.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        base_dir = os.path.dirname(os.path.abspath(path))

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        records = None
        if use_cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                records = None
        if records is None:
            try:
                records = self._read_sources(base_dir)
            except KubeconfigError as exc:
                raise AnsibleParserError(to_native(exc))
            if self.get_option('cache'):
                self._cache[cache_key] = records
        self._populate(records)

    def _read_sources(self, base_dir):
        entries = self.get_option('kubeconfig')
        if entries:
            entries = [self._render(entry) for entry in entries]
        else:
            entries = default_entries()
            base_dir = os.getcwd()
        records = []
        for source in expand_sources(entries, base_dir):
            records.extend(contexts_of(source))
        # Keep only the known keys: the cache and the host variables carry nothing else.
        return [dict((k, r[k]) for k in RECORD_KEYS if k in r) for r in records]

    def _render(self, entry):
        if isinstance(entry, str) and ('{{' in entry or '{%' in entry):
            try:
                return to_native(self.templar.template(entry))
            except Exception as exc:
                raise KubeconfigError('kubeconfig entry %s cannot be templated: %s' % (entry, to_native(exc)))
        return entry

    def _populate(self, records):
        strict = self.get_option('strict')
        group = self.get_option('group')
        selected = select_contexts(records, self.get_option('include_contexts') or [],
                                   self.get_option('exclude_contexts') or [])
        seen = {}
        if group:
            self.inventory.add_group(group)
        for record in selected:
            name = self._host_name(record)
            where = 'kubeconfig %s, context "%s"' % (record['kubeconfig'], record['kube_context'])
            if name in seen:
                raise AnsibleParserError(
                    'host name "%s" of %s is also the host name of %s; set host_name to an expression that '
                    'tells them apart, or exclude one with exclude_contexts' % (name, where, seen[name]))
            seen[name] = where
            self.inventory.add_host(name, group=group or None)
            for key, value in record.items():
                self.inventory.set_variable(name, key, value)
            hostvars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option('compose'), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, name, strict=strict)

    def _host_name(self, record):
        expression = self.get_option('host_name') or 'kube_context'
        where = 'kubeconfig %s, context "%s"' % (record['kubeconfig'], record['kube_context'])
        try:
            name = self._compose(expression, dict(record))
        except Exception as exc:
            raise AnsibleParserError('host_name %s failed for %s: %s' % (expression, where, to_native(exc)))
        if not isinstance(name, str) or not name.strip():
            raise AnsibleParserError('host_name %s gave %r for %s; it must give a non-empty string'
                                     % (expression, name, where))
        return name.strip()
