# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container image reference parsing, the way docker / the kubelet normalise names. Private to this collection.

This reproduces ``distribution/reference`` (``normalize.go`` ``ParseNormalizedNamed`` /
``splitDockerDomain``, ``reference.go`` ``Parse``, ``regexp.go``) and the kubelet's
``pkg/util/parsers/parsers.go`` ``ParseImageName`` (tag ``latest`` only when there is
neither a tag nor a digest). Pure: no I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError

DEFAULT_DOMAIN = 'docker.io'
LEGACY_DEFAULT_DOMAIN = 'index.docker.io'
OFFICIAL_REPO_PREFIX = 'library/'
LOCALHOST = 'localhost'
NAME_TOTAL_LENGTH_MAX = 255

# distribution/reference regexp.go (Go's \w is ASCII-only, so it is spelled out here).
_ALNUM = r'[a-z0-9]+'
_SEPARATOR = r'(?:[._]|__|[-]+)'
_PATH_COMPONENT = _ALNUM + r'(?:' + _SEPARATOR + _ALNUM + r')*'
_DOMAIN_NAME_COMPONENT = r'(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
_DOMAIN_NAME = _DOMAIN_NAME_COMPONENT + r'(?:\.' + _DOMAIN_NAME_COMPONENT + r')*'
_IPV6 = r'\[(?:[a-fA-F0-9:]+)\]'
_DOMAIN_AND_PORT = r'(?:' + _DOMAIN_NAME + r'|' + _IPV6 + r')(?::[0-9]+)?'
_TAG = r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
_DIGEST = r'[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}'
_NAME = (r'(?:(' + _DOMAIN_AND_PORT + r')/)?(' + _PATH_COMPONENT + r'(?:/' + _PATH_COMPONENT + r')*)')

_REFERENCE_RE = re.compile(r'^(' + _NAME + r')(?::(' + _TAG + r'))?(?:@(' + _DIGEST + r'))?$')
_ANCHORED_IDENTIFIER_RE = re.compile(r'^[a-f0-9]{64}$')
_TAG_RE = re.compile(r'^' + _TAG + r'$')

# go-digest: the algorithms distribution registers, with their hex lengths.
_DIGEST_HEX_LEN = {'sha256': 64, 'sha384': 96, 'sha512': 128}
_DIGEST_FORMAT_RE = re.compile(r'^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$')


class ImageRef(collections.namedtuple('ImageRef', ['registry', 'repository', 'tag', 'digest', 'original'])):
    """A parsed, normalised image reference.

    Fields: ``registry`` (``host[:port]``, Docker Hub is ``docker.io``; None when the first
    component is not a valid host, e.g. ``reg_example.com/app``), ``repository``
    (path without the registry, ``library/`` added for Docker Hub official images),
    ``tag`` (``'latest'`` when neither tag nor digest was given, ``None`` when only a
    digest was given), ``digest`` (``algo:hex`` or ``None``), ``original`` (the input).
    """

    __slots__ = ()

    @property
    def name(self):
        """``registry/repository`` exactly as ``reference.Named.Name()`` returns it.

        This is the string the kubelet looks up in its keyring (``ParseImageName``'s
        ``repoToPull``), e.g. ``docker.io/library/nginx``. Without a registry (``registry``
        None, see ``parse_image_reference``) it is the repository alone.
        """
        if self.registry is None:
            return self.repository
        return self.registry + '/' + self.repository

    @property
    def familiar_name(self):
        """The short form docker shows (``reference.FamiliarName``): ``nginx``, ``team/app``."""
        if self.registry == DEFAULT_DOMAIN:
            repo = self.repository
            if repo.startswith(OFFICIAL_REPO_PREFIX) and '/' not in repo[len(OFFICIAL_REPO_PREFIX):]:
                return repo[len(OFFICIAL_REPO_PREFIX):]
            return repo
        return self.name


def _split_docker_domain(name):
    """``splitDockerDomain`` from distribution/reference normalize.go (current version)."""
    if '/' not in name:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    maybe_domain, maybe_remote = name.split('/', 1)
    if maybe_domain == LOCALHOST:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif '.' in maybe_domain or ':' in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain.lower() != maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and '/' not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def _validate_digest(value, field, original):
    """go-digest ``Digest.Validate`` for the algorithms distribution registers."""
    algorithm, _sep, encoded = value.partition(':')
    hex_len = _DIGEST_HEX_LEN.get(algorithm)
    if hex_len is None:
        if not _DIGEST_FORMAT_RE.match(value):
            raise ValidationError('%s: invalid digest format in %r' % (field, original), field=field)
        raise ValidationError('%s: unsupported digest algorithm %r in %r (supported: sha256, sha384, sha512)'
                              % (field, algorithm, original), field=field)
    if len(encoded) != hex_len or not re.match(r'^[a-f0-9]+$', encoded):
        raise ValidationError('%s: invalid digest in %r: %s needs exactly %d lowercase hex digits'
                              % (field, original, algorithm, hex_len), field=field)


