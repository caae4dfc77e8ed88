"""template.yaml as SAM translates it, reduced to what the local API needs.

The AWS::Serverless::Api becomes the OpenAPI document API Gateway imports:
its paths and integrations, its authorizers, its gateway responses and CORS mocks. The
functions become AWS::Lambda::Function resources with Globals merged in. This module
reads both, resolving the few intrinsic functions they hold to local values, so the
local server follows the template instead of a second route table.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import template

LOCAL_BUCKET = "local"  # the fake S3 bucket local code URIs are rewritten to before translating
DEFAULT_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local"
LOCAL_STACK_NAME = "lambda-auth"
LOCAL_TABLE_NAME = "lambda-auth"

_INTEGRATION = "x-amazon-apigateway-integration"
_AUTHORIZER = "x-amazon-apigateway-authorizer"
_GATEWAY_RESPONSES = "x-amazon-apigateway-gateway-responses"
_BINARY_MEDIA_TYPES = "x-amazon-apigateway-binary-media-types"
_ANY_METHOD = "x-amazon-apigateway-any-method"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_FUNCTION_IN_URI = re.compile(r"\$\{(\w+)\.Arn\}")


class TemplateError(ValueError):
    """The template holds something the local server cannot run; the message says what."""


@dataclass(frozen=True)
class Function:
    """A Lambda function: where its code is, its handler, its environment, its layers' folders."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    timeout_seconds: int


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of the API (REQUEST or TOKEN) and the function behind it."""

    name: str
    kind: str  # "request" or "token"
    function: str  # logical id
    identity_sources: tuple[str, ...]  # e.g. method.request.header.Authorization
    ttl_seconds: int


@dataclass(frozen=True)
class MockIntegration:
    """A mock integration (SAM's CORS preflight): a fixed status, headers and body."""

    status: int
    headers: dict[str, str]
    body: str
    content_type: str


@dataclass(frozen=True)
class Method:
    """One method of one resource: a Lambda proxy (function) or a mock, maybe behind an authorizer."""

    resource_path: str  # as declared, e.g. /auth/me or /users/{id}
    http_method: str  # upper case, or ANY
    function: str | None = None
    mock: MockIntegration | None = None
    authorizer: str | None = None


@dataclass(frozen=True)
class GatewayResponse:
    """A gateway response of the template: status (None keeps the default), headers, body templates."""

    status: int | None
    headers: dict[str, str]
    templates: dict[str, str]


@dataclass(frozen=True)
class Api:
    """The REST API: stage, methods, authorizers, gateway responses and binary media types."""

    logical_id: str
    stage: str
    methods: tuple[Method, ...]
    authorizers: dict[str, Authorizer]
    gateway_responses: dict[str, GatewayResponse]
    binary_media_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Application:
    """What the local server runs: the API and the functions it calls."""

    api: Api
    functions: dict[str, Function]
    parameters: dict[str, str] = field(default_factory=dict)
    region: str = DEFAULT_REGION


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs; none are needed to run locally."""

    def load(self) -> dict[str, str]:
        return {}


def translate(path: Path = template.TEMPLATE_PATH) -> dict[str, Any]:
    """The template as SAM's transform turns it into CloudFormation, with local code URIs kept."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    try:
        document = yaml_parse(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TemplateError(f"cannot read {path}: {error.strerror}") from None
    for resource in (document.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://{LOCAL_BUCKET}/{properties[key]}"
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)  # the translator needs a region
    # Offline, the translator warns that it has no feature-toggle config; nothing to act on.
    logging.getLogger("samtranslator.feature_toggle").setLevel(logging.ERROR)
    try:
        translated: dict[str, Any] = transform(document, {}, _NoManagedPolicies())
    except Exception as error:  # the translator's errors are many types; each has a readable message
        raise TemplateError(f"SAM cannot translate {path.name}: {error}") from None
    return translated


def load(path: Path = template.TEMPLATE_PATH) -> Application:
    """Translate the template and read its API and functions, resolved for a local run."""
    translated = translate(path)
    root = path.resolve().parent
    parameters = _parameter_defaults(translated)
    resolver = _Resolver(translated, parameters)
    functions = {
        logical_id: _function(logical_id, resource, translated, resolver, root)
        for logical_id, resource in translated["Resources"].items()
        if resource.get("Type") == "AWS::Lambda::Function"
    }
    apis = [
        (logical_id, resource)
        for logical_id, resource in translated["Resources"].items()
        if resource.get("Type") == "AWS::ApiGateway::RestApi"
    ]
    if len(apis) != 1:
        raise TemplateError(f"the local server runs one REST API; {path.name} has {len(apis)}")
    logical_id, resource = apis[0]
    api = _api(logical_id, resource, translated, resolver)
    return Application(api=api, functions=functions, parameters=parameters, region=resolver.region)


def _parameter_defaults(translated: dict[str, Any]) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for name, spec in (translated.get("Parameters") or {}).items():
        if "Default" in spec:
            defaults[name] = str(spec["Default"])
    return defaults


class _Resolver:
    """Ref, Fn::Sub, Fn::GetAtt and Fn::Join resolved to local values; other intrinsics are refused."""

    def __init__(self, translated: dict[str, Any], parameters: dict[str, str]):
        self.resources: dict[str, Any] = translated.get("Resources") or {}
        self.parameters = parameters
        self.region = os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.resources:
            if self.resources[name].get("Type") == "AWS::DynamoDB::Table":
                return LOCAL_TABLE_NAME
            return name
        raise TemplateError(f"Ref to unknown name {name!r}")

    def get_att(self, name: str, attribute: str) -> str:
        if name not in self.resources:
            raise TemplateError(f"Fn::GetAtt on unknown resource {name!r}")
        if attribute == "Arn":
            kind = self.resources[name].get("Type", "")
            service = kind.split("::")[1].lower() if kind.count("::") == 2 else "local"
            return f"arn:aws:{service}:{self.region}:{LOCAL_ACCOUNT_ID}:{name}"
        return name

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self.sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self.resolve(items))
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local server")
        return {key: self.resolve(item) for key, item in value.items()}

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        local = {name: str(self.resolve(item)) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return local[name]
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))


