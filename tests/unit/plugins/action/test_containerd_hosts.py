"""containerd_hosts action plugin: files read on the controller."""

import pytest

from ansible_collections.registrylink.k8s.plugins.action import containerd_hosts as action

CERT = "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("text_option", ["ca", "client_cert"])
@pytest.mark.parametrize("text", [KEY, CERT + KEY, KEY.replace("PRIVATE", "RSA PRIVATE")])
def test_a_key_file_given_as_a_certificate_never_leaves_the_controller(text_option, text):
    with pytest.raises(action.FileOptionError) as exc:
        action.refuse_key_as_certificate(text, "registries[0].%s_file" % text_option, "/x/ca.pem", text_option)
    assert exc.value.field == "registries[0].%s_file" % text_option
    assert "private key" in exc.value.msg and "c2VjcmV0" not in exc.value.msg


def test_certificates_and_client_keys_pass():
    action.refuse_key_as_certificate(CERT, "f", "/x", "ca")
    action.refuse_key_as_certificate(KEY, "f", "/x", "client_key")


def test_a_der_file_is_refused_with_the_conversion():
    der = b"0\x82\x03\x030\x82\x01\xeb\xa0\x03\x02\x01\x02"
    with pytest.raises(action.FileOptionError) as exc:
        action.decode_pem_file(der, "registries[0].ca_file", "/x/ca.der")
    assert exc.value.field == "registries[0].ca_file" and "openssl x509 -inform der" in exc.value.msg
    assert action.decode_pem_file(CERT.encode(), "f", "/x") == CERT
