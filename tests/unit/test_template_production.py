"""template.yaml ready for a production account, rendered with every parameter at its default
and with every one set: the custom domain, WAF, alarms and the dashboard, the customer-managed
key, reserved concurrency, log groups, the account's API Gateway log role, the IaC scan's skips
and the README's production checklist."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lambda_auth_cli.template import PROJECT_ROOT, application, load

from .rendering import created_after, failed_rules, of_type, render, translated

LIFECYCLE_FUNCTIONS = (
    "LogoutFunction",
    "PasswordChangeFunction",
    "PasswordResetFunction",
    "PasswordResetMailerFunction",
    "PasswordResetConfirmFunction",
)
FUNCTIONS = ("SignupFunction", "LoginFunction", "MeFunction", "AuthorizerFunction", *LIFECYCLE_FUNCTIONS)
HTTP_FUNCTIONS = ("SignupFunction", "LoginFunction", "MeFunction")
ROUTES = {
    "SignupFunction": ("/auth/signup", "POST"),
    "LoginFunction": ("/auth/login", "POST"),
    "MeFunction": ("/auth/me", "GET"),
    "LogoutFunction": ("/auth/logout", "POST"),
    "PasswordChangeFunction": ("/auth/password", "POST"),
    "PasswordResetFunction": ("/auth/password-reset", "POST"),
    "PasswordResetConfirmFunction": ("/auth/password-reset/confirm", "POST"),
}
STAGE = "AuthApiStage"

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = "arn:aws:sns:us-east-1:123456789012:on-call"
WEB_ACL = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/lambda-auth/a1b2c3d4-5678-90ab-cdef-000000000000"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
ZONE = "Z0123456789ABCDEFGHIJ"
RESERVED = {"SignupFunction": 20, "LoginFunction": 50, "MeFunction": 100, "AuthorizerFunction": 100, "Lifecycle": 10}

# Every optional parameter set, and the required sender (the same values README's "Production checklist"
# builds with).
ALL_SET: dict[str, object] = {
    "MailSenderAddress": "no-reply@example.com",
    "DomainName": "auth.example.com",
    "CertificateArn": CERTIFICATE,
    "HostedZoneId": ZONE,
    "WebAclArn": WEB_ACL,
    "AlarmTopicArn": TOPIC,
    "LoginTooManyRequestsAlarmThreshold": 200,
    "KmsKeyArn": KEY,
    "SignupReservedConcurrency": RESERVED["SignupFunction"],
    "LoginReservedConcurrency": RESERVED["LoginFunction"],
    "MeReservedConcurrency": RESERVED["MeFunction"],
    "AuthorizerReservedConcurrency": RESERVED["AuthorizerFunction"],
    "LifecycleReservedConcurrency": RESERVED["Lifecycle"],
    "LogRetentionDays": 90,
    "SetApiGatewayLogRole": "false",
}
CONDITIONAL = {
    "AWS::ApiGateway::DomainName",
    "AWS::ApiGateway::BasePathMapping",
    "AWS::Route53::RecordSet",
    "AWS::WAFv2::WebACLAssociation",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return translated()


@pytest.fixture(scope="module")
def defaults(template: dict[str, Any]) -> dict[str, Any]:
    return render(template)


@pytest.fixture(scope="module")
def all_set(template: dict[str, Any]) -> dict[str, Any]:
    return render(template, ALL_SET)


def props(rendered: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(rendered["Resources"][name]["Properties"])


# Parameters: safe defaults, values checked before anything is created


def accepts(spec: dict[str, Any], value: str) -> bool:
    """Whether CloudFormation takes this value for a parameter (AllowedValues, AllowedPattern, MinValue)."""
    if "AllowedValues" in spec and value not in {str(allowed) for allowed in spec["AllowedValues"]}:
        return False
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    return not ("MinValue" in spec and float(value) < float(spec["MinValue"]))


def test_every_parameter_has_a_default_the_template_accepts(template: dict[str, Any]) -> None:
    # So a plain `sam deploy --guided` needs nothing but Enter for each, but the sender (below); the local
    # tools run with the defaults alone.
    for name, spec in template["Parameters"].items():
        assert "Default" in spec, name
        assert accepts(spec, str(spec["Default"])), name


def test_the_all_set_values_are_accepted_and_bad_ones_refused(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    for name, value in ALL_SET.items():
        assert accepts(parameters[name], str(value)), name
    refused = {
        "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:alias/lambda-auth",  # an alias: IAM needs the key ARN
        "DomainName": "Auth.Example.com",
        "WebAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1",  # CloudFront scope
        "CertificateArn": "arn:aws:iam::123456789012:server-certificate/x",
        "LogRetentionDays": "31",
        "SignupReservedConcurrency": "-1",
    }
    for name, value in refused.items():
        assert not accepts(parameters[name], value), name


def test_rules_refuse_a_stack_without_a_mail_sender(template: dict[str, Any]) -> None:
    assert template["Parameters"]["MailSenderAddress"]["Default"] == ""  # the local tools mail into an outbox
    assert failed_rules(template, {"MailSenderAddress": ""}) == [
        "MailSenderAddress is required: the address password-reset codes are mailed from, verified in "
        "Amazon SES in this region."
    ]
    assert failed_rules(template, {"MailSenderAddress": "no-reply@example.com"}) == []
    assert not accepts(template["Parameters"]["MailSenderAddress"], "no-reply")


def test_the_local_server_runs_with_the_defaults_and_mails_into_its_outbox(template: dict[str, Any]) -> None:
    # Rules are CloudFormation's: the local tools resolve the parameters' defaults, an empty sender included.
    mailer = application().functions["PasswordResetMailerFunction"]
    assert mailer.environment["AUTH_MAIL_SENDER"] == ""


def test_rules_refuse_a_domain_without_a_certificate_and_domain_parts_without_a_domain(
    template: dict[str, Any],
) -> None:
    assert failed_rules(template, {}) == []
    assert failed_rules(template, ALL_SET) == []
    assert failed_rules(template, {"DomainName": "auth.example.com", "CertificateArn": CERTIFICATE}) == []
    assert failed_rules(template, {"DomainName": "auth.example.com"}) == [
        "A DomainName needs the CertificateArn of an ACM certificate for it in this region."
    ]
    for part in ({"CertificateArn": CERTIFICATE}, {"HostedZoneId": ZONE}):
        assert failed_rules(template, part) == ["CertificateArn and HostedZoneId are used only with a DomainName."]


# Rendered both ways: which resources appear and what they reference


def test_defaults_add_no_domain_no_waf_no_key_no_reservation_and_no_alarm_action(defaults: dict[str, Any]) -> None:
    assert not CONDITIONAL & {r["Type"] for r in defaults["Resources"].values()}
    assert "CustomDomainUrl" not in defaults["Outputs"]
    assert json.dumps({"Ref": "KmsKeyArn"}) not in json.dumps(defaults["Resources"])
    for name in FUNCTIONS:
        assert "ReservedConcurrentExecutions" not in props(defaults, name), name
    for alarm in of_type(defaults, "AWS::CloudWatch::Alarm").values():
        assert "AlarmActions" not in alarm["Properties"]
        assert "OKActions" not in alarm["Properties"]
    assert props(defaults, "UsersTable")["SSESpecification"] == {"SSEEnabled": True}
    assert "KmsKeyId" not in props(defaults, "TokenKeys")


def test_all_set_adds_the_regional_domain_its_mapping_and_alias_record(all_set: dict[str, Any]) -> None:
    domain = props(all_set, "ApiDomain")
    assert domain["DomainName"] == {"Ref": "DomainName"}
    assert domain["RegionalCertificateArn"] == {"Ref": "CertificateArn"}
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["SecurityPolicy"] == "TLS_1_2"
    assert "CertificateArn" not in domain  # that one is for EDGE domains, whose certificate is in us-east-1

    mapping = props(all_set, "ApiDomainMapping")
    assert mapping["DomainName"] == {"Ref": "ApiDomain"}
    assert mapping["RestApiId"] == {"Ref": "AuthApi"}
    assert mapping["Stage"] == {"Ref": STAGE}  # the stage SAM creates, so the mapping waits for it
    assert all_set["Resources"][STAGE]["Type"] == "AWS::ApiGateway::Stage"
    assert "BasePath" not in mapping  # the API at the domain's root

    record = props(all_set, "ApiDomainRecord")
    assert record["HostedZoneId"] == {"Ref": "HostedZoneId"}
    assert record["Name"] == {"Ref": "DomainName"}
    assert record["Type"] == "A"
    assert record["AliasTarget"] == {
        "DNSName": {"Fn::GetAtt": ["ApiDomain", "RegionalDomainName"]},
        "HostedZoneId": {"Fn::GetAtt": ["ApiDomain", "RegionalHostedZoneId"]},
        "EvaluateTargetHealth": False,
    }
    assert all_set["Outputs"]["CustomDomainUrl"]["Value"] == {"Fn::Sub": "https://${DomainName}"}
    assert all_set["Outputs"]["CustomDomainTarget"]["Value"] == {"Fn::GetAtt": ["ApiDomain", "RegionalDomainName"]}


def test_a_domain_without_a_hosted_zone_gets_no_record_but_its_target(template: dict[str, Any]) -> None:
    rendered = render(template, {"DomainName": "auth.example.com", "CertificateArn": CERTIFICATE})
    assert {"ApiDomain", "ApiDomainMapping"} <= set(rendered["Resources"])
    assert "ApiDomainRecord" not in rendered["Resources"]
    assert "CustomDomainTarget" in rendered["Outputs"]


def test_all_set_associates_the_web_acl_with_the_stage(all_set: dict[str, Any]) -> None:
    association = props(all_set, "ApiWebAclAssociation")
    assert association["WebACLArn"] == {"Ref": "WebAclArn"}
    arn = association["ResourceArn"]["Fn::Sub"]
    # WAFv2's ARN of a REST API stage: arn:partition:apigateway:region::/restapis/api-id/stages/stage-name
    assert arn == "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${AuthApi}/stages/${" + STAGE + "}"
    assert created_after(all_set, "ApiWebAclAssociation", STAGE)


def test_all_set_reserves_each_functions_concurrency(all_set: dict[str, Any]) -> None:
    parameters = ("Signup", "Login", "Me", "Authorizer", *("Lifecycle" for _ in LIFECYCLE_FUNCTIONS))
    for name, parameter in zip(FUNCTIONS, parameters, strict=True):
        assert props(all_set, name)["ReservedConcurrentExecutions"] == {"Ref": f"{parameter}ReservedConcurrency"}


def test_only_the_reserved_function_gets_a_reservation(template: dict[str, Any]) -> None:
    rendered = render(template, {"LoginReservedConcurrency": 50})
    reserved = {name for name in FUNCTIONS if "ReservedConcurrentExecutions" in props(rendered, name)}
    assert reserved == {"LoginFunction"}


def test_all_set_sends_every_alarm_to_the_topic_in_and_out_of_alarm(all_set: dict[str, Any]) -> None:
    alarms = of_type(all_set, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopicArn"}], name
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlarmTopicArn"}], name


# The customer-managed key


def test_a_key_encrypts_the_table_the_secret_and_every_log_group(all_set: dict[str, Any]) -> None:
    assert props(all_set, "UsersTable")["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "KmsKeyArn"},
    }
    assert props(all_set, "TokenKeys")["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    groups = of_type(all_set, "AWS::Logs::LogGroup")
    assert set(groups) == {"ApiAccessLogs"} | {f"{name}Logs" for name in FUNCTIONS}
    for name, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Ref": "KmsKeyArn"}, name


def kms_statements(rendered: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = props(rendered, f"{function}Role")
    statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    return [s for s in statements if "kms" in json.dumps(s["Action"])]


THROUGH_DYNAMODB = {
    "kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"},
    "kms:EncryptionContext:aws:dynamodb:tableName": {"Ref": "UsersTable"},
}
THROUGH_SECRETS_MANAGER = {
    "kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
    "kms:EncryptionContext:SecretARN": {"Ref": "TokenKeys"},
}
# The mailer's failure records: Lambda sends them to the queue as the mailer's role, SQS encrypts them.
THROUGH_SQS = {"kms:ViaService": {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}}


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("SignupFunction", [THROUGH_DYNAMODB, THROUGH_SECRETS_MANAGER]),
        ("LoginFunction", [THROUGH_DYNAMODB, THROUGH_SECRETS_MANAGER]),
        ("MeFunction", [THROUGH_DYNAMODB]),
        ("AuthorizerFunction", [THROUGH_DYNAMODB, THROUGH_SECRETS_MANAGER]),
        ("LogoutFunction", [THROUGH_DYNAMODB]),
        ("PasswordChangeFunction", [THROUGH_DYNAMODB, THROUGH_SECRETS_MANAGER]),
        ("PasswordResetFunction", [THROUGH_DYNAMODB]),
        ("PasswordResetMailerFunction", [THROUGH_DYNAMODB, THROUGH_SECRETS_MANAGER, THROUGH_SQS]),
        ("PasswordResetConfirmFunction", [THROUGH_DYNAMODB, THROUGH_SECRETS_MANAGER]),
    ],
)
def test_with_a_key_each_role_may_only_decrypt_with_it_through_the_services_it_uses(
    all_set: dict[str, Any], defaults: dict[str, Any], function: str, expected: list[dict[str, Any]]
) -> None:
    statements = kms_statements(all_set, function)
    for statement in statements:
        assert statement["Effect"] == "Allow"
        encrypts = statement["Condition"]["StringEquals"] == THROUGH_SQS
        assert statement["Action"] == (["kms:GenerateDataKey", "kms:Decrypt"] if encrypts else "kms:Decrypt")
        assert statement["Resource"] == {"Ref": "KmsKeyArn"}
    assert [statement["Condition"]["StringEquals"] for statement in statements] == expected
    assert kms_statements(defaults, function) == []


# Logs: one group per function, with the template's retention (issue 10, item 9b)


@pytest.mark.parametrize("rendering", ["defaults", "all_set"])
def test_each_function_logs_to_its_own_declared_group_with_the_retention_parameter(
    rendering: str, request: pytest.FixtureRequest
) -> None:
    rendered = request.getfixturevalue(rendering)
    groups = of_type(rendered, "AWS::Logs::LogGroup")
    used = set()
    for name in FUNCTIONS:
        group = props(rendered, name)["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        used.add(group)
    assert len(used) == len(FUNCTIONS)
    assert props(rendered, "ApiAccessLogs")["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_logs_are_kept_30_days_by_default(template: dict[str, Any]) -> None:
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30


# The account's API Gateway log role (issue 10, item 9a)


def test_the_log_role_and_the_account_setting_outlive_the_stack(template: dict[str, Any]) -> None:
    for name in ("ApiGatewayLogRole", "ApiGatewayAccount"):
        resource = template["Resources"][name]
        assert resource["DeletionPolicy"] == "Retain", name
        assert resource["UpdateReplacePolicy"] == "Retain", name


def test_the_account_setting_comes_after_the_api_and_before_the_stage(defaults: dict[str, Any]) -> None:
    assert defaults["Resources"]["AuthApi"]["Type"] == "AWS::ApiGateway::RestApi"
    assert created_after(defaults, "ApiGatewayAccount", "AuthApi")
    assert not created_after(defaults, "AuthApi", "ApiGatewayAccount")
    assert created_after(defaults, STAGE, "ApiGatewayAccount")  # its access log needs the role
    assert created_after(defaults, STAGE, "ApiAccessLogs")


def test_without_the_log_role_the_stage_waits_for_nothing_account_wide(template: dict[str, Any]) -> None:
    rendered = render(template, {"SetApiGatewayLogRole": "false"})
    assert not {"ApiGatewayAccount", "ApiGatewayLogRole"} & set(rendered["Resources"])
    assert props(rendered, STAGE)["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}


def test_no_resource_waits_for_itself(all_set: dict[str, Any], defaults: dict[str, Any]) -> None:
    for rendered in (all_set, defaults):
        for name in rendered["Resources"]:
            assert not created_after(rendered, name, name), name


# Alarms


def alarm_metrics(alarm: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(namespace, metric, dimensions as JSON) of each metric an alarm watches."""
    properties = alarm["Properties"]
    metrics = (
        [properties]
        if "MetricName" in properties
        else [m["MetricStat"]["Metric"] for m in properties["Metrics"] if "MetricStat" in m]
    )
    return {
        (m["Namespace"], m["MetricName"], json.dumps({d["Name"]: d["Value"] for d in m["Dimensions"]}, sort_keys=True))
        for m in metrics
    }


