"""template.yaml's wiring, checked as written and as SAM translates it to CloudFormation."""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any

import pytest
from jwcrypto.common import base64url_decode

from lambda_auth import api, tokens
from lambda_auth.errors import AuthError, NotFound, TooManyRequests, Unauthorized
from lambda_auth.keys import KEY_BYTES, KeySetError, parse_key_set
from lambda_auth.store import layout
from lambda_auth.store.attempts import AttemptItem
from lambda_auth_cli.template import PROJECT_ROOT, TEMPLATE_PATH, first_token_keys, load, translate

from .rendering import failed_rules, render

FUNCTIONS = {
    "SignupFunction": ("signup", "/auth/signup", "post"),
    "LoginFunction": ("login", "/auth/login", "post"),
    "MeFunction": ("me", "/auth/me", "get"),
    "LogoutFunction": ("logout", "/auth/logout", "post"),
    "PasswordChangeFunction": ("password", "/auth/password", "post"),
    "PasswordResetFunction": ("password_reset", "/auth/password-reset", "post"),
    "PasswordResetConfirmFunction": ("password_reset_confirm", "/auth/password-reset/confirm", "post"),
    "PasswordResetMailerFunction": ("password_reset_mailer", None, None),
    "AuthorizerFunction": ("authorizer", None, None),
}
# The routes that take a token: the authorizer runs before them.
AUTHORIZED = {"/auth/me", "/auth/logout", "/auth/password"}
AUTHORIZER = "TokenAuthorizer"
CORS_ORIGIN = {"Fn::Sub": "'${CorsAllowOrigin}'"}
TABLE_ARN = {"Fn::GetAtt": ["UsersTable", "Arn"]}
SECRET_ARN = {"Fn::Sub": ["${secretArn}", {"secretArn": {"Ref": "TokenKeys"}}]}
MAILER_FAILURES_ARN = {"Fn::GetAtt": ["PasswordResetMailerFailures", "Arn"]}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"
BASE64URL = set(string.ascii_letters + string.digits + "-_")
ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETSMANAGER",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_SESV2",
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    """The template as SAM's transform turns it into CloudFormation (what the local server runs)."""
    return translate()