def _local_dir(code: Any, root: Path, what: str) -> Path:
    if not isinstance(code, dict) or code.get("S3Bucket") != LOCAL_BUCKET:
        raise TemplateError(f"{what}'s code is not a local folder")
    folder = (root / str(code["S3Key"])).resolve()
    if not folder.is_dir():
        raise TemplateError(f"{what}'s code folder {folder} does not exist")
    return folder


def _function(
    logical_id: str, resource: dict[str, Any], translated: dict[str, Any], resolver: _Resolver, root: Path
) -> Function:
    properties = resource.get("Properties") or {}
    code_dir = _local_dir(properties.get("Code"), root, logical_id)
    runtime = str(properties.get("Runtime", ""))
    if not runtime.startswith("python"):
        raise TemplateError(f"{logical_id} runs {runtime or 'no runtime'}; the local server runs Python functions")
    layer_dirs = []
    for layer in properties.get("Layers") or []:
        name = layer.get("Ref") if isinstance(layer, dict) else None
        content = ((translated["Resources"].get(name) or {}).get("Properties") or {}).get("Content")
        layer_dir = _local_dir(content, root, f"{logical_id}'s layer {name or layer}")
        # Lambda puts a layer's python/ folder on the path; SAM builds one from a plain folder.
        layer_dirs.append(layer_dir / "python" if (layer_dir / "python").is_dir() else layer_dir)
    variables = ((properties.get("Environment") or {}).get("Variables")) or {}
    return Function(
        logical_id=logical_id,
        code_dir=code_dir,
        handler=str(properties.get("Handler", "")),
        environment={name: str(resolver.resolve(value)) for name, value in variables.items()},
        layer_dirs=tuple(layer_dirs),
        timeout_seconds=int(properties.get("Timeout", 3)),
    )


def _function_of(uri: Any) -> str | None:
    """The logical id of the function an aws_proxy or authorizer URI invokes."""
    if isinstance(uri, dict) and "Fn::Sub" in uri:
        argument = uri["Fn::Sub"]
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        match = _FUNCTION_IN_URI.search(text)
        if match:
            return match.group(1)
        for value in variables.values():
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                target = value["Fn::GetAtt"]
                return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