def test_alarms_watch_5xx_authorizer_failures_each_functions_errors_and_throttles_and_login_429s(
    defaults: dict[str, Any],
) -> None:
    watched = {name: alarm_metrics(alarm) for name, alarm in of_type(defaults, "AWS::CloudWatch::Alarm").items()}
    api = json.dumps({"ApiName": {"Ref": "AWS::StackName"}, "Stage": {"Ref": "StageName"}}, sort_keys=True)
    by_api_id = json.dumps({"ApiId": {"Ref": "AuthApi"}})
    expected = {
        "Api5xxRateAlarm": {("AWS/ApiGateway", "5XXError", api), ("AWS/ApiGateway", "Count", api)},
        "AuthorizerFailuresAlarm": {("LambdaAuth", "AuthorizerFailures", by_api_id)},
        "LoginTooManyRequestsAlarm": {("LambdaAuth", "LoginTooManyRequests", by_api_id)},
    }
    failures = json.dumps({"QueueName": {"Fn::GetAtt": ["PasswordResetMailerFailures", "QueueName"]}})
    expected["PasswordResetMailerFailuresAlarm"] = {("AWS/SQS", "ApproximateNumberOfMessagesVisible", failures)}
    for name in FUNCTIONS:
        function = json.dumps({"FunctionName": {"Ref": name}})
        expected[f"{name}ThrottlesAlarm"] = {("AWS/Lambda", "Throttles", function)}
        if name != "AuthorizerFunction":  # its every refusal is an error: AuthorizerFailures instead
            expected[f"{name}ErrorsAlarm"] = {("AWS/Lambda", "Errors", function)}
    assert watched == expected
    # API Gateway's ApiName dimension is the API's name.
    assert props(defaults, "AuthApi")["Name"] == {"Ref": "AWS::StackName"}


