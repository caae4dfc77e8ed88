"""template.yaml, the one description of the deployed system, read for the local tools: its parameters, the users
table, and the application as SAM translates it (the local server follows it, not a second route table), its
intrinsic functions resolved to local values. `lambda-auth serve` runs what this template uses and what a SAM user
would plausibly add: Lambda proxy and mock (CORS) integrations, `{param}` path segments, REQUEST authorizers without
identity sources or caching. Anything else is refused by name rather than half-emulated.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import re
import secrets
import string
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
LOCAL_BUCKET = "local"  # the fake S3 bucket local code URIs are rewritten to before translating
DEFAULT_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local"
LOCAL_STACK_NAME = "lambda-auth"
LOCAL_TABLE_NAME = "lambda-auth"

# An aws_proxy or authorizer URI resolved: .../functions/{the function's ARN as resolved here}[:qualifier]/invocations
_FUNCTION_URI = re.compile(r"/functions/arn:aws:lambda:[\w-]+:\d+:(?!function:)(\w+)(:[^/]*)?/invocations")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_UNSUPPORTED = {
    "x-amazon-apigateway-any-method": "ANY methods",
    "x-amazon-apigateway-binary-media-types": "binary media types",
}


class TemplateError(ValueError):
    """The template holds something the local tools cannot run; the message says what."""


@functools.cache
def load(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, intrinsic functions in their long form (read once: treat it as read-only)."""
    from samtranslator.yaml_helper import yaml_parse

    try:
        document = yaml_parse(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TemplateError(f"cannot read {path}: {error.strerror}") from None
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a template")
    return document


@dataclass(frozen=True)
class Parameter:
    default: str
    minimum: int | None = None
    maximum: int | None = None


def parameter(name: str, path: Path = TEMPLATE_PATH) -> Parameter:
    spec = load(path)["Parameters"][name]
    bounds = (spec.get("MinValue"), spec.get("MaxValue"))
    return Parameter(str(spec.get("Default", "")), *(int(bound) if bound is not None else None for bound in bounds))


def table_definition(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The users table's key schema, attributes, billing mode and TTL, as CreateTable takes them."""
    properties = load(path)["Resources"]["UsersTable"]["Properties"]
    keys = ("AttributeDefinitions", "KeySchema", "BillingMode", "TimeToLiveSpecification")
    return {"BillingMode": "PAY_PER_REQUEST"} | {key: properties[key] for key in keys if key in properties}


def first_token_keys(path: Path = TEMPLATE_PATH) -> str:
    """The token keys' secret as the stack creates it: GenerateSecretString's SecretStringTemplate
    with a fresh random string, of its length and from its alphabet, under its GenerateStringKey."""
    spec = load(path)["Resources"]["TokenKeys"]["Properties"]["GenerateSecretString"]
    classes = {
        "ExcludeLowercase": string.ascii_lowercase,
        "ExcludeUppercase": string.ascii_uppercase,
        "ExcludeNumbers": string.digits,
        "ExcludePunctuation": string.punctuation,
    }
    alphabet = "".join(characters for flag, characters in classes.items() if not spec.get(flag))
    alphabet += " " if spec.get("IncludeSpace") else ""
    alphabet = "".join(character for character in alphabet if character not in spec.get("ExcludeCharacters", ""))
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(int(spec["PasswordLength"])))
    return json.dumps(document)


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]  # each on the path as Lambda puts /opt/python
    timeout_seconds: int
    role: str = ""  # its execution role, by logical id
    policies: tuple[dict[str, Any], ...] = ()  # the role's inline policy documents, resolved


@dataclass(frozen=True)
class Authorizer:
    function: str  # the REQUEST authorizer's function, by logical id


@dataclass(frozen=True)
class FixedResponse:
    """A mock integration's fixed answer (SAM's CORS preflight), or a gateway response's (status None: the default)."""

    status: int | None
    headers: dict[str, str]
    templates: dict[str, str]  # body templates by content type


@dataclass(frozen=True)
class Method:
    """One method of one resource: a Lambda proxy (function) or a mock, maybe behind an authorizer."""

    resource_path: str  # as declared, e.g. /auth/me or /users/{id}
    http_method: str  # upper case
    function: str | None = None
    mock: FixedResponse | None = None
    authorizer: str | None = None