def of_type(cloudformation: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in cloudformation["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def swagger(translated: dict[str, Any]) -> dict[str, Any]:
    body = translated["Resources"]["AuthApi"]["Properties"]["Body"]
    assert isinstance(body, dict)
    return body


# functions and the layer


def test_every_function_runs_python_3_13_on_the_architecture_parameter_set_once_in_globals(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    assert template["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]
    for name in FUNCTIONS:
        assert not {"Runtime", "Architectures"} & set(template["Resources"][name]["Properties"])
    functions = of_type(translated, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for function in functions.values():
        assert function["Properties"]["Runtime"] == "python3.13"
        assert function["Properties"]["Architectures"] == [{"Ref": "Architecture"}]


def test_the_architecture_is_arm64_unless_x86_64_is_chosen(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["Architecture"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("arm64", ["arm64", "x86_64"])


def test_each_function_is_a_handler_module_in_its_own_folder(resources: dict[str, Any]) -> None:
    for name, (folder, _, _) in FUNCTIONS.items():
        properties = resources[name]["Properties"]
        assert properties["CodeUri"] == f"functions/{folder}/"
        assert properties["Handler"] == "app.lambda_handler"
        assert "def lambda_handler(" in (PROJECT_ROOT / "functions" / folder / "app.py").read_text()


def test_one_layer_built_from_the_lock_by_its_makefile_for_the_architecture_parameter(
    resources: dict[str, Any],
) -> None:
    layers = {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::LayerVersion"}
    assert list(layers) == ["AuthLayer"]
    layer = layers["AuthLayer"]
    assert layer["Metadata"] == {
        "BuildMethod": "makefile",
        "BuildArchitecture": {"Ref": "Architecture"},
        "ContextPath": {"Fn::Sub": "layers/auth/architecture/${Architecture}"},
    }
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    content = PROJECT_ROOT / layer["Properties"]["ContentUri"]
    assert "build-AuthLayer:" in (content / "Makefile").read_text()
    assert "--require-hashes" in (content / "Makefile").read_text()
    assert (content / "requirements.txt").is_file()
    assert (content / "lambda_auth" / "__init__.py").is_file()


def test_each_architecture_has_the_makefile_its_layer_build_starts_from(template: dict[str, Any]) -> None:
    """SAM passes a makefile build no architecture: the one in ContextPath's folder names the wheels'."""
    machines = {"arm64": "aarch64", "x86_64": "x86_64"}
    for architecture in template["Parameters"]["Architecture"]["AllowedValues"]:
        machine = machines[architecture]
        makefile = PROJECT_ROOT / "layers" / "auth" / "architecture" / architecture / "Makefile"
        lines = makefile.read_text().splitlines()
        assert f"LAYER_MACHINE := {machine}" in lines
        assert "include $(dir $(lastword $(MAKEFILE_LIST)))../../Makefile" in lines


def test_lambda_and_api_gateway_trace_every_request_without_the_x_ray_sdk(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """Traces are Lambda's Active tracing and the stage's; the layer ships no X-Ray SDK (README: Tracing)."""
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    assert resources["AuthApi"]["Properties"]["TracingEnabled"] is True
    requirements = (PROJECT_ROOT / "layers" / "auth" / "requirements.txt").read_text()
    assert "aws-xray-sdk" not in requirements


def test_every_function_uses_the_one_layer_from_globals(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "AuthLayer"}]
    for name in FUNCTIONS:
        assert "Layers" not in template["Resources"][name]["Properties"]


def test_translated_functions_all_reference_the_one_layer_version(translated: dict[str, Any]) -> None:
    layer_versions = of_type(translated, "AWS::Lambda::LayerVersion")
    assert len(layer_versions) == 1
    (layer,) = layer_versions
    for function in of_type(translated, "AWS::Lambda::Function").values():
        assert function["Properties"]["Layers"] == [{"Ref": layer}]


# the API and its authorizer


def test_each_route_invokes_its_own_function(swagger: dict[str, Any]) -> None:
    routes = {(path, method) for _, path, method in FUNCTIONS.values() if path}
    served = {(path, method) for path, item in swagger["paths"].items() for method in item if method != "options"}
    assert served == routes
    for name, (_, path, method) in FUNCTIONS.items():
        if path:
            integration = swagger["paths"][path][method]["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy"
            assert f"${{{name}.Arn}}" in integration["uri"]["Fn::Sub"]


def test_authorizer_is_a_request_authorizer_with_no_identity_sources_and_no_cache(resources: dict[str, Any]) -> None:
    auth = resources["AuthApi"]["Properties"]["Auth"]
    assert "DefaultAuthorizer" not in auth
    assert set(auth["Authorizers"]) == {AUTHORIZER}
    authorizer = auth["Authorizers"][AUTHORIZER]
    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert authorizer["Identity"] == {"ReauthorizeEvery": 0}


def test_only_the_routes_that_take_a_token_name_the_authorizer(resources: dict[str, Any]) -> None:
    for name, (_, path, _) in FUNCTIONS.items():
        for event in resources[name]["Properties"].get("Events", {}).values():
            expected = {"Authorizer": AUTHORIZER} if path in AUTHORIZED else None
            assert event["Properties"].get("Auth") == expected


def test_translated_api_secures_the_routes_that_take_a_token_only(swagger: dict[str, Any]) -> None:
    for path in AUTHORIZED:
        for method in set(swagger["paths"][path]) - {"options"}:
            assert swagger["paths"][path][method]["security"] == [{AUTHORIZER: []}]
    public = [(path, method) for _, path, method in FUNCTIONS.values() if path and path not in AUTHORIZED]
    for path, method in public:
        assert "security" not in swagger["paths"][path][method]


def test_translated_cors_preflights_need_no_token(swagger: dict[str, Any]) -> None:
    for path, item in swagger["paths"].items():
        assert "options" in item, path
        assert "security" not in item["options"], path


def test_translated_authorizer_is_request_type_uncached_without_identity_source(swagger: dict[str, Any]) -> None:
    schemes = swagger["components"]["securitySchemes"]
    assert set(schemes) == {AUTHORIZER}
    authorizer = schemes[AUTHORIZER]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["authorizerResultTtlInSeconds"] == 0
    assert "identitySource" not in authorizer
    assert authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}


def test_the_api_has_only_its_own_stage(resources: dict[str, Any], translated: dict[str, Any]) -> None:
    # Without an OpenAPI 3 body, SAM also deploys a default stage named "Stage": a second
    # URL without the stage's throttling and access logs.
    assert resources["AuthApi"]["Properties"]["OpenApiVersion"].startswith("3.")
    stages = of_type(translated, "AWS::ApiGateway::Stage").values()
    assert [stage["Properties"]["StageName"] for stage in stages] == [{"Ref": "StageName"}]
    for deployment in of_type(translated, "AWS::ApiGateway::Deployment").values():
        assert "StageName" not in deployment["Properties"]


def test_api_gateway_may_invoke_the_authorizer(translated: dict[str, Any]) -> None:
    permissions = of_type(translated, "AWS::Lambda::Permission").values()
    assert any(
        p["Properties"]["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
        and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        for p in permissions
    )


# gateway responses


def gateway_responses(template: dict[str, Any], translated: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """Each gateway response as status (text or None), JSON body template and CORS origin header."""
    if source == "raw":
        declared = template["Resources"]["AuthApi"]["Properties"]["GatewayResponses"]
        return {
            name: {
                "status": str(r["StatusCode"]) if "StatusCode" in r else None,
                "body": r["ResponseTemplates"]["application/json"],
                "origin": r["ResponseParameters"]["Headers"].get("Access-Control-Allow-Origin"),
            }
            for name, r in declared.items()
        }
    declared = translated["Resources"]["AuthApi"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    return {
        name: {
            "status": r.get("statusCode"),
            "body": r["responseTemplates"]["application/json"],
            "origin": r["responseParameters"].get("gatewayresponse.header.Access-Control-Allow-Origin"),
        }
        for name, r in declared.items()
    }


SAMPLE_MESSAGE = 'Missing "Authorization" header \\ or query'


def rendered(body_template: str) -> Any:
    """The body API Gateway sends; $context.error.messageString is already a quoted JSON string."""
    body = body_template.replace("$context.error.messageString", json.dumps(SAMPLE_MESSAGE))
    assert "$" not in body
    return json.loads(body)


EXPECTED_GATEWAY_RESPONSES: dict[str, tuple[str | None, AuthError | None]] = {
    "UNAUTHORIZED": ("401", Unauthorized()),
    # The authorizer refuses a token with a Deny policy, which API Gateway answers with ACCESS_DENIED.
    "ACCESS_DENIED": ("401", Unauthorized()),
    "MISSING_AUTHENTICATION_TOKEN": ("404", NotFound()),
    "THROTTLED": ("429", TooManyRequests(1)),
    "DEFAULT_4XX": (None, None),
    "DEFAULT_5XX": (None, None),
}


@pytest.mark.parametrize("source", ["raw", "translated"])
def test_every_gateway_response_body_is_json_with_code_and_message(
    template: dict[str, Any], translated: dict[str, Any], source: str
) -> None:
    responses = gateway_responses(template, translated, source)
    assert set(responses) == set(EXPECTED_GATEWAY_RESPONSES)
    for name, response in responses.items():
        body = rendered(response["body"])
        assert set(body) == {"code", "message"}, name
        assert isinstance(body["code"], str) and body["code"].startswith("ERROR_"), name
        assert isinstance(body["message"], str) and body["message"], name


@pytest.mark.parametrize("source", ["raw", "translated"])
def test_every_gateway_response_carries_the_cors_origin(
    template: dict[str, Any], translated: dict[str, Any], source: str
) -> None:
    for name, response in gateway_responses(template, translated, source).items():
        assert response["origin"] == CORS_ORIGIN, name


@pytest.mark.parametrize("source", ["raw", "translated"])
@pytest.mark.parametrize("name", [n for n, (_, error) in EXPECTED_GATEWAY_RESPONSES.items() if error])
def test_gateway_refusals_match_the_functions_status_code_and_message(
    template: dict[str, Any], translated: dict[str, Any], source: str, name: str
) -> None:
    status, error = EXPECTED_GATEWAY_RESPONSES[name]
    assert error is not None
    response = gateway_responses(template, translated, source)[name]
    assert response["status"] == status == str(error.status)
    assert rendered(response["body"]) == api.error_body(error.code, error.message)


def test_default_4xx_passes_api_gateways_message_through(template: dict[str, Any], translated: dict[str, Any]) -> None:
    response = gateway_responses(template, translated, "translated")["DEFAULT_4XX"]
    assert rendered(response["body"]) == {"code": "ERROR_CODE_BAD_REQUEST", "message": SAMPLE_MESSAGE}


def test_default_5xx_is_the_functions_fatal_body(template: dict[str, Any], translated: dict[str, Any]) -> None:
    response = gateway_responses(template, translated, "translated")["DEFAULT_5XX"]
    assert rendered(response["body"]) == api.error_body(api.FATAL_CODE, api.FATAL_MESSAGE)


# IAM: least privilege per function


Grant = tuple[str, str, str | None]  # action, resource, the key prefix (dynamodb:LeadingKeys) it is limited to


def grants(translated: dict[str, Any], function: str) -> set[Grant]:
    """(action, resource, key prefix) triples a function's role allows with every parameter at its default;
    resources named, or dumped when unknown. (The KMS grants a key adds: test_template_production.py.)"""
    mailer = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*",
            {"functionName": {"Ref": "PasswordResetMailerFunction"}},
        ]
    }
    known = {
        json.dumps(TABLE_ARN): "UsersTable",
        json.dumps(SECRET_ARN): "TokenKeys",
        json.dumps(mailer): "the mailer",
        json.dumps(MAILER_FAILURES_ARN): "PasswordResetMailerFailures",
    }
    triples: set[Grant] = set()
    for statement in statements(translated, function):
        assert statement["Effect"] == "Allow"
        assert set(statement.get("Condition", {})) <= {"ForAllValues:StringLike", "StringEquals"}
        resource = json.dumps(statement["Resource"])
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        prefixes = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        triples |= {
            (action, known.get(resource, resource), prefix) for action in actions for prefix in prefixes or [None]
        }
    return triples


def table(action: str, *prefixes: str) -> set[Grant]:
    return {(f"dynamodb:{action}", "UsersTable", prefix) for prefix in prefixes}


KEYS = {("secretsmanager:GetSecretValue", "TokenKeys", None)}


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "SignupFunction",
            table("UpdateItem", "counter#user", "limit#signup-ip#*", "sessions#*")
            | table("PutItem", "email#*", "user#*")  # the credentials and the profile, in one transaction
            | table("GetItem", "email#*")  # the email in use: whose it is
            | KEYS,
        ),
        (
            "LoginFunction",
            table("GetItem", "email#*", "sessions#*")  # the credentials; the sessions the new one joins
            | table("ConditionCheckItem", "email#*")  # the session begins only if the password is unchanged
            | table("UpdateItem", "limit#login-email#*", "limit#login-ip#*", "sessions#*", "email#*")  # a re-hash
            | table("DeleteItem", "limit#login-email#*")  # a successful login clears its email's failures
            | KEYS,
        ),
        ("MeFunction", table("GetItem", "user#*")),
        (
            "LogoutFunction",
            table("GetItem", "sessions#*") | table("UpdateItem", "sessions#*") | table("DeleteItem", "sessions#*"),
        ),
        (
            "PasswordChangeFunction",
            table("GetItem", "user#*", "sessions#*", "email#*")
            | table("UpdateItem", "limit#login-email#*", "limit#login-ip#*", "email#*", "sessions#*")
            | table("DeleteItem", "limit#login-email#*")  # the email's failures cleared, as by a login
            | KEYS,
        ),
        (
            "PasswordResetFunction",
            table("UpdateItem", "limit#reset-email#*", "limit#reset-ip#*")
            | {("lambda:InvokeFunction", "the mailer", None)},
        ),
        (
            "PasswordResetMailerFunction",
            table("GetItem", "email#*", "reset#*")  # the account; the code a retried request stored
            | table("PutItem", "reset#*")  # a request's code, once
            | KEYS  # the key a request's code is derived with
            | {("ses:SendEmail", '"*"', None)}
            | {("sqs:SendMessage", "PasswordResetMailerFailures", None)},  # SAM's, for the on-failure destination
        ),
        (
            "PasswordResetConfirmFunction",
            table("UpdateItem", "limit#login-ip#*", "reset#*", "email#*")  # the limit, the code's checks, the password
            | table("DeleteItem", "reset#*", "limit#login-email#*")  # the code spent; the email's login lockout lifted
            | table("PutItem", "sessions#*")  # the one new session
            | table("GetItem", "email#*")  # after a refused transaction: whether an earlier attempt set the password
            | KEYS,
        ),
        ("AuthorizerFunction", table("GetItem", "sessions#*") | KEYS),
    ],
)
def test_each_function_may_do_exactly_what_its_route_needs(
    translated: dict[str, Any], function: str, expected: set[Grant]
) -> None:
    assert grants(translated, function) == expected


LAYOUT_KEYS = {
    layout.profile(7),
    layout.credentials("a@example.com"),
    layout.USER_COUNTER,
    layout.attempts("login-email", "a@example.com"),
    layout.attempts("login-ip", "192.0.2.1"),
    layout.attempts("signup-ip", "192.0.2.1"),
    layout.attempts("reset-email", "a@example.com"),
    layout.attempts("reset-ip", "192.0.2.1"),
    layout.sessions(7),
    layout.reset("a@example.com"),
}


def test_every_table_grant_is_limited_to_key_prefixes_of_the_layout(translated: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        for action, resource, prefix in grants(translated, function):
            if resource != "UsersTable":
                continue
            assert prefix is not None, f"{function} may {action} on every item of the table"
            pattern = re.escape(prefix).replace(r"\*", ".*")
            assert any(re.fullmatch(pattern, key) for key in LAYOUT_KEYS), (function, action, prefix)


def statements(translated: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = render(translated)["Resources"][f"{function}Role"]["Properties"]
    return [statement for policy in role.get("Policies", []) for statement in policy["PolicyDocument"]["Statement"]]


def test_the_authorizer_reads_sessions_and_no_other_item(translated: dict[str, Any]) -> None:
    (reads,) = [s for s in statements(translated, "AuthorizerFunction") if s["Action"] == "dynamodb:GetItem"]
    assert reads["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["sessions#*"]}}
    assert all(
        prefix.startswith(layout.sessions(0)[:-1])
        for prefix in reads["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    )


def test_the_mailer_sends_from_the_configured_sender_only(translated: dict[str, Any]) -> None:
    (sends,) = [s for s in statements(translated, "PasswordResetMailerFunction") if s["Action"] == "ses:SendEmail"]
    assert sends["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "MailSenderAddress"}}}


def test_a_failed_mailing_is_retried_twice_then_recorded_in_the_stacks_failure_queue(
    translated: dict[str, Any],
) -> None:
    (config,) = of_type(translated, "AWS::Lambda::EventInvokeConfig").values()
    properties = config["Properties"]
    assert properties["FunctionName"] == {"Ref": "PasswordResetMailerFunction"}
    assert (properties["MaximumRetryAttempts"], properties["MaximumEventAgeInSeconds"]) == (2, 900)
    assert properties["DestinationConfig"] == {"OnFailure": {"Destination": MAILER_FAILURES_ARN}}
    # The queue is the template's own (encrypted, retained 14 days), not one SAM would add.
    assert list(of_type(translated, "AWS::SQS::Queue")) == ["PasswordResetMailerFailures"]


def test_roles_add_only_logging_and_tracing_managed_policies(translated: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        assert translated["Resources"][f"{function}Role"]["Properties"]["ManagedPolicyArns"] == [
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        ]


# the key secret's resource policy

READERS = [
    "SignupFunction",
    "LoginFunction",
    "PasswordChangeFunction",
    "PasswordResetConfirmFunction",
    "AuthorizerFunction",
    "PasswordResetMailerFunction",  # derives each request's reset code from a key of the set
]
OPERATORS = "arn:aws:iam::123456789012:role/key-admin,arn:aws:iam::123456789012:user/ops-*"


def secret_statements(template: dict[str, Any], overrides: dict[str, object] | None = None) -> dict[str, Any]:
    rendered = render(translate(), overrides)["Resources"]["TokenKeysPolicy"]["Properties"]
    assert rendered["SecretId"] == {"Ref": "TokenKeys"} and rendered["BlockPublicPolicy"] is True
    return {statement["Sid"]: statement for statement in rendered["ResourcePolicy"]["Statement"]}


def test_the_key_secret_names_exactly_the_roles_that_read_it(translated: dict[str, Any]) -> None:
    readers = {f for f in FUNCTIONS if ("secretsmanager:GetSecretValue", "TokenKeys", None) in grants(translated, f)}
    assert readers == set(READERS)
    (allow,) = secret_statements(translated).values()  # without operators named, it refuses no one
    assert allow["Effect"] == "Allow" and allow["Action"] == "secretsmanager:GetSecretValue"
    assert allow["Principal"]["AWS"] == [{"Fn::GetAtt": [f"{name}Role", "Arn"]} for name in READERS]


def test_with_operators_named_no_one_else_reads_the_keys_and_only_they_write_them(translated: dict[str, Any]) -> None:
    statements = secret_statements(translated, {"KeyOperatorArns": OPERATORS})
    reads, writes = statements["NoOneElseReadsTheKeys"], statements["OnlyTheOperatorsWriteTheKeys"]
    assert reads["Effect"] == writes["Effect"] == "Deny" and reads["Principal"] == writes["Principal"] == "*"
    assert reads["Action"] == "secretsmanager:GetSecretValue"
    assert set(writes["Action"]) == {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}
    exempt = reads["Condition"]["StringNotLike"]["aws:PrincipalArn"]["Fn::Split"][1]["Fn::Join"][1]
    assert exempt == [{"Fn::GetAtt": [f"{name}Role", "Arn"]} for name in READERS] + [{"Ref": "KeyOperatorArns"}]
    assert writes["Condition"] == {
        "StringNotLike": {"aws:PrincipalArn": {"Fn::Split": [",", {"Ref": "KeyOperatorArns"}]}}
    }
    # What `lambda-auth keys` calls (README: Key rotation) is what the operators keep.
    assert not {"secretsmanager:DeleteSecret", "secretsmanager:PutResourcePolicy", "secretsmanager:UpdateSecret"} & {
        *writes["Action"],
        reads["Action"],
    }


def test_the_key_operators_are_principal_arns(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["KeyOperatorArns"]["AllowedPattern"]
    assert re.fullmatch(pattern, OPERATORS) and re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "*") and not re.fullmatch(pattern, "key-admin")


# the execute-api endpoint


def endpoint_configuration(overrides: dict[str, object]) -> Any:
    body = render(translate(), overrides)["Resources"]["AuthApi"]["Properties"]["Body"]
    (server,) = body["servers"]
    return server["x-amazon-apigateway-endpoint-configuration"]


def test_the_execute_api_endpoint_answers_unless_a_domain_replaces_it(template: dict[str, Any]) -> None:
    domain = {"DomainName": "auth.example.com", "CertificateArn": CERTIFICATE}
    assert endpoint_configuration({}) == {"disableExecuteApiEndpoint": False}
    assert endpoint_configuration(domain) == {"disableExecuteApiEndpoint": False}
    assert endpoint_configuration({**domain, "ExecuteApiEndpoint": "disabled"}) == {"disableExecuteApiEndpoint": True}
    assert failed_rules(template, {"ExecuteApiEndpoint": "disabled"}) == [
        "ExecuteApiEndpoint=disabled needs a DomainName, or the API answers nowhere."
    ]


# the table


def test_table_is_on_demand_with_pitr_deletion_protection_and_encryption(translated: dict[str, Any]) -> None:
    properties = render(translated)["Resources"]["UsersTable"]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_table_is_retained_when_the_stack_deletes_or_replaces_it(resources: dict[str, Any]) -> None:
    assert resources["UsersTable"]["DeletionPolicy"] == "Retain"
    assert resources["UsersTable"]["UpdateReplacePolicy"] == "Retain"


def test_table_expires_items_by_the_attribute_the_attempt_counters_carry(resources: dict[str, Any]) -> None:
    ttl = resources["UsersTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    assert AttemptItem.expires_at.attr_name == ttl["AttributeName"]


# the token keys


def test_key_secret_is_generated_by_the_stack_never_written_in_the_template(resources: dict[str, Any]) -> None:
    secret = resources["TokenKeys"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "SecretString" not in secret["Properties"]
    assert set(secret["Properties"]["GenerateSecretString"]) >= {"SecretStringTemplate", "GenerateStringKey"}


def test_functions_get_the_secrets_arn_and_never_a_key(template: dict[str, Any]) -> None:
    environments = [template["Globals"]["Function"]["Environment"]["Variables"]] + [
        template["Resources"][name]["Properties"].get("Environment", {}).get("Variables", {}) for name in FUNCTIONS
    ]
    assert environments[0]["AUTH_JWKS_SECRET_ARN"] == {"Ref": "TokenKeys"}
    for variables in environments:
        assert "AUTH_JWKS_FILE" not in variables
        for name, value in variables.items():
            # Literal values are only Powertools' switches and the empty endpoints (sam local's
            # overrides); everything else comes from a Ref.
            assert not isinstance(value, str) or name.startswith("POWERTOOLS_") or name in ENDPOINT_VARIABLES, name
    assert "resolve:secretsmanager" not in TEMPLATE_PATH.read_text()


def test_every_function_declares_the_aws_endpoints_empty_for_sam_local_to_override(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    # sam local's --env-vars sets only declared variables; empty, they mean the region's endpoints.
    globals_ = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {name: globals_.get(name) for name in ENDPOINT_VARIABLES} == dict.fromkeys(ENDPOINT_VARIABLES, "")
    for name, function in of_type(translated, "AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {variable: variables.get(variable) for variable in ENDPOINT_VARIABLES} == dict.fromkeys(
            ENDPOINT_VARIABLES, ""
        ), name


def secret_alphabet(spec: dict[str, Any]) -> str:
    """The characters Secrets Manager draws a generated string from, given GenerateSecretString."""
    alphabet = ""
    alphabet += "" if spec.get("ExcludeLowercase") else string.ascii_lowercase
    alphabet += "" if spec.get("ExcludeUppercase") else string.ascii_uppercase
    alphabet += "" if spec.get("ExcludeNumbers") else string.digits
    alphabet += "" if spec.get("ExcludePunctuation") else string.punctuation
    alphabet += " " if spec.get("IncludeSpace") else ""
    return "".join(char for char in alphabet if char not in spec.get("ExcludeCharacters", ""))


def first_secret(spec: dict[str, Any], generated: str) -> str:
    """The SecretString the stack stores: the template with the generated string under its key."""
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = generated
    return json.dumps(document)


@pytest.fixture(scope="module")
def secret_spec(resources: dict[str, Any]) -> dict[str, Any]:
    return dict(resources["TokenKeys"]["Properties"]["GenerateSecretString"])


def test_first_secret_is_43_letters_and_digits_in_an_oct_jwk(secret_spec: dict[str, Any]) -> None:
    assert secret_spec["SecretStringTemplate"] == '{"kty":"oct","kid":"initial"}'
    assert secret_spec["GenerateStringKey"] == "k"
    assert secret_spec["PasswordLength"] == 43
    assert secret_spec["ExcludePunctuation"] is True
    assert secret_spec.get("IncludeSpace", False) is False
    assert set(secret_alphabet(secret_spec)) == set(string.ascii_letters + string.digits)


def test_first_secret_draws_only_base64url_characters_enough_for_256_bits(secret_spec: dict[str, Any]) -> None:
    assert set(secret_alphabet(secret_spec)) <= BASE64URL
    assert len(base64url_decode("A" * secret_spec["PasswordLength"])) == KEY_BYTES


def _round_trip(secret_string: str) -> None:
    keys = parse_key_set(secret_string)
    assert keys.current_kid == "initial"
    token = tokens.issue(keys, 42, 3600, now=1_800_000_000)
    assert tokens.verify(keys, token, now=1_800_000_001).user_id == 42


def test_a_generated_first_secret_parses_and_round_trips_a_token(secret_spec: dict[str, Any]) -> None:
    alphabet = secret_alphabet(secret_spec)
    generated = "".join(secrets.choice(alphabet) for _ in range(secret_spec["PasswordLength"]))
    assert re.fullmatch(r"[A-Za-z0-9]{43}", generated)
    _round_trip(first_secret(secret_spec, generated))


def test_a_first_secret_ending_in_any_character_parses_and_round_trips_a_token(
    secret_spec: dict[str, Any],
) -> None:
    # The last character's two spare bits are what could make 43 characters an invalid key.
    length = secret_spec["PasswordLength"]
    for last in secret_alphabet(secret_spec):
        generated = "".join(secrets.choice(string.ascii_letters) for _ in range(length - 1)) + last
        _round_trip(first_secret(secret_spec, generated))


def test_the_local_tools_create_the_first_secret_as_the_stack_does(secret_spec: dict[str, Any]) -> None:
    generated = json.loads(first_token_keys())
    assert {name: value for name, value in generated.items() if name != "k"} == json.loads(
        secret_spec["SecretStringTemplate"]
    )
    assert len(generated["k"]) == secret_spec["PasswordLength"]
    assert set(generated["k"]) <= set(secret_alphabet(secret_spec))
    assert first_token_keys() != first_token_keys()
    _round_trip(json.dumps(generated))


def test_a_first_secret_of_another_length_is_refused(secret_spec: dict[str, Any]) -> None:
    # The counter-check: the length matters, so the template's 43 is not incidental.
    for length in (42, 44, 32, 64):
        generated = "A" * length
        with pytest.raises(KeySetError, match="256-bit"):
            parse_key_set(first_secret(secret_spec, generated))


def test_the_access_log_records_paths_never_query_strings_headers_or_bodies(resources: dict[str, Any]) -> None:
    settings = resources["AuthApi"]["Properties"]["AccessLogSetting"]
    line = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", settings["Format"]))
    assert "resourcePath" in line and "status" in line
    variables = set(re.findall(r"\$[A-Za-z][A-Za-z.]*", settings["Format"]))
    assert "$context.resourcePath" in variables
    # Only $context variables, and none of those that can hold a request's parameters.
    assert all(variable.startswith("$context.") for variable in variables), variables
    for leaky in ("$context.requestOverride", "$context.responseOverride"):
        assert not any(variable.startswith(leaky) for variable in variables)
    assert "querystring" not in settings["Format"].lower() and "authtoken" not in settings["Format"].lower()
    # The log group's ARN, in either branch (one also names the account setting, to wait for it).
    _, waiting, plain = settings["DestinationArn"]["Fn::If"]
    assert plain == waiting["Fn::Select"][1][0] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert waiting["Fn::Select"][0] == 0
