"""lambda-auth's local tooling: the `lambda-auth` command, the local API server, the embedded store.

Not deployed: it imports the layer's package like any other client would.
"""