def test_one_failed_mailing_in_the_failure_queue_raises_its_alarm(
    defaults: dict[str, Any], all_set: dict[str, Any]
) -> None:
    alarm = props(defaults, "PasswordResetMailerFailuresAlarm")
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Maximum", 300, 1)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert props(all_set, "PasswordResetMailerFailuresAlarm")["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]


def test_the_failure_queue_keeps_records_14_days_encrypted_with_the_key_if_given_else_by_sqs(
    defaults: dict[str, Any], all_set: dict[str, Any]
) -> None:
    by_sqs, by_key = props(defaults, "PasswordResetMailerFailures"), props(all_set, "PasswordResetMailerFailures")
    assert by_sqs == {"MessageRetentionPeriod": 14 * 86400, "SqsManagedSseEnabled": True}
    assert by_key == {"MessageRetentionPeriod": 14 * 86400, "KmsMasterKeyId": {"Ref": "KmsKeyArn"}}


def test_the_5xx_alarm_is_a_rate_that_ignores_a_handful_of_requests(defaults: dict[str, Any]) -> None:
    alarm = props(defaults, "Api5xxRateAlarm")
    (rate,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert rate["Expression"] == "IF(requests >= 10, 100 * errors / requests, 0)"
    assert {m["Id"]: m["MetricStat"]["Stat"] for m in alarm["Metrics"] if "MetricStat" in m} == {
        "errors": "Sum",
        "requests": "Sum",
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (5, "GreaterThanOrEqualToThreshold")


def test_the_login_429_alarm_threshold_is_the_parameter(defaults: dict[str, Any]) -> None:
    alarm = props(defaults, "LoginTooManyRequestsAlarm")
    assert alarm["Threshold"] == {"Ref": "LoginTooManyRequestsAlarmThreshold"}
    assert (alarm["Statistic"], alarm["Period"]) == ("Sum", 300)


# The metrics counted from the access log


def access_log_line(template: dict[str, Any], **values: str) -> dict[str, Any]:
    """One access log line as API Gateway writes it, with some $context variables given."""
    line_format = template["Resources"][STAGE]["Properties"]["AccessLogSetting"]["Format"]
    variables = {"resourcePath": "$context.resourcePath", "status": "$context.status"}
    variables |= {"errorType": "$context.error.responseType", "apiId": "$context.apiId"}
    text = line_format
    for key, value in values.items():
        text = text.replace(variables[key], value)
    return dict(json.loads(re.sub(r"\$context\.[A-Za-z.]+", "-", text)))


def matches(pattern: str, line: dict[str, Any]) -> bool:
    """CloudWatch Logs' JSON filter pattern, in the one form these filters use: { (a = "x") && (b = "y") }."""
    body = re.fullmatch(r"\{ (.+) \}", pattern)
    assert body, pattern
    terms = re.split(r" (&&|\|\|) ", body.group(1))
    operators = set(terms[1::2])
    assert len(operators) <= 1, pattern
    results = []
    for term in terms[0::2]:
        field = re.fullmatch(r'\(\$\.(\w+) = "([^"]*)"\)', term)
        assert field, term
        results.append(line.get(field.group(1)) == field.group(2))
    return all(results) if operators != {"||"} else any(results)


def metric_filter(rendered: dict[str, Any], metric: str) -> dict[str, Any]:
    (found,) = [
        r["Properties"]
        for r in of_type(rendered, "AWS::Logs::MetricFilter").values()
        if r["Properties"]["MetricTransformations"][0]["MetricName"] == metric
    ]
    assert found["LogGroupName"] == {"Ref": "ApiAccessLogs"}
    (transformation,) = found["MetricTransformations"]
    assert transformation["MetricNamespace"] == "LambdaAuth"
    assert transformation["Dimensions"] == [{"Key": "ApiId", "Value": "$.apiId"}]
    return dict(found)


def test_login_429s_are_counted_from_the_access_log(defaults: dict[str, Any]) -> None:
    pattern = metric_filter(defaults, "LoginTooManyRequests")["FilterPattern"]
    login = ROUTES["LoginFunction"][0]
    assert matches(pattern, access_log_line(defaults, resourcePath=login, status="429"))
    assert not matches(pattern, access_log_line(defaults, resourcePath=login, status="403"))
    assert not matches(pattern, access_log_line(defaults, resourcePath="/auth/signup", status="429"))
    assert access_log_line(defaults, apiId="abc123")["apiId"] == "abc123"


def test_authorizer_failures_are_counted_from_the_access_log_but_refusals_are_not(defaults: dict[str, Any]) -> None:
    pattern = metric_filter(defaults, "AuthorizerFailures")["FilterPattern"]
    for failure in ("AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"):
        assert matches(pattern, access_log_line(defaults, errorType=failure, status="500"))
    for other in ("UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED"):
        assert not matches(pattern, access_log_line(defaults, errorType=other, status="401"))


# The dashboard


def dashboard(rendered: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's body with each ${...} of its Fn::Sub replaced by a name the test can find."""
    body = props(rendered, "Dashboard")["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    known = set(rendered["Resources"]) | set(rendered["Parameters"]) | {"AWS::Region", "AWS::StackName"}
    assert {name.split(".")[0] for name in names} <= known
    return dict(json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", body)))


def widget_metrics(document: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, metric, dimensions, options) of every metric the dashboard plots."""
    plotted = []
    for widget in document["widgets"]:
        for line in widget["properties"].get("metrics", []):
            *names, options = line if isinstance(line[-1], dict) else [*line, {}]
            namespace, metric, *pairs = names
            stat = options.get("stat", widget["properties"].get("stat"))
            plotted.append(
                (namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True)), {**options, "stat": stat})
            )
    return plotted


def emitted_powertools_metrics() -> set[str]:
    """The metric names the layer's code adds with Powertools."""
    sources = (PROJECT_ROOT / "layers" / "auth" / "lambda_auth").glob("*.py")
    return {name for path in sources for name in re.findall(r'add_metric\(name="(\w+)"', path.read_text())}


def test_the_dashboard_shows_each_routes_latency_p50_and_p99_counts_and_errors(defaults: dict[str, Any]) -> None:
    plotted = widget_metrics(dashboard(defaults))
    route = {"ApiName": "<AWS::StackName>", "Stage": "<StageName>"}
    for path, method in ROUTES.values():
        dimensions = {**route, "Resource": path, "Method": method}
        stats = {(m, o["stat"]) for ns, m, d, o in plotted if ns == "AWS/ApiGateway" and d == dimensions}
        assert stats >= {
            ("Latency", "p50"),
            ("Latency", "p99"),
            ("Count", "Sum"),
            ("4XXError", "Sum"),
            ("5XXError", "Sum"),
        }


def test_the_dashboards_route_metrics_are_published_per_method(defaults: dict[str, Any]) -> None:
    (settings,) = props(defaults, STAGE)["MethodSettings"]
    assert settings["MetricsEnabled"] is True
    # Execution logging stays off: it would log request data.
    assert "LoggingLevel" not in settings and "DataTraceEnabled" not in settings


def test_the_dashboard_shows_the_authorizers_latency_and_every_functions_errors(defaults: dict[str, Any]) -> None:
    plotted = widget_metrics(dashboard(defaults))
    lambda_stats = {(d["FunctionName"], m, o["stat"]) for ns, m, d, o in plotted if ns == "AWS/Lambda"}
    assert {("<AuthorizerFunction>", "Duration", "p50"), ("<AuthorizerFunction>", "Duration", "p99")} <= lambda_stats
    for name in FUNCTIONS:
        assert (f"<{name}>", "Errors", "Sum") in lambda_stats
        assert (f"<{name}>", "Throttles", "Sum") in lambda_stats


def test_the_dashboards_own_metrics_are_ones_the_code_emits_or_the_access_log_counts(defaults: dict[str, Any]) -> None:
    plotted = widget_metrics(dashboard(defaults))
    own = {(m, json.dumps(d)) for ns, m, d, _ in plotted if ns == "LambdaAuth"}
    from_code = {m for m, d in own if d == json.dumps({"service": "<AWS::StackName>"})}
    from_log = {m for m, d in own if d == json.dumps({"ApiId": "<AuthApi>"})}
    assert from_code | from_log == {m for m, _ in own}
    assert from_code == emitted_powertools_metrics()
    filters = of_type(defaults, "AWS::Logs::MetricFilter").values()
    assert from_log == {f["Properties"]["MetricTransformations"][0]["MetricName"] for f in filters}


def test_powertools_service_dimension_is_the_stack_name() -> None:
    # Two stacks in one account and region keep their metrics apart; locally the name is lambda-auth.
    assert load()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == {
        "Ref": "AWS::StackName"
    }
    for function in application().functions.values():
        assert function.environment["POWERTOOLS_SERVICE_NAME"] == "lambda-auth"


def test_the_dashboard_counts_cold_starts_from_every_functions_log_group(defaults: dict[str, Any]) -> None:
    (widget,) = [w for w in dashboard(defaults)["widgets"] if w["type"] == "log"]
    query = widget["properties"]["query"]
    assert re.findall(r"SOURCE '<(\w+)>'", query) == [f"{name}Logs" for name in FUNCTIONS]
    # Lambda's REPORT line carries an init duration only for an invocation that started an instance.
    assert 'filter @type = "REPORT" and ispresent(@initDuration)' in query


def test_the_dashboard_shows_every_alarm(defaults: dict[str, Any]) -> None:
    (widget,) = [w for w in dashboard(defaults)["widgets"] if w["type"] == "alarm"]
    alarms = {f"<{name}.Arn>" for name in of_type(defaults, "AWS::CloudWatch::Alarm")}
    assert set(widget["properties"]["alarms"]) == alarms


def test_widgets_do_not_overlap(defaults: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard(defaults)["widgets"]:
        x, y, width, height = (widget[key] for key in ("x", "y", "width", "height"))
        assert x + width <= 24
        area = {(column, row) for column in range(x, x + width) for row in range(y, y + height)}
        assert not cells & area
        cells |= area


# The local server still runs the template


def test_the_local_server_reads_the_template_unchanged() -> None:
    app = application()
    assert app.api.stage == "api"
    assert set(app.functions) == set(FUNCTIONS)
    served = {(m.resource_path, m.http_method) for m in app.api.methods if m.function}
    assert served == set(ROUTES.values())


# The IaC scan's skips


def test_every_checkov_skip_names_a_check_and_gives_a_one_line_reason() -> None:
    skips = [
        (name, skip)
        for name, resource in load()["Resources"].items()
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert set(skip) == {"id", "comment"}, name
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
        assert 20 <= len(skip["comment"]) <= 200 and "\n" not in skip["comment"], name
    assert len({(name, skip["id"]) for name, skip in skips}) == len(skips)


# The README


def readme_section(title: str) -> str:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^(#+) {re.escape(title)}\n(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    assert match, title
    return match.group(2)


def test_the_production_checklist_names_every_parameter_and_only_those(template: dict[str, Any]) -> None:
    checklist = readme_section("Production checklist")
    first_cells = re.findall(r"^\| (`\w+`(?:, `\w+`)*) \|", checklist, re.M)
    named = [name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)]
    assert sorted(named) == sorted(template["Parameters"])


def test_the_production_checklists_build_command_sets_the_values_the_tests_render() -> None:
    checklist = readme_section("Production checklist")
    overrides = dict(re.findall(r"\b(\w+)=(\S+?)(?=[\s\\'\"]|$)", checklist.split("--parameter-overrides", 1)[1]))
    assert overrides == {name: str(value) for name, value in ALL_SET.items()}


def test_the_readme_says_when_to_choose_no_log_role_and_how_to_reuse_or_remove_the_table() -> None:
    deploy = readme_section("Deploy to AWS")
    assert "SetApiGatewayLogRole=false" in deploy and "staging" in deploy
    assert "get-account" in deploy  # how to see whether the region already has a role
    assert "--no-deletion-protection-enabled" in deploy and "delete-table" in deploy
    assert "create-backup" in deploy
    assert "UsersTableName" in deploy and "batch_writer" in deploy  # the copy into a new stack's table
