# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``containerd_hosts``: reads the certificate files named by ``ca_file``,
``client_cert_file`` and ``client_key_file`` on the controller and hands their text to the module,
which runs on the node."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

#: option naming a file on the controller -> option the module receives its text in
FILE_OPTIONS = (('ca_file', 'ca'), ('client_cert_file', 'client_cert'), ('client_key_file', 'client_key'))


class FileOptionError(Exception):
    def __init__(self, msg, field):
        super(FileOptionError, self).__init__(msg)
        self.msg = msg
        self.field = field


def decode_pem_file(data, field, path):
    """The text of a PEM file read on the controller. A binary file (DER) is refused here with the
    conversion to use; passed on, its bytes could not even be sent to the node."""
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        raise FileOptionError('%s: %s is not a PEM text file (binary, such as DER): convert it, for example with'
                              ' openssl x509 -inform der -in %s -out cert.pem (a key: openssl pkey -inform der)'
                              % (field, path, path), field)


def refuse_key_as_certificate(text, field, path, text_option):
    """A ``ca_file`` / ``client_cert_file`` holding a private key (a key file, or a cert+key bundle)
    is refused on the controller: the key never travels to the node, where it would be written to a
    world-readable ``.crt`` file, and never appears in the module's logged options."""
    if text_option != 'client_key' and 'PRIVATE KEY-----' in text:
        raise FileOptionError('%s: %s holds a private key (a -----BEGIN ... PRIVATE KEY----- block): give a file with'
                              ' the certificate only; a client key goes into client_key_file' % (field, path), field)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _read(self, path, field):
        try:
            found = self._find_needle('files', path)
            real = self._loader.get_real_file(found, decrypt=True)
            with open(real, 'rb') as f:
                data = f.read()
        except (AnsibleError, IOError, OSError, UnicodeError) as exc:
            raise FileOptionError('%s: cannot read %s on the controller (%s); give the path of a PEM file'
                                  % (field, path, to_text(exc).splitlines()[0] if to_text(exc) else type(exc).__name__),
                                  field)
        return decode_pem_file(data, field, path)

    def _load_files(self, endpoint, field):
        if not isinstance(endpoint, dict):
            return
        for file_option, text_option in FILE_OPTIONS:
            path = endpoint.pop(file_option, None)
            if path is None:
                continue
            if endpoint.get(text_option):
                raise FileOptionError('%s.%s and %s.%s are mutually exclusive: give one'
                                      % (field, file_option, field, text_option), '%s.%s' % (field, file_option))
            text = self._read(path, '%s.%s' % (field, file_option))
            refuse_key_as_certificate(text, '%s.%s' % (field, file_option), path, text_option)
            endpoint[text_option] = text

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = copy.deepcopy(self._task.args)
        registries = args.get('registries')
        try:
            if isinstance(registries, list):
                for i, registry in enumerate(registries):
                    self._load_files(registry, 'registries[%d]' % i)
                    mirrors = registry.get('mirrors') if isinstance(registry, dict) else None
                    for j, mirror in enumerate(mirrors if isinstance(mirrors, list) else []):
                        self._load_files(mirror, 'registries[%d].mirrors[%d]' % (i, j))
        except FileOptionError as exc:
            result.update(failed=True, changed=False, msg=exc.msg, field=exc.field)
            return result
        result.update(self._execute_module(module_name='registrylink.k8s.containerd_hosts', module_args=args,
                                           task_vars=task_vars))
        return result
