"""lambda-auth's shared layer: Xano-compatible signup, login and me on AWS Lambda.

Submodules are imported by what needs them, so a function pays at cold start only
for the code its route uses: the authorizer never imports the user store.
"""
