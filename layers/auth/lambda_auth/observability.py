"""The one Logger, Metrics and Tracer every function shares (Powertools for AWS Lambda).

Service name, metrics namespace and log level come from the POWERTOOLS_* variables
that template.yaml sets once in Globals.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "lambda-auth"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LambdaAuth"))
tracer = Tracer()

# A refused request may record no metric; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# API Gateway's request id becomes every log line's correlation id.
REQUEST_ID = correlation_paths.API_GATEWAY_REST