def _unquoted(value: str) -> str:
    """A static mapping value ('text') without its quotes."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def _stage(translated: dict[str, Any], api_id: str, resolver: _Resolver) -> str:
    for resource in translated["Resources"].values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::ApiGateway::Stage" and properties.get("RestApiId") == {"Ref": api_id}:
            return str(resolver.resolve(properties.get("StageName")))
    raise TemplateError(f"{api_id} has no stage")


def _mock(integration: dict[str, Any], resolver: _Resolver) -> MockIntegration:
    request_template = (integration.get("requestTemplates") or {}).get("application/json", "")
    match = re.search(r'"statusCode"\s*:\s*(\d+)', request_template)
    status = int(match.group(1)) if match else 200
    responses = integration.get("responses") or {}
    chosen = next(
        (spec for pattern, spec in responses.items() if pattern != "default" and re.fullmatch(pattern, str(status))),
        responses.get("default") or {},
    )
    headers = {}
    for name, value in (chosen.get("responseParameters") or {}).items():
        prefix = "method.response.header."
        resolved = resolver.resolve(value)
        if name.startswith(prefix) and isinstance(resolved, str) and resolved.startswith("'"):
            headers[name[len(prefix) :]] = _unquoted(resolved)
    templates = chosen.get("responseTemplates") or {}
    content_type = next(iter(templates), "application/json")
    return MockIntegration(
        status=int(chosen.get("statusCode", status)),
        headers=headers,
        body=str(templates.get(content_type, "")),
        content_type=content_type,
    )


def _api(logical_id: str, resource: dict[str, Any], translated: dict[str, Any], resolver: _Resolver) -> Api:
    body = (resource.get("Properties") or {}).get("Body")
    if not isinstance(body, dict):
        raise TemplateError(f"{logical_id} has no inline API definition (DefinitionUri is not supported locally)")
    authorizers: dict[str, Authorizer] = {}
    # OpenAPI 3 keeps security schemes under components; swagger 2 under securityDefinitions.
    schemes = (body.get("components") or {}).get("securitySchemes") or body.get("securityDefinitions") or {}
    for name, definition in schemes.items():
        spec = definition.get(_AUTHORIZER)
        if not spec:
            continue
        kind = str(spec.get("type", "token")).lower()
        function = _function_of(spec.get("authorizerUri"))
        if kind not in ("request", "token") or function is None:
            raise TemplateError(f"authorizer {name} is not a Lambda authorizer")
        sources = str(spec.get("identitySource") or "")
        if kind == "token" and not sources:
            sources = f"method.request.header.{definition.get('name', 'Authorization')}"
        authorizers[name] = Authorizer(
            name=name,
            kind=kind,
            function=function,
            identity_sources=tuple(source.strip() for source in sources.split(",") if source.strip()),
            ttl_seconds=int(spec.get("authorizerResultTtlInSeconds", 300)),
        )
    default_security = [next(iter(item)) for item in body.get("security") or [] if item]
    methods = []
    for path, operations in (body.get("paths") or {}).items():
        for key, operation in operations.items():
            if key not in _HTTP_METHODS and key != _ANY_METHOD:
                continue
            integration = operation.get(_INTEGRATION) or {}
            integration_type = integration.get("type")
            declared = operation.get("security")
            security = [next(iter(item)) for item in declared if item] if declared is not None else default_security
            authorizer = next((name for name in security if name in authorizers), None)
            http_method = "ANY" if key == _ANY_METHOD else key.upper()
            if integration_type == "aws_proxy":
                function = _function_of(integration.get("uri"))
                if function is None:
                    raise TemplateError(f"{http_method} {path} does not invoke a function of the template")
                methods.append(Method(path, http_method, function=function, authorizer=authorizer))
            elif integration_type == "mock":
                methods.append(Method(path, http_method, mock=_mock(integration, resolver), authorizer=authorizer))
            else:
                raise TemplateError(
                    f"{http_method} {path} has a {integration_type} integration; locally only aws_proxy and mock"
                )
    responses: dict[str, GatewayResponse] = {}
    for kind, spec in (body.get(_GATEWAY_RESPONSES) or {}).items():
        headers = {}
        for name, value in (spec.get("responseParameters") or {}).items():
            prefix = "gatewayresponse.header."
            resolved = resolver.resolve(value)
            if name.startswith(prefix) and isinstance(resolved, str):
                headers[name[len(prefix) :]] = _unquoted(resolved)
        status = spec.get("statusCode")
        responses[kind] = GatewayResponse(
            status=int(status) if status is not None else None,
            headers=headers,
            templates={str(key): str(value) for key, value in (spec.get("responseTemplates") or {}).items()},
        )
    return Api(
        logical_id=logical_id,
        stage=_stage(translated, logical_id, resolver),
        methods=tuple(methods),
        authorizers=authorizers,
        gateway_responses=responses,
        binary_media_types=tuple(str(kind) for kind in body.get(_BINARY_MEDIA_TYPES) or []),
    )