def parse_image_reference(image, field='image'):
    """Parse and normalise an image reference as ``reference.ParseNormalizedNamed`` does.

    Rules (distribution/reference ``normalize.go`` ``splitDockerDomain``, ``reference.go``
    ``Parse``, ``regexp.go``; kubelet ``pkg/util/parsers/parsers.go`` ``ParseImageName``):

    * the first ``/``-component is the registry only if it contains ``.`` or ``:``, is
      ``localhost``, or contains an uppercase letter; otherwise the registry is
      ``docker.io``; ``index.docker.io`` is rewritten to ``docker.io``;
    * on ``docker.io`` a single-component repository gets ``library/``;
    * the repository must be lowercase (``[a-z0-9]`` separated by ``.``, ``_``, ``__``
      or runs of ``-``); the tag matches ``[\\w][\\w.-]{0,127}``; the repository (the path
      after the registry) is at most 255 characters; a bare 64-hex string is refused;
    * a first component that ``splitDockerDomain`` takes for a registry but that is not a
      valid registry host (``reg_example.com/app``: ``_`` is not allowed in a host) is read
      as part of the path: ``registry`` is None and ``name`` is the whole path, which is what
      the kubelet looks up (no registry host; nothing can pull it from a registry);
    * the tag defaults to ``latest`` only when there is neither a tag nor a digest.

    Args: ``image`` (str), ``field`` (the option name used in error messages).
    Returns: ``ImageRef(registry, repository, tag, digest, original)``.
    Raises: ``ValidationError(field=field)`` for anything the kubelet would reject with
    ``InvalidImageName`` (empty, uppercase repository, bad characters, bad tag or digest,
    name too long).
    """
    if not isinstance(image, str):
        raise ValidationError('%s: expected an image reference string, got %s' % (field, type(image).__name__),
                              field=field)
    if image == '':
        raise ValidationError('%s: the image reference is empty' % field, field=field)
    if image != image.strip():
        raise ValidationError('%s: the image reference %r has leading or trailing whitespace' % (field, image),
                              field=field)
    if _ANCHORED_IDENTIFIER_RE.match(image):
        raise ValidationError('%s: invalid repository name (%s), cannot specify 64-byte hexadecimal strings'
                              % (field, image), field=field)
    domain, remainder = _split_docker_domain(image)
    remote = remainder.split(':', 1)[0]
    if remote.lower() != remote:
        raise ValidationError('%s: invalid reference format: repository name (%s) must be lowercase'
                              % (field, remote), field=field)
    full = domain + '/' + remainder
    m = _REFERENCE_RE.match(full)
    if not m:
        if _REFERENCE_RE.match(full.lower()):
            raise ValidationError('%s: invalid reference format: repository name must be lowercase (%r)'
                                  % (field, image), field=field)
        raise ValidationError('%s: invalid reference format: %r is not a valid image reference'
                              % (field, image), field=field)
    registry, repository, tag, digest = m.group(2), m.group(3), m.group(4), m.group(5)
    if len(repository) > NAME_TOTAL_LENGTH_MAX:
        raise ValidationError('%s: repository name must not be more than %d characters (%r): the limit is on the '
                              'path after the registry' % (field, NAME_TOTAL_LENGTH_MAX, image), field=field)
    if digest:
        _validate_digest(digest, field, image)
    if not tag and not digest:
        tag = 'latest'
    return ImageRef(registry, repository, tag or None, digest or None, image)


def require_registry(ref, field='image'):
    """``ref`` (an ``ImageRef``) when it names a registry to contact; else a ValidationError.

    An image such as ``reg_example.com/app`` parses (the kubelet accepts it), but its first
    component is not a valid host (``_`` is not allowed), so it is part of the repository path
    and there is no registry to probe or pull from.
    """
    if ref.registry is None:
        first = ref.repository.split('/', 1)[0]
        raise ValidationError('%s: %r: the first component %r is not a valid registry host (a host may not contain '
                              '"_"), so it is read as part of the repository path and there is no registry to pull '
                              'from; the kubelet looks up %r. Fix the registry host name'
                              % (field, ref.original, first, ref.name), field=field)
    return ref


def format_reference(ref, familiar=False):
    """Format an ``ImageRef`` back into a reference string.

    Args: ``ref`` (``ImageRef``, or a string which is parsed first), ``familiar`` (bool:
    ``nginx:latest`` instead of ``docker.io/library/nginx:latest``, as
    ``reference.FamiliarString`` does).
    Returns: ``name[:tag][@digest]`` (str). The fully qualified form re-parses to the same
    ``ImageRef`` fields.
    Raises: ``ValidationError`` when ``ref`` is a string that does not parse.
    """
    if isinstance(ref, str):
        ref = parse_image_reference(ref)
    out = ref.familiar_name if familiar else ref.name
    if ref.tag:
        out += ':' + ref.tag
    if ref.digest:
        out += '@' + ref.digest
    return out


_REPOSITORY_RE = re.compile(r'^' + _PATH_COMPONENT + r'(?:/' + _PATH_COMPONENT + r')*$')


def is_valid_repository(name):
    """True when ``name`` is a repository path of the distribution grammar (lowercase components
    separated by ``/``, at most 255 characters), e.g. ``team/app``."""
    return isinstance(name, str) and len(name) <= NAME_TOTAL_LENGTH_MAX and bool(_REPOSITORY_RE.match(name))


def check_reference(reference, field='reference'):
    """Refuse a manifest reference that is neither a tag nor a digest (``sha256:<64 hex>``), naming ``field``."""
    if not isinstance(reference, str) or not reference:
        raise ValidationError('%s: a tag or digest is required' % field, field=field)
    if ':' in reference:
        _validate_digest(reference, field, reference)
    elif not is_valid_tag(reference):
        raise ValidationError('%s: %r is neither a tag (letters, digits, "_", "." and "-", at most 128 characters, '
                              'not starting with "." or "-") nor a digest (sha256:<64 hex digits>)'
                              % (field, reference), field=field)


def is_valid_tag(tag):
    """True when ``tag`` matches the distribution tag grammar ``[\\w][\\w.-]{0,127}`` (ASCII)."""
    return isinstance(tag, str) and bool(_TAG_RE.match(tag))
