# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory Azure Resource Manager for the unit tests of the ARM modules (acr_attach,
azure_workload_identity): ``request(method, path, api_version, body, ok, what)`` like
``_azure.ArmClient``. This base holds a registry (with its role assignment permissions mode),
the two pull role definitions and role assignments at the registry's scope, with a propagation
window counted in GETs (``invisible_gets``) and a 409 on PUT (``conflict_on_put``). Subclasses
answer their own paths first (``route``) and fall back to it. The HTTP shapes are checked end to
end against the stand-in in tests/integration/test_acr.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import AzureAPIError

SUB = '11111111-2222-3333-4444-555555555555'
REG = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myregistry' % SUB
AKS = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/prod' % SUB
PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
READER = 'b93aa761-3e63-49ed-ac28-beffa264f7ac'


def not_found(path, code='ResourceNotFound'):
    return AzureAPIError('GET %s: HTTP 404 %s' % (path, code), status=404, code=code)


class FakeArmBase(object):
    """Registry, role definitions and role assignments in memory; see the module docstring."""

    def __init__(self, mode='LegacyRegistryPermissions', invisible_gets=0):
        self.mode = mode
        self.assignments = {}
        self.invisible_gets = invisible_gets
        self.conflict_on_put = False
        self.calls = []

    def route(self, method, path, body):
        """A subclass's own paths: a ``(status, body, headers)`` answer, or None to fall back."""
        return None

    def request(self, method, path, api_version, body=None, ok=None, what=None):
        self.calls.append((method, path))
        answer = self.route(method, path, body)
        if answer is not None:
            return answer
        if path == REG:
            return 200, {'id': REG, 'properties': {'roleAssignmentMode': self.mode}}, {}
        if '/roleDefinitions?' in path:
            name = path.split("'")[1]
            guid = {'AcrPull': PULL, 'Container Registry Repository Reader': READER}.get(name)
            value = [{'id': '/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s' % (SUB, guid),
                      'properties': {'roleName': name}}] if guid else []
            return 200, {'value': value}, {}
        if path.endswith('roleAssignments?$filter=atScope()'):
            return 200, {'value': list(self.assignments.values())}, {}
        if '/roleAssignments/' in path:
            return self._assignment(method, path, body)
        raise AssertionError('unexpected %s %s' % (method, path))

    def _assignment(self, method, path, body):
        if method == 'PUT':
            if self.conflict_on_put:
                raise AzureAPIError('PUT: HTTP 409 RoleAssignmentExists', status=409, code='RoleAssignmentExists')
            made = {'id': path, 'name': path.rsplit('/', 1)[1], 'properties': dict(body['properties'], scope=REG)}
            self.assignments[path] = made
            return 201, made, {}
        if method == 'DELETE':
            self.assignments.pop(path, None)
            return 200, {}, {}
        if self.invisible_gets > 0:
            self.invisible_gets -= 1
            raise not_found(path, 'RoleAssignmentNotFound')
        if path in self.assignments:
            return 200, self.assignments[path], {}
        raise not_found(path, 'RoleAssignmentNotFound')

    def writes(self):
        """The PUT and DELETE calls made, ``(method, path)``."""
        return [c for c in self.calls if c[0] in ('PUT', 'DELETE')]
