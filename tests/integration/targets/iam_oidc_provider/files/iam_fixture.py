#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and independent read-back for the iam_oidc_provider target, with boto3 against the
endpoint in $AWS_ENDPOINT_URL (moto). Prints JSON.

  iam_fixture.py read URL          {exists, arn, client_ids, thumbprints, tags}
  iam_fixture.py unmanaged URL     create a provider without the managed-by tag (as eksctl would)
  iam_fixture.py cleanup URL...    delete the providers of these URLs
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

import boto3


def iam():
    return boto3.client('iam', region_name=os.environ.get('AWS_DEFAULT_REGION', 'us-east-1'),
                        endpoint_url=os.environ.get('AWS_ENDPOINT_URL'))


def _find(client, url):
    ident = url.replace('https://', '', 1).rstrip('/')
    for item in client.list_open_id_connect_providers()['OpenIDConnectProviderList']:
        if item['Arn'].endswith(':oidc-provider/' + ident):
            return item['Arn']
    return None


def read(client, url):
    arn = _find(client, url)
    if arn is None:
        return {'exists': False}
    got = client.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    return {'exists': True, 'arn': arn, 'client_ids': sorted(got.get('ClientIDList') or []),
            'thumbprints': got.get('ThumbprintList') or [],
            'tags': dict((t['Key'], t['Value']) for t in got.get('Tags') or [])}


def unmanaged(client, url):
    arn = client.create_open_id_connect_provider(Url=url, ClientIDList=['sts.amazonaws.com'],
                                                 ThumbprintList=['9e99a48a9960b14926bb7f3b02e22da2b0ab7280'])
    return {'arn': arn['OpenIDConnectProviderArn']}


def cleanup(client, *urls):
    gone = []
    for url in urls:
        arn = _find(client, url)
        if arn:
            client.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
            gone.append(arn)
    return {'deleted': gone}


def main(argv):
    out = {'read': read, 'unmanaged': unmanaged, 'cleanup': cleanup}[argv[1]](iam(), *argv[2:])
    print(json.dumps(out))


if __name__ == '__main__':
    main(sys.argv)
