"""`python -m lambda_auth_cli`, the same as the `lambda-auth` command."""

import sys

from .main import main

sys.exit(main())
