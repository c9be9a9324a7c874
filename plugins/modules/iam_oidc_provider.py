#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: iam_oidc_provider
short_description: IAM OpenID Connect identity provider (the issuer of an EKS cluster, for IRSA)
version_added: 0.1.0
description:
  - Ensures an IAM OpenID Connect identity provider exists for an issuer URL, or is absent. IRSA (IAM
    roles for ServiceAccounts) needs the cluster's OIDC issuer registered in IAM before a role can trust
    C(system:serviceaccount:<namespace>:<name>) tokens.
  - amazon.aws has no module for this resource; this one is deliberately small. It is used by the
    C(registrylink.k8s.eks_ecr) role.
  - A provider created by this module carries the tag C(app.kubernetes.io/managed-by=registrylink.k8s).
    A provider without that tag (created by eksctl, Terraform or the console) is never deleted, never
    loses client IDs, thumbprints or tags, and gets none of the O(tags), unless O(force=true); only missing
    O(client_ids) are added to it. With O(state=absent) such a provider is left in place with a warning
    and RV(action=kept).
  - Client IDs and tags are additive by default; O(purge_client_ids) and O(purge_tags) make them exact.
  - AWS credentials come from the standard chain (environment, O(profile), web identity, instance role);
    the module takes no AWS key as an option.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_aws
attributes:
  check_mode:
    support: full
    details: Reads IAM and reports what would change; the ARN of a provider that would be created is computed from the caller's account.
  diff_mode:
    support: full
    details: Before and after views with URL, client IDs, thumbprints and tags.
  idempotent:
    support: full
options:
  url:
    description:
      - The issuer URL, C(https://...), as the cluster reports it (for EKS
        C(aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer)).
      - A trailing slash is ignored; the host is compared case-insensitively.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the provider; V(absent) deletes it (only a provider this collection
        created, unless O(force=true)).
    type: str
    choices: [present, absent]
    default: present
  client_ids:
    description:
      - Client IDs (audiences) the provider accepts. IRSA uses C(sts.amazonaws.com).
      - Added to the existing ones; with O(purge_client_ids=true) the list is made exact.
    type: list
    elements: str
    default: [sts.amazonaws.com]
  purge_client_ids:
    description:
      - Remove client IDs that O(client_ids) does not list.
    type: bool
    default: false
  thumbprints:
    description:
      - SHA-1 fingerprints (40 hex digits, at most 5) of the issuer's certificate chain.
      - Omitted, they are left to IAM on creation (IAM no longer needs them for well-known issuers such as
        EKS) and left unchanged on an existing provider. Given, they replace the existing ones.
    type: list
    elements: str
  tags:
    description:
      - Tags to set. C(app.kubernetes.io/managed-by=registrylink.k8s) is added on creation (and on an
        existing provider with O(force=true)); it cannot be given another value.
    type: dict
    default: {}
  purge_tags:
    description:
      - Remove tags that O(tags) does not list (our ownership tag stays).
    type: bool
    default: false
  force:
    description:
      - Act on a provider this collection did not create. Delete it (O(state=absent)), remove client IDs,
        thumbprints or tags from it, and take it over by adding the ownership tag.
    type: bool
    default: false
  region:
    description:
      - AWS region for the API client. IAM is global; the region only selects the partition's endpoint.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - A profile of the AWS shared config files.
      - Can also be set with the E(AWS_PROFILE) environment variable.
    type: str
    aliases: [aws_profile]
  endpoint_url:
    description:
      - URL of the IAM and STS APIs (a test endpoint such as moto). Unset, the standard configuration applies
        (E(AWS_ENDPOINT_URL_IAM), E(AWS_ENDPOINT_URL)).
    type: str
    aliases: [aws_endpoint_url]
requirements:
  - boto3 >= 1.28.0
notes:
  - "Errors, all before any change: O(url) is not an C(https://) URL; a thumbprint is not 40 hex digits; a
    tag value is not a string; a change that would remove something from a provider this collection did
    not create, without O(force). AWS errors (access denied, no credentials) name the IAM operation."
seealso:
  - name: Create an IAM OIDC provider for your EKS cluster
    description: The AWS guide for IRSA.
    link: https://docs.aws.amazon.com/eks/latest/userguide/enable-iam-roles-for-service-accounts.html
  - module: amazon.aws.iam_role
'''

EXAMPLES = r'''
- name: Register an EKS cluster's issuer for IRSA
  registrylink.k8s.iam_oidc_provider:
    url: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
    tags:
      registrylink.k8s/cluster: prod-eu
  register: oidc

- name: Trust ServiceAccount tokens of that issuer
  amazon.aws.iam_role:
    name: ecr-refresher
    assume_role_policy_document: "{{ lookup('ansible.builtin.template', 'trust.json.j2') }}"
  vars:
    provider_arn: "{{ oidc.arn }}"

- name: Remove it again (only if this collection created it)
  registrylink.k8s.iam_oidc_provider:
    url: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
    state: absent
'''

RETURN = r'''
changed:
  description: Whether the provider was (or, in check mode, would be) created, updated or deleted.
  returned: always
  type: bool
action:
  description: C(created), C(updated), C(unchanged), C(deleted), C(absent) (nothing to delete) or C(kept)
    (not created by this collection, left in place).
  returned: always
  type: str
  sample: created
arn:
  description: The provider's ARN (computed from the caller's account in check mode before creation).
  returned: unless RV(action=absent)
  type: str
  sample: arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE
url:
  description: The normalised issuer URL.
  returned: always
  type: str
managed:
  description: Whether the provider carries this collection's ownership tag after the task.
  returned: always
  type: bool
client_ids:
  description: The client IDs after the task.
  returned: always
  type: list
  elements: str
thumbprints:
  description: The thumbprints after the task.
  returned: always
  type: list
  elements: str
tags:
  description: The tags after the task.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import env_fallback

from ansible_collections.registrylink.k8s.plugins.module_utils._iam_oidc_provider import OidcProviderRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module


def argument_spec():
    return dict(
        url=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        client_ids=dict(type='list', elements='str', default=['sts.amazonaws.com']),
        purge_client_ids=dict(type='bool', default=False),
        thumbprints=dict(type='list', elements='str'),
        tags=dict(type='dict', default={}),
        purge_tags=dict(type='bool', default=False),
        force=dict(type='bool', default=False),
        region=dict(type='str', aliases=['aws_region']),
        profile=dict(type='str', aliases=['aws_profile'], fallback=(env_fallback, ['AWS_PROFILE'])),
        endpoint_url=dict(type='str', aliases=['aws_endpoint_url']),
    )


def main():
    run_module(OidcProviderRunner, argument_spec(), requires=('boto3',))


if __name__ == '__main__':
    main()
