# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS access over boto3: sessions, clients, one error mapping. Private to this collection.

Credentials always come from the standard AWS chain (environment, shared config / profile,
web identity such as IRSA, container or instance role); this file never takes a key as a
parameter, so no module of the collection has an AWS secret among its options. Retries
(throttling, 5xx) are botocore's ``standard`` mode, configured here and nowhere else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported when a module needs it
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError

ROLE_SESSION_NAME = 'registrylink-k8s'
REGION_RE = re.compile(r'^[a-z]{2}(-[a-z0-9]+)+-\d+$')
ENDPOINT_URL_RE = re.compile(r'^https?://[^/\s?#]+(/[^\s]*)?$')
MAX_ATTEMPTS = 5


def require_boto3(what):
    """Raise ProviderError naming ``what`` when boto3 is not importable."""
    if not HAS_BOTO3:
        raise ProviderError('%s needs the boto3 Python library on the host that runs the module '
                            '(pip install boto3): %s' % (what, BOTO3_IMPORT_ERROR))


def _config():
    return botocore.config.Config(retries={'mode': 'standard', 'max_attempts': MAX_ATTEMPTS},
                                  user_agent_extra='registrylink.k8s')


def error_text(exc):
    """A secret-free one-line description of a boto3/botocore exception: ``Code: message``.

    AWS error responses and botocore messages never carry the caller's secret key or a
    token; the text is cut at 300 characters.
    """
    if HAS_BOTO3 and isinstance(exc, botocore.exceptions.ClientError):
        err = (getattr(exc, 'response', None) or {}).get('Error') or {}
        text = '%s: %s' % (err.get('Code') or 'Error', err.get('Message') or '')
    else:
        text = '%s: %s' % (type(exc).__name__, exc)
    return text[:300]


def error_code(exc):
    """The AWS error code of a ClientError (``AccessDenied``, ``NoSuchEntity``, ...), or None."""
    if HAS_BOTO3 and isinstance(exc, botocore.exceptions.ClientError):
        return ((getattr(exc, 'response', None) or {}).get('Error') or {}).get('Code')
    return None


def call(action, func, **kwargs):
    """Run one AWS API call; map every boto3/botocore failure to ProviderError.

    :param action: what is being done, for the message (``ECR GetAuthorizationToken``).
    :returns: the response dict.
    :raises ProviderError: with ``aws_error_code`` when AWS answered with an error.
    """
    try:
        return func(**kwargs)
    except Exception as exc:  # boto3 raises many unrelated types; all end here
        if not HAS_BOTO3 or not isinstance(exc, (botocore.exceptions.BotoCoreError,
                                                 botocore.exceptions.ClientError)):
            raise
        hint = ''
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            hint = (' (no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, '
                    'or run where a web identity (IRSA) or instance role is available)')
        raise ProviderError('%s failed: %s%s' % (action, error_text(exc), hint), aws_error_code=error_code(exc))


def session(region=None, profile=None, role_arn=None, role_session_name=ROLE_SESSION_NAME, sts_endpoint_url=None,
            what='AWS'):
    """A boto3 Session from the standard credential chain, optionally for an assumed role.

    :param region: region name, or None for the chain's default.
    :param profile: a profile of the shared config files, or None.
    :param role_arn: when set, the chain's credentials assume this role (STS AssumeRole) and the
        returned session uses the temporary credentials.
    :param sts_endpoint_url: STS endpoint for AssumeRole; None follows the standard configuration
        (``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL``).
    :raises ValidationError: unknown profile (``field='aws_profile'``).
    :raises ProviderError: boto3 missing, or AssumeRole failed.
    """
    require_boto3(what)
    try:
        sess = boto3.session.Session(profile_name=profile or None, region_name=region or None)
    except botocore.exceptions.ProfileNotFound:
        raise ValidationError('aws_profile: profile %r is not in the AWS shared config/credentials files' % profile,
                              field='aws_profile')
    if not role_arn:
        return sess
    sts = sess.client('sts', endpoint_url=sts_endpoint_url or None, config=_config())
    resp = call('STS AssumeRole %s' % role_arn, sts.assume_role, RoleArn=role_arn, RoleSessionName=role_session_name)
    creds = resp['Credentials']
    return boto3.session.Session(aws_access_key_id=creds['AccessKeyId'],
                                 aws_secret_access_key=creds['SecretAccessKey'],
                                 aws_session_token=creds['SessionToken'],
                                 region_name=region or sess.region_name)


def check_options(region=None, endpoint_url=None, region_field='region', endpoint_field='endpoint_url'):
    """Refuse a region or endpoint URL that cannot work, naming the option, before any AWS call.

    :raises ValidationError: ``region`` is not a region name (``eu-west-1``), ``endpoint_url`` is not
        an http(s) URL.
    """
    if region and not REGION_RE.match(region):
        raise ValidationError('%s: %r is not an AWS region name (for example eu-west-1)' % (region_field, region),
                              field=region_field)
    if endpoint_url and not ENDPOINT_URL_RE.match(endpoint_url):
        raise ValidationError('%s: %r is not an http(s) URL (for example https://iam.amazonaws.com, or a test '
                              'endpoint such as http://127.0.0.1:5000); leave it unset for AWS itself'
                              % (endpoint_field, endpoint_url), field=endpoint_field)


def client(sess, service, endpoint_url=None, region=None):
    """A boto3 client of ``sess`` for ``service`` with the collection's retry configuration.

    :raises ValidationError: botocore refuses the endpoint URL (``field='endpoint_url'``).
    """
    try:
        return sess.client(service, endpoint_url=endpoint_url or None, region_name=region or sess.region_name,
                           config=_config())
    except ValueError as exc:
        raise ValidationError('endpoint_url: %s (give an http(s) URL, or leave it unset for AWS itself)' % exc,
                              field='endpoint_url')
