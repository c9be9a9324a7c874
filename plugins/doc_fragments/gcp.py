# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Google Cloud connection: credentials and API endpoints (argument spec: _gcp.GCP_ARGSPEC).
    DOCUMENTATION = r'''
options:
  credentials_file:
    description:
      - Path of a Google credentials file on the host that runs the module (a service account key, gcloud's
        application default credentials, a workload identity federation configuration).
      - Unset, Application Default Credentials are used (E(GOOGLE_APPLICATION_CREDENTIALS), gcloud's
        application default credentials, or the metadata server on GCE and on GKE with Workload Identity).
      - The file is checked before any call; its content is never logged or returned.
    type: path
  token_uri:
    description:
      - Replaces the OAuth2 token endpoint of a service account key or gcloud user credentials (a private
        endpoint, a test endpoint). Trust a private CA with E(REQUESTS_CA_BUNDLE).
    type: str
  resource_manager_endpoint:
    description:
      - Base URL of the Resource Manager API (project IAM policies).
    type: str
    default: https://cloudresourcemanager.googleapis.com
  artifact_registry_endpoint:
    description:
      - Base URL of the Artifact Registry API (repository IAM policies).
    type: str
    default: https://artifactregistry.googleapis.com
  iam_endpoint:
    description:
      - Base URL of the IAM API (service account IAM policies).
    type: str
    default: https://iam.googleapis.com
  container_endpoint:
    description:
      - Base URL of the GKE API (clusters and node pools).
    type: str
    default: https://container.googleapis.com
requirements:
  - google-auth >= 2.20.0
'''
