"""The `lambda-auth` command."""


def main() -> int:
    raise SystemExit("lambda-auth: no commands yet")