@dataclass(frozen=True)
class Api:
    logical_id: str
    stage: str
    methods: tuple[Method, ...]
    authorizers: dict[str, Authorizer]
    gateway_responses: dict[str, FixedResponse]


@dataclass(frozen=True)
class Application:
    api: Api
    functions: dict[str, Function]
    region: str = DEFAULT_REGION


def translate(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as SAM's transform turns it into CloudFormation, with local code URIs kept."""
    from samtranslator.translator.transform import transform

    document = copy.deepcopy(load(path))
    for resource in (document.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://{LOCAL_BUCKET}/{properties[key]}"
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)  # the translator needs a region
    logging.getLogger("samtranslator.feature_toggle").setLevel(logging.ERROR)  # its offline warning is noise
    no_managed_policies = types.SimpleNamespace(load=dict)  # their ARNs are not needed to run locally
    try:
        translated: dict[str, Any] = transform(document, {}, no_managed_policies)
    except Exception as error:  # the translator's errors are many types; each has a readable message
        raise TemplateError(f"SAM cannot translate {path.name}: {error}") from None
    return translated


def application(path: Path = TEMPLATE_PATH, overrides: Mapping[str, str] | None = None) -> Application:
    """The template's API and functions, resolved for a local run with the parameters' defaults or the values in
    `overrides` (as `sam deploy --parameter-overrides` gives them); a name the template does not declare is an error."""
    translated = translate(path)
    resources: dict[str, Any] = translated["Resources"]
    declared = translated.get("Parameters", {})
    unknown = sorted(set(overrides or {}) - set(declared))
    if unknown:
        raise TemplateError(f"{path.name} has no parameter {', '.join(unknown)}")
    parameters = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    for name, value in (overrides or {}).items():
        # A value CloudFormation would accept: one of the allowed values, a number in bounds.
        spec = declared[name]
        allowed = [str(choice) for choice in spec.get("AllowedValues", [])]
        if allowed and value not in allowed:
            raise TemplateError(f"parameter {name} is one of {', '.join(allowed)}, not {value!r}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise TemplateError(f"parameter {name} is a number, not {value!r}") from None
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if (low is not None and number < float(low)) or (high is not None and number > float(high)):
                raise TemplateError(f"parameter {name} is from {low} to {high}, not {value}")
        parameters[name] = value
    resolver = _Resolver(resources, parameters, translated.get("Conditions") or {})
    root = path.resolve().parent
    functions = {
        name: _function(name, resource, resolver, root)
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::Lambda::Function"
    }
    apis = [item for item in resources.items() if item[1].get("Type") == "AWS::ApiGateway::RestApi"]
    if len(apis) != 1:
        raise TemplateError(f"lambda-auth serve runs one REST API; {path.name} has {len(apis)}")
    return Application(_api(*apis[0], resolver), functions, resolver.region)


_NO_VALUE = object()  # AWS::NoValue: the item or property it stands for is left out


class _Resolver:
    """Ref, Fn::Sub, Fn::GetAtt and Fn::If (on the template's conditions) resolved to local values; other
    intrinsics are refused."""

    def __init__(self, resources: dict[str, Any], parameters: dict[str, str], conditions: dict[str, Any]):
        self.resources = resources
        self.conditions = conditions
        self.region = os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": LOCAL_ACCOUNT_ID, "AWS::StackName": LOCAL_STACK_NAME}
        self.names = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", **pseudo, **parameters}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.names:
            return self.names[name]
        if name not in self.resources:
            raise TemplateError(f"Ref to unknown name {name!r}")
        return LOCAL_TABLE_NAME if self.resources[name].get("Type") == "AWS::DynamoDB::Table" else name

    def arn(self, name: str) -> str:
        if name not in self.resources:
            raise TemplateError(f"Fn::GetAtt on unknown resource {name!r}")
        kind = self.resources[name].get("Type", "AWS::Local::")
        if kind == "AWS::DynamoDB::Table":  # the table's ARN as DynamoDB's requests are authorized against it
            return f"arn:aws:dynamodb:{self.region}:{LOCAL_ACCOUNT_ID}:table/{LOCAL_TABLE_NAME}"
        return f"arn:aws:{kind.split('::')[1].lower()}:{self.region}:{LOCAL_ACCOUNT_ID}:{name}"

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self._holds(self.conditions[name])

    def _holds(self, value: Any) -> bool:
        key, argument = next(iter(value.items())) if isinstance(value, dict) and len(value) == 1 else ("", [])
        if key == "Condition":
            return self.condition(str(argument))
        if key == "Fn::Equals":
            return len({str(self.resolve(item)) for item in argument}) == 1
        if key == "Fn::Not":
            return not self._holds(argument[0])
        if key in ("Fn::And", "Fn::Or"):
            results = [self._holds(item) for item in argument]
            return all(results) if key == "Fn::And" else any(results)
        raise TemplateError(f"the condition {value!r} is not supported by lambda-auth serve")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::GetAtt" and argument[1] == "Arn":
                return self.arn(argument[0])
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                local = {name: str(self.resolve(item)) for name, item in variables.items()}
                substituted = re.sub(r"\$\{([^}!][^}]*)\}", lambda match: self._sub(match[1], local), text)
                return substituted.replace("${!", "${")
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by lambda-auth serve")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _sub(self, name: str, local: dict[str, str]) -> str:
        resource, _, attribute = name.partition(".")
        return local[name] if name in local else self.arn(resource) if attribute == "Arn" else str(self.ref(name))

    def function_of(self, uri: Any) -> str | None:
        match = _FUNCTION_URI.search(str(self.resolve(uri)))
        return match[1] if match else None

    def headers(self, parameters: dict[str, Any], prefix: str) -> dict[str, str]:
        """The headers a response-parameter mapping sets to fixed values ('text', without its quotes)."""
        resolved = self.resolve(parameters).items()
        return {
            name[len(prefix) :]: value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value
            for name, value in resolved
            if name.startswith(prefix) and isinstance(value, str)
        }


def _local_dir(code: Any, root: Path, what: str) -> Path:
    if not isinstance(code, dict) or code.get("S3Bucket") != LOCAL_BUCKET:
        raise TemplateError(f"{what}'s code is not a local folder")
    folder = (root / str(code["S3Key"])).resolve()
    if not folder.is_dir():
        raise TemplateError(f"{what}'s code folder {folder} does not exist")
    return folder


def _function(logical_id: str, resource: dict[str, Any], resolver: _Resolver, root: Path) -> Function:
    properties = resource.get("Properties") or {}
    code_dir = _local_dir(properties.get("Code"), root, logical_id)
    runtime = str(properties.get("Runtime", ""))
    if not runtime.startswith("python"):
        raise TemplateError(f"{logical_id} runs {runtime or 'no runtime'}; lambda-auth serve runs Python functions")
    layer_dirs = []
    for layer in properties.get("Layers") or []:
        name = layer.get("Ref") if isinstance(layer, dict) else None
        content = ((resolver.resources.get(name or "") or {}).get("Properties") or {}).get("Content")
        layer_dir = _local_dir(content, root, f"{logical_id}'s layer {name or layer}")
        # Lambda puts a layer's python/ folder on the path; SAM builds one from a plain folder.
        layer_dirs.append(layer_dir / "python" if (layer_dir / "python").is_dir() else layer_dir)
    variables = ((properties.get("Environment") or {}).get("Variables")) or {}
    environment = {name: str(resolver.resolve(value)) for name, value in variables.items()}
    handler, timeout = str(properties.get("Handler", "")), int(properties.get("Timeout", 3))
    role = properties.get("Role")
    role_name = role["Fn::GetAtt"][0] if isinstance(role, dict) and "Fn::GetAtt" in role else None
    if role_name not in resolver.resources:
        raise TemplateError(f"{logical_id}'s role is not one of the template's, which lambda-auth serve runs it under")
    policies = resolver.resolve((resolver.resources[role_name].get("Properties") or {}).get("Policies") or [])
    documents = tuple(policy["PolicyDocument"] for policy in policies)
    return Function(logical_id, code_dir, handler, environment, tuple(layer_dirs), timeout, role_name, documents)


def _mock(integration: dict[str, Any], resolver: _Resolver) -> FixedResponse:
    request_template = (integration.get("requestTemplates") or {}).get("application/json", "")
    match = re.search(r'"statusCode"\s*:\s*(\d+)', request_template)
    status = int(match.group(1)) if match else 200
    responses = integration.get("responses") or {}
    chosen = next(
        (spec for pattern, spec in responses.items() if pattern != "default" and re.fullmatch(pattern, str(status))),
        responses.get("default") or {},
    )
    return _fixed(chosen, "method.response.header.", resolver, status)


def _fixed(spec: dict[str, Any], prefix: str, resolver: _Resolver, default: int | None) -> FixedResponse:
    status = spec.get("statusCode")
    templates = {str(key): str(value) for key, value in (spec.get("responseTemplates") or {}).items()}
    headers = resolver.headers(spec.get("responseParameters") or {}, prefix)
    return FixedResponse(default if status is None else int(status), headers, templates)


def _api(logical_id: str, resource: dict[str, Any], resolver: _Resolver) -> Api:
    body = (resource.get("Properties") or {}).get("Body")
    if not isinstance(body, dict):
        raise TemplateError(f"{logical_id} has no inline API definition (DefinitionUri is not supported locally)")
    for key, feature in _UNSUPPORTED.items():
        if key in body:
            raise TemplateError(f"{feature} are not supported by lambda-auth serve")
    authorizers = {}
    # OpenAPI 3 keeps security schemes under components; swagger 2 under securityDefinitions.
    schemes = (body.get("components") or {}).get("securitySchemes") or body.get("securityDefinitions") or {}
    for name, definition in schemes.items():
        spec = definition.get("x-amazon-apigateway-authorizer")
        if not spec:
            continue
        function = resolver.function_of(spec.get("authorizerUri"))
        if str(spec.get("type", "token")).lower() != "request" or function is None:
            raise TemplateError(f"authorizer {name}: lambda-auth serve runs REQUEST Lambda authorizers only")
        if spec.get("identitySource") or int(spec.get("authorizerResultTtlInSeconds", 300)):
            raise TemplateError(
                f"authorizer {name}: identity sources and caching are not supported by lambda-auth serve"
                " (this template's authorizer has neither: a token may come in a header or the query string)"
            )
        authorizers[name] = Authorizer(function)
    methods = []
    for path, operations in (body.get("paths") or {}).items():
        if "+}" in path:
            raise TemplateError(f"{path}: greedy path parameters are not supported by lambda-auth serve")
        for key, operation in operations.items():
            if key in _UNSUPPORTED:
                raise TemplateError(f"{path}: {_UNSUPPORTED[key]} are not supported by lambda-auth serve")
            if key not in _HTTP_METHODS:
                continue
            integration = operation.get("x-amazon-apigateway-integration") or {}
            security = operation.get("security") if operation.get("security") is not None else body.get("security")
            names = [next(iter(item)) for item in security or [] if item]
            authorizer = next((name for name in names if name in authorizers), None)
            if integration.get("type") == "aws_proxy":
                function = resolver.function_of(integration.get("uri"))
                if function is None:
                    raise TemplateError(f"{key.upper()} {path} does not invoke a function of the template")
                methods.append(Method(path, key.upper(), function=function, authorizer=authorizer))
            elif integration.get("type") == "mock":
                methods.append(Method(path, key.upper(), mock=_mock(integration, resolver), authorizer=authorizer))
            else:
                raise TemplateError(
                    f"{key.upper()} {path} has a {integration.get('type')} integration;"
                    " lambda-auth serve runs aws_proxy and mock ones"
                )
    responses = {
        kind: _fixed(spec, "gatewayresponse.header.", resolver, None)
        for kind, spec in (body.get("x-amazon-apigateway-gateway-responses") or {}).items()
    }
    for stage in resolver.resources.values():
        properties = stage.get("Properties") or {}
        if stage.get("Type") == "AWS::ApiGateway::Stage" and properties.get("RestApiId") == {"Ref": logical_id}:
            name = str(resolver.resolve(properties.get("StageName")))
            return Api(logical_id, name, tuple(methods), authorizers, responses)
    raise TemplateError(f"{logical_id} has no stage")
