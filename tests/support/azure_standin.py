"""A local STAND-IN for the documented Azure APIs the AKS/ACR path uses (Azure cannot run here).

It is not Azure: it is shaped after the public API documentation (docs/aks-acr.md lists what
is modelled) so that the collection's Azure code runs against real HTTP, real TLS and real
JWTs, and so that the credentials it mints are used by a real registry client and by the real
kubelet. One threaded HTTPS server on 127.0.0.1 plays:

* **Microsoft Entra ID** (the authority): ``GET /<tenant>/v2.0/.well-known/openid-configuration``
  and ``POST /<tenant>/oauth2/v2.0/token`` with ``grant_type=client_credentials`` and a client
  secret, or (workload identity) a ``client_assertion`` JWT for a managed identity's client ID, accepted
  when one of the identity's federated credentials names its issuer, subject and audience and its
  signature verifies with the issuer's key (:attr:`AzureStandIn.trusted_issuers`). The access token
  is a JWT with ``aud`` (the requested scope without ``/.default``), ``tid``, ``oid``, ``appid``, ``iat``/``nbf``/``exp``.
* **a managed identity endpoint** in the App Service form that azure-identity's
  ``ManagedIdentityCredential`` uses when ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` are set (a
  node's IMDS address, 169.254.169.254, cannot be moved): ``GET /msi/token?api-version=2019-08-01&
  resource=<audience>&client_id=<id>`` with the header ``X-IDENTITY-HEADER`` =
  :attr:`AzureStandIn.identity_header` answers a token of the managed identity with that client ID (a
  cluster's kubelet identity, or a user-assigned identity made through ARM).
* **the ACR token service** of one registry (the ``service``):
  ``POST /oauth2/exchange`` (``grant_type=access_token``, or ``access_token_refresh_token`` as
  AKS's acr-credential-provider sends it, ``service``, ``tenant``, ``access_token``) answers
  ``{"refresh_token": <JWT>}``; ``/oauth2/token`` issues registry
  access tokens in both documented forms: ``GET ?service=&scope=`` with HTTP Basic (user
  ``00000000-0000-0000-0000-000000000000`` and the refresh token as password) and the OAuth2
  ``POST`` form (``grant_type=refresh_token`` or ``grant_type=password``, the form containerd
  sends for a user name and password).

* **ACR tokens** (repository-scoped): scope maps and tokens under the fronted registry (``GET``), and
  ``POST <registry>/generateCredentials`` as a long-running operation (202 with ``Location``, the new
  password in the operation's result); the token service accepts a token's name with one of its live
  passwords and grants the scope map's repositories.
* **Azure Resource Manager** (``/subscriptions/...``, bearer Entra token with the ARM audience):
  managed clusters (``GET``, with ``identityProfile.kubeletidentity`` and ``oidcIssuerProfile``),
  container registries (``GET``, with ``roleAssignmentMode``), role definitions (``LIST`` with
  ``$filter=roleName eq '...'``) and role assignments (``PUT``/``GET``/``LIST``/``DELETE``; 409
  ``RoleAssignmentExists`` for the same principal, role and scope under another name; 400
  ``PrincipalNotFound`` for a principal still replicating when ``principalType`` is not sent; a
  new assignment is invisible to ``GET``/``LIST`` and grants nothing for ``propagation_seconds``),
  user-assigned managed identities (``PUT``/``GET``/``DELETE``: ``location`` required, ``tags``, server-made
  ``principalId``/``clientId``/``tenantId``) and their federated identity credentials
  (``PUT``/``GET``/``LIST``/``DELETE``: ``issuer``, ``subject``, exactly one audience, at most 20 per
  identity, 404 ``ParentResourceNotFound`` without the identity); these check the ``api-version``
  against the versions the REST reference lists (:data:`MSI_API_VERSIONS`).

The registry in front of which it stands is the real CNCF distribution registry with token
auth: ``auth.token.realm`` = :attr:`AzureStandIn.realm`, ``service`` = :attr:`service`,
``rootcertbundle`` = :attr:`rootcertbundle` (see :func:`start_acr`).

Access: a principal's registry tokens grant ``pull`` when it is in ``acr_pull`` or holds a propagated
assignment of the role the registry honours (AcrPull; Container Registry Repository Reader when the
registry is in ABAC mode, where AcrPull is ignored); ``acr_push`` may also push. Others get an empty
grant, so the registry answers 401 as ACR does. ``arm_audience_allowed=False`` refuses ARM-audience Entra tokens
at ``/oauth2/exchange`` (a registry with ``azureADAuthenticationAsArmPolicy`` disabled).
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import re
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Set
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.node_hosts import NodeHostsToml, host_entry
from tests.support.standin_server import LoopbackServer
from tests.support.token_server import SigningKey

NULL_USER = "00000000-0000-0000-0000-000000000000"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ARM_AUDIENCE = "https://management.azure.com"
#: Resource Manager's audiences: the current one and the classic one, which azcontainerregistry (and so
#: AKS's acr-credential-provider) requests for the public cloud; the token service takes both
ARM_AUDIENCES = (ARM_AUDIENCE, "https://management.core.windows.net")
ACR_AUDIENCE = "https://containerregistry.azure.net"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
REPO_READER = "b93aa761-3e63-49ed-ac28-beffa264f7ac"
ROLES = {ACR_PULL: "AcrPull", REPO_READER: "Container Registry Repository Reader",
         "8311e382-0749-4cb8-b61a-304f252e45ec": "AcrPush"}
#: api-versions of Microsoft.ManagedIdentity that have federated identity credentials (REST reference)
MSI_API_VERSIONS = {"2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30", "2025-01-31-preview"}
LEGACY_MODE = "LegacyRegistryPermissions"
ABAC_MODE = "AbacRepositoryPermissions"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AzureStandIn(LoopbackServer):
    """The stand-in server. ``clients``: client_id -> client secret (service principals);
    each client gets a stable object ID in :attr:`object_ids`."""

    SERVER_NAME = "azure-standin"

    def __init__(self, workdir, ca, tenant_id: Optional[str] = None, clients: Optional[Dict[str, str]] = None,
                 service: str = "registry.stand-in", entra_ttl: int = 3600, refresh_ttl: int = 3 * 3600,
                 access_ttl: int = 300, arm_audience_allowed: bool = True):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.clients = dict(clients or {})
        self.object_ids = dict((c, str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + c))) for c in self.clients)
        self.service = service
        self.entra_ttl = entra_ttl
        self.refresh_ttl = refresh_ttl
        self.access_ttl = access_ttl
        self.arm_audience_allowed = arm_audience_allowed
        self.acr_pull: Set[str] = set()
        self.acr_push: Set[str] = set()
        # ARM state
        self.subscription = str(uuid.uuid4())
        self.resource_group = "rg-standin"
        self.clusters: Dict[str, Dict[str, Any]] = {}       # resource id (lower) -> body
        self.registries: Dict[str, Dict[str, Any]] = {}     # resource id (lower) -> body
        self.assignments: Dict[str, Dict[str, Any]] = {}    # assignment id (lower) -> body (+ _created)
        self.replicating: Set[str] = set()                  # principals PUT refuses without principalType
        self.propagation_seconds = 0.0
        self.registry_id: Optional[str] = None              # the registry in front of the real one
        self.scope_maps: Dict[str, Dict[str, Any]] = {}     # name (lower) -> body
        self.tokens: Dict[str, Dict[str, Any]] = {}         # name (lower) -> body (+ _values: slot -> password)
        self.operations: Dict[str, Dict[str, Any]] = {}     # operation id -> {"polls_left", "result"}
        self.operation_polls = 1                            # 202 answers before an operation's result
        self.identities: Dict[str, Dict[str, Any]] = {}     # user-assigned identity id (lower) -> body
        self.federated: Dict[str, Dict[str, Any]] = {}      # federated credential id (lower) -> body
        self.trusted_issuers: Dict[str, str] = {}           # OIDC issuer URL -> PEM public key of its tokens
        self.managed_identities: Set[str] = set()           # client IDs the managed identity endpoint serves
        self.identity_header = secrets.token_urlsafe(24)    # the IDENTITY_HEADER secret of that endpoint
        self.entra_key = SigningKey("RS256")
        self.registry_key = SigningKey("ES256")
        self.rootcertbundle = str(self.workdir / "acr-token-signer.crt")
        Path(self.rootcertbundle).write_bytes(self.registry_key.cert_pem())
        self.requests: List[Dict[str, Any]] = []  # what was asked, never a secret
        self._lock = threading.Lock()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self.port = 0

    # -- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        """The Entra authority host (azure-identity's ``authority``)."""
        return self.url

    @property
    def realm(self) -> str:
        return self.url + "/oauth2/token"

    @property
    def issuer(self) -> str:
        return "acr-stand-in"

    def add_client(self, client_id: str, secret: str) -> str:
        self.clients[client_id] = secret
        self.object_ids[client_id] = str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + client_id))
        return self.object_ids[client_id]

    def log(self, kind: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["kind"] == kind]

    # -- tokens --------------------------------------------------------------------------

    def entra_token(self, client_id: str, audience: str, ttl: Optional[int] = None) -> str:
        now = int(time.time())
        return self.entra_key.sign({
            "aud": audience, "iss": f"{self.url}/{self.tenant_id}/v2.0", "iat": now, "nbf": now,
            "exp": now + (self.entra_ttl if ttl is None else ttl), "tid": self.tenant_id,
            "oid": self.object_ids.get(client_id, ""), "appid": client_id, "sub": self.object_ids.get(client_id, ""),
            "ver": "2.0"})

    def refresh_token(self, oid: str, ttl: Optional[int] = None) -> str:
        now = int(time.time())
        return self.registry_key.sign({
            "jti": str(uuid.uuid4()), "sub": oid, "nbf": now, "iat": now,
            "exp": now + (self.refresh_ttl if ttl is None else ttl), "iss": self.issuer, "aud": self.service,
            "tenant": self.tenant_id, "grant_type": "refresh_token", "version": "1.0"})

    def _access_token(self, oid: Optional[str], scopes: List[str]) -> Dict[str, Any]:
        now = int(time.time())
        access = []
        allowed = set(["pull"] if oid in self.acr_pull or oid in self.acr_push or self.may_pull(oid) else [])
        if oid in self.acr_push:
            allowed.add("push")
        if allowed:
            for scope_list in scopes:
                for scope in scope_list.split():
                    first, last = scope.find(":"), scope.rfind(":")
                    if first < 0 or first == last:
                        continue
                    rtype, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:].split(",")
                    ok = [a for a in actions if a in allowed]
                    if rtype == "repository" and ok:
                        access.append({"type": rtype, "name": name, "actions": ok})
        token = self.registry_key.sign({"iss": self.issuer, "sub": oid or "", "aud": self.service,
                                        "exp": now + self.access_ttl, "nbf": now - 5, "iat": now,
                                        "jti": secrets.token_hex(12), "access": access})
        return {"access_token": token, "token": token, "expires_in": self.access_ttl}

    def _claims(self, key: SigningKey, token: str) -> Optional[Dict[str, Any]]:
        claims = key.verify(token or "")
        if claims is None or claims.get("exp", 0) < time.time():
            return None
        return claims

    def _refresh_subject(self, token: str) -> Optional[str]:
        claims = self._claims(self.registry_key, token)
        if claims is None or claims.get("grant_type") != "refresh_token" or claims.get("aud") != self.service:
            return None
        return claims.get("sub")

    # -- ARM -----------------------------------------------------------------------------

    def add_cluster(self, name: str, kubelet_object_id: Optional[str] = None, service_principal: Optional[str] = None,
                    oidc_issuer: Optional[str] = None, workload_identity: Optional[bool] = None) -> str:
        """A managed cluster; MSI clusters have a kubelet identity, service-principal clusters a clientId.
        ``oidc_issuer`` turns the OIDC issuer on; the workload identity webhook follows it unless
        ``workload_identity`` says otherwise."""
        rid = (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
               f"Microsoft.ContainerService/managedClusters/{name}")
        props: Dict[str, Any] = {"provisioningState": "Succeeded", "kubernetesVersion": "1.33.0",
                                 "nodeResourceGroup": f"MC_{self.resource_group}_{name}_westeurope",
                                 "servicePrincipalProfile": {"clientId": service_principal or "msi"},
                                 "oidcIssuerProfile": {"enabled": bool(oidc_issuer), "issuerURL": oidc_issuer or ""},
                                 "securityProfile": {"workloadIdentity": {
                                     "enabled": bool(oidc_issuer) if workload_identity is None else workload_identity}}}
        if kubelet_object_id:
            props["identityProfile"] = {"kubeletidentity": {
                "resourceId": (f"/subscriptions/{self.subscription}/resourceGroups/MC_{self.resource_group}_{name}"
                               f"_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool"),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, "client:" + kubelet_object_id)),
                "objectId": kubelet_object_id}}
            # the kubelet identity is a managed identity of the tenant: the managed identity endpoint
            # gives the node its tokens (oid = the object ID the assignment names)
            kubelet_client = props["identityProfile"]["kubeletidentity"]["clientId"]
            self.object_ids.setdefault(kubelet_client, kubelet_object_id)
            self.managed_identities.add(kubelet_client)
        self.clusters[rid.lower()] = {"id": rid, "name": name, "type": "Microsoft.ContainerService/ManagedClusters",
                                      "location": "westeurope",
                                      "identity": {"type": "SystemAssigned"} if kubelet_object_id else None,
                                      "properties": props}
        return rid

    def add_registry(self, name: str, login_server: str, mode: str = LEGACY_MODE) -> str:
        rid = (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
               f"Microsoft.ContainerRegistry/registries/{name}")
        self.registries[rid.lower()] = {"id": rid, "name": name, "type": "Microsoft.ContainerRegistry/registries",
                                        "location": "westeurope", "sku": {"name": "Standard", "tier": "Standard"},
                                        "properties": {"loginServer": login_server, "provisioningState": "Succeeded",
                                                       "adminUserEnabled": False, "roleAssignmentMode": mode}}
        return rid

    def role_definition_id(self, guid: str, scope: Optional[str] = None) -> str:
        return f"/subscriptions/{self.subscription}/providers/Microsoft.Authorization/roleDefinitions/{guid}"

    def _visible(self, body: Dict[str, Any]) -> bool:
        return time.time() - body["_created"] >= self.propagation_seconds

    def visible_assignments(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [self._public(b) for b in self.assignments.values() if self._visible(b)]

    def all_assignments(self) -> List[Dict[str, Any]]:
        """Every assignment, propagated or not (what the test reads back)."""
        with self._lock:
            return [self._public(b) for b in self.assignments.values()]

    @staticmethod
    def _public(body: Dict[str, Any]) -> Dict[str, Any]:
        return dict((k, v) for k, v in body.items() if not k.startswith("_"))

    def may_pull(self, oid: Optional[str]) -> bool:
        """A propagated assignment of the role the registry honours, for ``oid``, at the registry's scope."""
        if not oid or not self.registry_id:
            return False
        reg = self.registries.get(self.registry_id.lower())
        if reg is None:
            return False
        honoured = {REPO_READER} if reg["properties"]["roleAssignmentMode"] == ABAC_MODE else {ACR_PULL}
        for body in self.visible_assignments():
            p = body["properties"]
            if (p["principalId"] == oid and p["scope"].lower() == self.registry_id.lower()
                    and p["roleDefinitionId"].rsplit("/", 1)[1] in honoured):
                return True
        return False

    def _arm_authorised(self, handler: Any) -> bool:
        auth = handler.headers.get("Authorization") or ""
        claims = self._claims(self.entra_key, auth[7:]) if auth.startswith("Bearer ") else None
        if claims is None or claims.get("aud") not in (ARM_AUDIENCE, self.url):
            handler._send(401, {"error": {"code": "InvalidAuthenticationToken",
                                          "message": "The access token is missing, invalid or has the wrong audience."}})
            return False
        return True

    def _arm(self, handler: Any, method: str, path: str, query: Dict[str, List[str]], body: Any) -> None:
        lower = path.lower().rstrip("/")
        marker = "/providers/microsoft.authorization/roleassignments"
        handler._record("arm", method=method, path=path)
        if not query.get("api-version"):
            handler._send(400, {"error": {"code": "MissingApiVersionParameter",
                                          "message": "The api-version query parameter (?api-version=) is required."}})
            return
        if self._acr_resources(handler, method, path, body):
            return
        if "/providers/microsoft.managedidentity/userassignedidentities/" in lower:
            self._managed_identities(handler, method, path, query, body)
            return
        if marker in lower:
            scope = path[:lower.index(marker)]
            name = path[lower.index(marker) + len(marker):].strip("/")
            self._role_assignments(handler, method, scope, name, query, body)
            return
        if lower.endswith("/providers/microsoft.authorization/roledefinitions") and method == "GET":
            flt = (query.get("$filter") or [""])[0]
            wanted = flt.split("'")[1] if "'" in flt else None
            values = [{"id": self.role_definition_id(g), "name": g, "type": "Microsoft.Authorization/roleDefinitions",
                       "properties": {"roleName": n, "type": "BuiltInRole"}}
                      for g, n in ROLES.items() if wanted is None or n.lower() == wanted.lower()]
            handler._send(200, {"value": values})
            return
        for table, kind in ((self.clusters, "managedClusters"), (self.registries, "registries")):
            if lower in table and method == "GET":
                handler._send(200, table[lower])
                return
        if "/providers/microsoft.containerservice/managedclusters/" in lower or \
                "/providers/microsoft.containerregistry/registries/" in lower:
            handler._send(404, {"error": {"code": "ResourceNotFound",
                                          "message": f"The Resource '{path.rsplit('/', 1)[-1]}' was not found."}})
            return
        handler._send(404, {"error": {"code": "InvalidResourceType", "message": f"no route for {method} {path}"}})

    def _role_assignments(self, handler: Any, method: str, scope: str, name: str, query: Dict[str, List[str]],
                          body: Any) -> None:
        aid = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        with self._lock:
            current = self.assignments.get(aid.lower())
        if method == "GET" and not name:
            flt = (query.get("$filter") or [""])[0]
            values = [b for b in self.visible_assignments()
                      if b["properties"]["scope"].lower() == scope.lower() or
                      ("atScope()" not in flt and scope.lower().startswith(b["properties"]["scope"].lower()))]
            if "principalId eq" in flt:
                pid = flt.split("'")[1]
                values = [b for b in values if b["properties"]["principalId"] == pid]
            handler._send(200, {"value": values})
            return
        if method == "GET":
            if current is None or not self._visible(current):
                handler._send(404, {"error": {"code": "RoleAssignmentNotFound",
                                              "message": f"The role assignment '{name}' is not found."}})
                return
            handler._send(200, self._public(current))
            return
        if method == "DELETE":
            if current is None:
                handler._send(204, {})
                return
            with self._lock:
                self.assignments.pop(aid.lower(), None)
            handler._send(200, self._public(current))
            return
        if method != "PUT":
            handler._send(405, {"error": {"code": "MethodNotAllowed", "message": method}})
            return
        props = (body or {}).get("properties") or {}
        try:
            uuid.UUID(name)
        except ValueError:
            handler._send(400, {"error": {"code": "InvalidRoleAssignmentId",
                                          "message": f"The role assignment ID '{name}' is not valid. "
                                                     "The role assignment ID must be a GUID."}})
            return
        pid, rdid = props.get("principalId"), props.get("roleDefinitionId") or ""
        if not pid or not rdid:
            handler._send(400, {"error": {"code": "InvalidRequestContent", "message": "principalId and "
                                          "roleDefinitionId are required"}})
            return
        if rdid.rsplit("/", 1)[-1] not in ROLES:
            handler._send(400, {"error": {"code": "RoleDefinitionDoesNotExist",
                                          "message": "The specified role definition does not exist."}})
            return
        if pid in self.replicating and not props.get("principalType"):
            handler._send(400, {"error": {"code": "PrincipalNotFound", "message":
                                          f"Principal {pid.replace('-', '')} does not exist in the directory "
                                          f"{self.tenant_id}. Check that you have the correct principal ID."}})
            return
        with self._lock:
            for key, other in self.assignments.items():
                op = other["properties"]
                if (key != aid.lower() and op["principalId"] == pid and op["scope"].lower() == scope.lower()
                        and op["roleDefinitionId"].rsplit("/", 1)[-1] == rdid.rsplit("/", 1)[-1]):
                    handler._send(409, {"error": {"code": "RoleAssignmentExists", "message":
                                                  "The role assignment already exists. The ID of the existing role "
                                                  f"assignment is {other['name'].replace('-', '')}."}})
                    return
            if current is not None:
                cp = current["properties"]
                if cp["principalId"] != pid or cp["roleDefinitionId"].lower() != rdid.lower():
                    handler._send(409, {"error": {"code": "RoleAssignmentUpdateNotPermitted", "message":
                                                  "Tenant ID, application ID, principal ID, and scope are not "
                                                  "allowed to be updated."}})
                    return
                handler._send(201, self._public(current))
                return
            new = {"id": aid, "name": name, "type": "Microsoft.Authorization/roleAssignments",
                   "properties": {"roleDefinitionId": rdid, "principalId": pid,
                                  "principalType": props.get("principalType") or "ServicePrincipal",
                                  "scope": scope, "condition": props.get("condition"),
                                  "createdOn": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                                  "description": props.get("description")},
                   "_created": time.time()}
            self.assignments[aid.lower()] = new
        handler._send(201, self._public(new))

    # -- user-assigned managed identities and their federated identity credentials ---------------

    def _managed_identities(self, handler: Any, method: str, path: str, query: Dict[str, List[str]],
                            body: Any) -> None:
        """``Microsoft.ManagedIdentity/userAssignedIdentities/{name}`` (PUT/GET/DELETE) and
        ``.../federatedIdentityCredentials[/{name}]`` (PUT/GET/LIST/DELETE), shaped after the REST reference."""
        version = (query.get("api-version") or [""])[0]
        if version not in MSI_API_VERSIONS:
            handler._send(400, {"error": {"code": "NoRegisteredProviderFound", "message":
                                          f"No registered resource provider found for location 'westeurope' and API "
                                          f"version '{version}' for type 'userAssignedIdentities'. The supported "
                                          f"api-versions are '{', '.join(sorted(MSI_API_VERSIONS))}'."}})
            return
        lower = path.lower().rstrip("/")
        marker = "/userassignedidentities/"
        base = path[:lower.index(marker) + len(marker)]
        rest = path[len(base):].strip("/").split("/")
        ident_id = base + rest[0]
        with self._lock:
            ident = self.identities.get(ident_id.lower())
        if len(rest) == 1:
            self._identity(handler, method, ident_id, rest[0], ident, body)
            return
        if rest[1].lower() != "federatedidentitycredentials" or len(rest) > 3:
            handler._send(404, {"error": {"code": "InvalidResourceType", "message": f"no route for {method} {path}"}})
            return
        if ident is None:
            handler._send(404, {"error": {"code": "ParentResourceNotFound", "message":
                                          f"Can not perform requested operation on nested resource. Parent resource "
                                          f"'{rest[0]}' not found."}})
            return
        if len(rest) == 2:
            if method != "GET":
                handler._send(405, {"error": {"code": "MethodNotAllowed", "message": method}})
                return
            with self._lock:
                values = [dict(b) for k, b in self.federated.items() if k.startswith(ident_id.lower() + "/")]
            handler._send(200, {"value": values})
            return
        self._federated_credential(handler, method, f"{ident_id}/federatedIdentityCredentials/{rest[2]}", rest[2], body)

    def _identity(self, handler: Any, method: str, ident_id: str, name: str, current: Optional[Dict[str, Any]],
                  body: Any) -> None:
        if method == "GET":
            if current is None:
                handler._send(404, {"error": {"code": "ResourceNotFound", "message":
                                              f"The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/"
                                              f"{name}' under resource group '{self.resource_group}' was not found."}})
                return
            handler._send(200, current)
            return
        if method == "DELETE":
            with self._lock:
                self.identities.pop(ident_id.lower(), None)
                for key in [k for k in self.federated if k.startswith(ident_id.lower() + "/")]:
                    del self.federated[key]
            handler._send(200 if current is not None else 204, {})
            return
        if method != "PUT":
            handler._send(405, {"error": {"code": "MethodNotAllowed", "message": method}})
            return
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$", name):
            handler._send(400, {"error": {"code": "InvalidResourceName", "message":
                                          f"Resource name {name} is invalid."}})
            return
        if not isinstance(body, dict) or not body.get("location"):
            handler._send(400, {"error": {"code": "LocationRequired", "message":
                                          "The location property is required for this definition."}})
            return
        with self._lock:
            if current is not None:
                current["tags"] = dict(body.get("tags") or {})
                handler._send(200, current)
                return
            oid = str(uuid.uuid4())
            new = {"id": ident_id, "name": name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                   "location": str(body["location"]).lower(), "tags": dict(body.get("tags") or {}),
                   "properties": {"tenantId": self.tenant_id, "principalId": oid, "clientId": str(uuid.uuid4()),
                                  "isolationScope": "None"}}
            self.identities[ident_id.lower()] = new
            # the identity is a service principal of the tenant (entra_token(client_id, ...) names its oid)
            self.object_ids[new["properties"]["clientId"]] = oid
            self.managed_identities.add(new["properties"]["clientId"])
        handler._send(201, new)

    def _federated_credential(self, handler: Any, method: str, fid: str, name: str, body: Any) -> None:
        with self._lock:
            current = self.federated.get(fid.lower())
        if method == "GET":
            if current is None:
                handler._send(404, {"error": {"code": "NotFound", "message":
                                              f"Federated identity credential '{name}' not found."}})
                return
            handler._send(200, current)
            return
        if method == "DELETE":
            with self._lock:
                self.federated.pop(fid.lower(), None)
            handler._send(200 if current is not None else 204, {})
            return
        if method != "PUT":
            handler._send(405, {"error": {"code": "MethodNotAllowed", "message": method}})
            return
        if not re.match(r"^[a-zA-Z0-9]{1}[a-zA-Z0-9-_]{2,119}$", name):
            handler._send(400, {"error": {"code": "InvalidResourceName", "message":
                                          f"Federated identity credential name {name} is invalid."}})
            return
        props = (body or {}).get("properties") if isinstance(body, dict) else None
        audiences = (props or {}).get("audiences")
        if (not isinstance(props, dict) or not str(props.get("issuer") or "").startswith("https://")
                or not props.get("subject") or not isinstance(audiences, list) or len(audiences) != 1):
            handler._send(400, {"error": {"code": "BadRequest", "message":
                                          "properties.issuer (an https URL), properties.subject and exactly one "
                                          "properties.audiences entry are required."}})
            return
        with self._lock:
            siblings = [k for k in self.federated if k.startswith(fid.lower().rsplit("/", 1)[0] + "/")]
            if current is None and len(siblings) >= 20:
                handler._send(400, {"error": {"code": "BadRequest", "message":
                                              "A user-assigned identity can have at most 20 federated identity "
                                              "credentials."}})
                return
            new = {"id": fid, "name": name,
                   "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                   "properties": {"issuer": props["issuer"], "subject": props["subject"],
                                  "audiences": list(audiences)}}
            self.federated[fid.lower()] = new
        handler._send(200 if current is not None else 201, new)

    def federated_match(self, client_id: str, assertion: str) -> bool:
        """Whether ``assertion`` (a JWT) may sign in as the managed identity ``client_id``: one of its federated
        credentials names the assertion's ``iss`` and ``sub`` exactly and has its ``aud``, and the signature
        verifies with the key registered for that issuer in :attr:`trusted_issuers` (as Entra checks it with the
        issuer's published keys)."""
        import jwt
        ident = self.identity_by_client_id(client_id)
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        key = self.trusted_issuers.get(claims.get("iss", ""))
        if ident is None or key is None:
            return False
        with self._lock:
            fics = [b["properties"] for k, b in self.federated.items() if k.startswith(ident["id"].lower() + "/")]
        for fic in fics:
            if fic["issuer"] != claims["iss"] or fic["subject"] != claims.get("sub"):
                continue
            try:
                jwt.decode(assertion, key, algorithms=["RS256", "ES256"], audience=fic["audiences"], issuer=fic["issuer"])
                return True
            except jwt.PyJWTError:
                continue
        return False

    def identity_by_client_id(self, client_id: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            for body in self.identities.values():
                if body["properties"]["clientId"] == client_id:
                    return body
        return None

    # -- ACR tokens and scope maps (repository-scoped, non-Entra credentials) ------------------

    def add_scope_map(self, name: str, actions: List[str]) -> str:
        rid = f"{self.registry_id}/scopeMaps/{name}"
        self.scope_maps[name.lower()] = {"id": rid, "name": name, "type": "Microsoft.ContainerRegistry/registries/scopeMaps",
                                         "properties": {"actions": list(actions), "provisioningState": "Succeeded"}}
        return rid

    def add_token(self, name: str, scope_map: str) -> str:
        rid = f"{self.registry_id}/tokens/{name}"
        self.tokens[name.lower()] = {"id": rid, "name": name, "type": "Microsoft.ContainerRegistry/registries/tokens",
                                     "properties": {"scopeMapId": f"{self.registry_id}/scopeMaps/{scope_map}",
                                                    "status": "enabled", "provisioningState": "Succeeded",
                                                    "credentials": {"passwords": []}},
                                     "_values": {}}
        return rid

    def token_user(self, user: str, password: str) -> Optional[Dict[str, Any]]:
        """The token whose name is ``user`` and one of whose live passwords is ``password``."""
        token = self.tokens.get(user.lower())
        if token is None or token["properties"]["status"] != "enabled":
            return None
        now = time.time()
        for slot, value in token["_values"].items():
            meta = next((p for p in token["properties"]["credentials"]["passwords"] if p["name"] == slot), {})
            if secrets.compare_digest(value, password) and meta.get("_expiry_ts", now + 1) > now:
                return token
        return None

    def token_grants(self, token: Dict[str, Any], scopes: List[str]) -> List[Dict[str, Any]]:
        sm = self.scope_maps.get(token["properties"]["scopeMapId"].rsplit("/", 1)[1].lower())
        actions = set((sm or {}).get("properties", {}).get("actions", []))
        access = []
        for scope_list in scopes:
            for scope in scope_list.split():
                first, last = scope.find(":"), scope.rfind(":")
                if first < 0 or first == last:
                    continue
                rtype, name, wanted = scope[:first], scope[first + 1:last], scope[last + 1:].split(",")
                ok = [a for a in wanted if a == "pull" and f"repositories/{name}/content/read" in actions]
                if rtype == "repository" and ok:
                    access.append({"type": rtype, "name": name, "actions": ok})
        return access

    def _token_access(self, token: Dict[str, Any], scopes: List[str]) -> Dict[str, Any]:
        now = int(time.time())
        jwt = self.registry_key.sign({"iss": self.issuer, "sub": token["name"], "aud": self.service,
                                      "exp": now + self.access_ttl, "nbf": now - 5, "iat": now,
                                      "jti": secrets.token_hex(12), "access": self.token_grants(token, scopes)})
        return {"access_token": jwt, "token": jwt, "expires_in": self.access_ttl}

    def _acr_resources(self, handler: Any, method: str, path: str, body: Any) -> bool:
        """Tokens, scope maps and generateCredentials under the fronted registry; False when not ours."""
        if not self.registry_id or not path.lower().startswith(self.registry_id.lower() + "/"):
            return False
        rest = path[len(self.registry_id) + 1:]
        kind, _s, name = rest.partition("/")
        if kind.lower() == "generatecredentials" and method == "POST":
            token_id = (body or {}).get("tokenId") or ""
            token = self.tokens.get(token_id.rsplit("/", 1)[-1].lower())
            slot = (body or {}).get("name")
            if token is None or token_id.lower() != token["id"].lower():
                handler._send(404, {"error": {"code": "ResourceNotFound", "message": f"token {token_id} not found"}})
                return True
            slots = [slot] if slot else ["password1", "password2"]
            if any(sl not in ("password1", "password2") for sl in slots):
                handler._send(400, {"error": {"code": "InvalidParameter", "message": "name must be password1 or password2"}})
                return True
            expiry = (body or {}).get("expiry")
            result = {"username": token["name"], "passwords": []}
            with self._lock:
                pw = token["properties"]["credentials"]["passwords"]
                for sl in slots:
                    value = secrets.token_urlsafe(32)
                    token["_values"][sl] = value
                    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    meta = {"name": sl, "creationTime": created, "expiry": expiry}
                    if expiry:
                        meta["_expiry_ts"] = datetime.datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp()
                    pw[:] = [p for p in pw if p["name"] != sl] + [meta]
                    result["passwords"].append({"name": sl, "value": value, "creationTime": meta["creationTime"],
                                                "expiry": expiry})
                op = secrets.token_hex(8)
                self.operations[op] = {"polls_left": self.operation_polls, "result": result}
            handler._record("generate_credentials", token=token["name"], slots=slots)
            handler._send(202, {}, headers={"Location": f"{self.url}/operations/{op}?api-version=2025-11-01",
                                            "Retry-After": "0"})
            return True
        table = {"tokens": self.tokens, "scopemaps": self.scope_maps}.get(kind.lower())
        if table is None or not name or method != "GET":
            return False
        item = table.get(name.lower())
        if item is None:
            handler._send(404, {"error": {"code": "ResourceNotFound", "message": f"{kind}/{name} not found"}})
            return True
        public = dict((k, v) for k, v in item.items() if not k.startswith("_"))
        if kind.lower() == "tokens":
            creds = public["properties"]["credentials"]
            public = dict(public, properties=dict(public["properties"], credentials={"passwords": [
                dict((k, v) for k, v in p.items() if not k.startswith("_")) for p in creds["passwords"]]}))
        handler._send(200, public)
        return True

    def _operation(self, handler: Any, op: str) -> None:
        with self._lock:
            state = self.operations.get(op)
            if state is not None and state["polls_left"] > 0:
                state["polls_left"] -= 1
                handler._send(202, {}, headers={"Location": f"{self.url}/operations/{op}?api-version=2025-11-01",
                                                "Retry-After": "0"})
                return
        if state is None:
            handler._send(404, {"error": {"code": "NotFound", "message": "no such operation"}})
            return
        handler._send(200, state["result"])

    # -- HTTP ----------------------------------------------------------------------------

    def _handler(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> None:
                data = json.dumps(body).encode() if status != 204 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _form(self) -> Dict[str, List[str]]:
                length = int(self.headers.get("Content-Length") or 0)
                return parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)

            def _record(self, kind: str, **fields: Any) -> None:
                with standin._lock:
                    standin.requests.append(dict(kind=kind, **fields))

            def _acr_error(self, status: int, message: str) -> None:
                self._send(status, {"errors": [{"code": "UNAUTHORIZED", "message": message}]})

            # Entra ---------------------------------------------------------------------
            def _openid(self, tenant: str) -> None:
                base = f"{standin.url}/{tenant}"
                self._send(200, {"token_endpoint": base + "/oauth2/v2.0/token",
                                 "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                                 "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
                                 "issuer": f"{standin.url}/{tenant}/v2.0",
                                 "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                                           "private_key_jwt"],
                                 "response_types_supported": ["code", "id_token", "token"],
                                 "tenant_region_scope": "EU"})

            def _entra_token(self, tenant: str) -> None:
                form = self._form()

                def get(key: str) -> str:
                    return (form.get(key) or [""])[0]

                client_id, scope = get("client_id"), get("scope")
                audience = " ".join(s[:-len("/.default")] if s.endswith("/.default") else s for s in scope.split()
                                    if s not in ("openid", "profile", "offline_access"))
                if get("client_assertion_type") == JWT_BEARER:
                    # workload identity: a ServiceAccount token presented for a managed identity's client ID
                    ok = tenant == standin.tenant_id and get("grant_type") == "client_credentials" and \
                        standin.federated_match(client_id, get("client_assertion"))
                    self._record("entra_token", tenant=tenant, client_id=client_id, scope=scope, ok=ok,
                                 federated=True)
                    if not ok:
                        self._send(401, {"error": "invalid_client", "error_description":
                                         "AADSTS70021: No matching federated identity record found for presented "
                                         "assertion."})
                        return
                    self._send(200, {"token_type": "Bearer", "expires_in": standin.entra_ttl,
                                     "ext_expires_in": standin.entra_ttl,
                                     "access_token": standin.entra_token(client_id, audience)})
                    return
                ok = (tenant == standin.tenant_id and get("grant_type") == "client_credentials"
                      and client_id in standin.clients
                      and secrets.compare_digest(standin.clients[client_id], get("client_secret")))
                self._record("entra_token", tenant=tenant, client_id=client_id, scope=scope, ok=ok)
                if tenant != standin.tenant_id:
                    self._send(400, {"error": "invalid_request", "error_description":
                                     f"AADSTS90002: Tenant '{tenant}' not found."})
                    return
                if not ok:
                    self._send(401, {"error": "invalid_client", "error_description":
                                     "AADSTS7000215: Invalid client secret provided."})
                    return
                self._send(200, {"token_type": "Bearer", "expires_in": standin.entra_ttl,
                                 "ext_expires_in": standin.entra_ttl,
                                 "access_token": standin.entra_token(client_id, audience)})

            def _msi_token(self, query: Dict[str, List[str]]) -> None:
                """The managed identity endpoint (App Service form, api-version 2019-08-01)."""
                def get(key: str) -> str:
                    return (query.get(key) or [""])[0]

                client_id, resource = get("client_id"), get("resource")
                header_ok = secrets.compare_digest(self.headers.get("X-IDENTITY-HEADER") or "",
                                                   standin.identity_header)
                ok = header_ok and get("api-version") == "2019-08-01" and client_id in standin.managed_identities
                self._record("msi_token", client_id=client_id, resource=resource, ok=ok,
                             user_agent=self.headers.get("User-Agent"))
                if not header_ok:
                    self._send(401, {"error": "invalid_request", "error_description": "X-IDENTITY-HEADER is wrong"})
                    return
                if get("api-version") != "2019-08-01" or not resource:
                    self._send(400, {"error": "invalid_request", "error_description":
                                     "api-version 2019-08-01 and resource are required"})
                    return
                if not ok:
                    self._send(400, {"error": "invalid_request", "error_description":
                                     f"Identity not found: no managed identity with client_id {client_id!r} is "
                                     "assigned to this resource"})
                    return
                audience = resource[:-len("/.default")] if resource.endswith("/.default") else resource
                token = standin.entra_token(client_id, audience.rstrip("/"))
                self._send(200, {"access_token": token, "expires_on": str(int(time.time()) + standin.entra_ttl),
                                 "resource": resource, "token_type": "Bearer", "client_id": client_id})

            # ACR token service -----------------------------------------------------------
            def _exchange(self) -> None:
                form = self._form()

                def get(key: str) -> str:
                    return (form.get(key) or [""])[0]

                claims = standin._claims(standin.entra_key, get("access_token"))
                audience = (claims or {}).get("aud")
                record = dict(grant_type=get("grant_type"), service=get("service"), tenant=get("tenant"),
                              audience=audience, ok=False, user_agent=self.headers.get("User-Agent"))
                if get("grant_type") not in ("access_token", "access_token_refresh_token"):
                    self._record("exchange", **record)
                    self._acr_error(400, "unsupported grant_type")
                    return
                if get("service") != standin.service:
                    self._record("exchange", **record)
                    self._acr_error(400, "service does not match the registry")
                    return
                if claims is None:
                    self._record("exchange", **record)
                    self._acr_error(401, "invalid or expired Microsoft Entra access token")
                    return
                if audience in ARM_AUDIENCES and not standin.arm_audience_allowed:
                    self._record("exchange", **record)
                    self._acr_error(401, "ARM audience tokens are disabled for this registry "
                                         "(azureADAuthenticationAsArmPolicy); use an ACR audience token")
                    return
                if audience not in ARM_AUDIENCES + (ACR_AUDIENCE,) or (get("tenant") and get("tenant") != claims["tid"]):
                    self._record("exchange", **record)
                    self._acr_error(401, "access token audience or tenant not accepted")
                    return
                record["ok"] = True
                self._record("exchange", **record)
                self._send(200, {"refresh_token": standin.refresh_token(claims["oid"])})

            def _token_get(self, query: Dict[str, List[str]]) -> None:
                auth = self.headers.get("Authorization") or ""
                oid = None
                if auth.startswith("Basic "):
                    try:
                        user, _s, password = base64.b64decode(auth[6:]).decode().partition(":")
                    except Exception:
                        user, password = "", ""
                    oid = standin._refresh_subject(password) if user == NULL_USER else None
                    token = standin.token_user(user, password) if user != NULL_USER else None
                    if token is not None:
                        self._record("token", form="get", ok=True, token=user, scope=query.get("scope", []))
                        self._send(200, standin._token_access(token, query.get("scope", [])))
                        return
                    if oid is None:
                        self._record("token", form="get", ok=False)
                        self._acr_error(401, "invalid credentials")
                        return
                self._record("token", form="get", ok=True, oid=oid, scope=query.get("scope", []))
                if query.get("service", [""])[0] != standin.service:
                    self._acr_error(400, "service does not match the registry")
                    return
                self._send(200, standin._access_token(oid, query.get("scope", [])))

            def _token_post(self) -> None:
                form = self._form()

                def get(key: str) -> str:
                    return (form.get(key) or [""])[0]

                grant = get("grant_type")
                token = standin.token_user(get("username"), get("password")) if grant == "password" else None
                if token is not None:
                    self._record("token", form="post", grant_type=grant, ok=True, token=token["name"],
                                 scope=form.get("scope", []))
                    body = standin._token_access(token, form.get("scope", []))
                    body.pop("token")
                    self._send(200, body)
                    return
                if grant == "refresh_token":
                    oid = standin._refresh_subject(get("refresh_token"))
                elif grant == "password" and get("username") == NULL_USER:
                    oid = standin._refresh_subject(get("password"))
                else:
                    oid = None
                self._record("token", form="post", grant_type=grant, ok=oid is not None, oid=oid,
                             scope=form.get("scope", []))
                if oid is None:
                    self._acr_error(401, "invalid refresh token")
                    return
                if get("service") != standin.service:
                    self._acr_error(400, "service does not match the registry")
                    return
                body = standin._access_token(oid, form.get("scope", []))
                body.pop("token")
                body["refresh_token"] = get("refresh_token") or get("password")
                self._send(200, body)

            def _arm_call(self, method: str) -> bool:
                parts = urlsplit(self.path)
                if not parts.path.lower().startswith("/subscriptions/"):
                    return False
                body = None
                if method in ("PUT", "POST"):
                    length = int(self.headers.get("Content-Length") or 0)
                    try:
                        body = json.loads(self.rfile.read(length) or b"{}")
                    except ValueError:
                        self._send(400, {"error": {"code": "InvalidRequestContent", "message": "not JSON"}})
                        return True
                if standin._arm_authorised(self):
                    standin._arm(self, method, unquote(parts.path), parse_qs(parts.query), body)
                return True

            def do_PUT(self) -> None:  # noqa: N802
                if not self._arm_call("PUT"):
                    self._send(404, {"error": {"code": "NotFound", "message": self.path}})

            def do_DELETE(self) -> None:  # noqa: N802
                if not self._arm_call("DELETE"):
                    self._send(404, {"error": {"code": "NotFound", "message": self.path}})

            def do_GET(self) -> None:  # noqa: N802
                if self._arm_call("GET"):
                    return
                if self.path.startswith("/operations/"):
                    if standin._arm_authorised(self):
                        standin._operation(self, urlsplit(self.path).path.rsplit("/", 1)[1])
                    return
                parts = urlsplit(self.path)
                segs = [s for s in parts.path.split("/") if s]
                if parts.path == "/oauth2/token":
                    self._token_get(parse_qs(parts.query))
                elif parts.path == "/msi/token":
                    self._msi_token(parse_qs(parts.query))
                elif len(segs) == 4 and segs[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                    self._openid(segs[0])
                else:
                    self._send(404, {"error": "not_found", "path": parts.path})

            def do_POST(self) -> None:  # noqa: N802
                if self._arm_call("POST"):
                    return
                parts = urlsplit(self.path)
                segs = [s for s in parts.path.split("/") if s]
                if parts.path == "/oauth2/exchange":
                    self._exchange()
                elif parts.path == "/oauth2/token":
                    self._token_post()
                elif len(segs) == 4 and segs[1:] == ["oauth2", "v2.0", "token"]:
                    self._entra_token(segs[0])
                else:
                    self._send(404, {"error": "not_found", "path": parts.path})

        return Handler


def start_acr(workdir, standin: AzureStandIn, ca):
    """The real distribution registry with token auth behind ``standin`` (already started):
    the registry's port is chosen first so that the service name is its host, as ACR's is its
    login server. Returns the ``Registry`` (a context manager)."""
    from tests.support.localenv import free_port, start_registry
    port = free_port()
    standin.service = f"127.0.0.1:{port}"
    standin.registry_id = standin.add_registry("acrstandin", standin.service)
    return start_registry(Path(workdir), auth="token", port=port, ca=ca, token_realm=standin.realm,
                          token_service=standin.service, token_issuer=standin.issuer,
                          token_rootcertbundle=standin.rootcertbundle)


class NodeTrust(NodeHostsToml):
    """Makes the local node's containerd trust a registry started by a test: a ``hosts.toml`` for
    ``host`` with ``ca`` in the node's ``certs.d`` (containerd reads it at every pull), removed
    again on exit. The token realm is on another port of 127.0.0.1 with a certificate of the same
    CA; containerd fetches tokens with the registry host's TLS settings."""

    def __init__(self, node: Dict[str, Any], host: str, ca: str):
        super().__init__(node, host, f'server = "https://{host}"\n\n' + host_entry(host, ca))
        self.host = host
        self.ca = ca
