# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Azure credentials and endpoints (_azure.AZURE_ARGSPEC).
    DOCUMENTATION = r'''
options:
  tenant_id:
    description:
      - The Microsoft Entra tenant (directory) ID or domain. Default the environment variable C(AZURE_TENANT_ID).
    type: str
  client_id:
    description:
      - The application (client) ID of a service principal, or of the user-assigned managed identity or workload
        identity the credential chain should use. Default C(AZURE_CLIENT_ID).
    type: str
  client_secret:
    description:
      - The service principal's client secret; needs O(tenant_id) and O(client_id). Never logged or returned.
      - When unset, azure-identity's C(DefaultAzureCredential) chain is used (C(AZURE_CLIENT_SECRET) or
        C(AZURE_CLIENT_CERTIFICATE_PATH) from the environment, workload identity, managed identity, Azure CLI
        login); interactive browser login is excluded.
    type: str
  authority_host:
    description:
      - The Microsoft Entra authority (sovereign clouds such as V(https://login.microsoftonline.us), private
        clouds, tests). Default C(AZURE_AUTHORITY_HOST), else the public cloud.
    type: str
  arm_endpoint:
    description:
      - The Azure Resource Manager endpoint, also the audience of the token (V(https://management.usgovcloudapi.net),
        V(https://management.chinacloudapi.cn), a test stand-in). Default V(https://management.azure.com).
    type: str
  ca_path:
    description:
      - A PEM bundle of the certificate authorities to trust for the authority and Resource Manager. Default the
        system trust store.
    type: path
requirements:
  - azure-identity (C(requirements-azure.txt))
'''
