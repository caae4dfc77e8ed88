// The official Xano JS SDK, unchanged, against the local server: run by tests/e2e/test_xano_sdk.py
// with LAMBDA_AUTH_BASE_URL set to the server's base URL (what the SDK calls apiGroupBaseUrl).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { XanoNodeClient, XanoRequestError, XanoResponse } from "@xano/js-sdk";

assert.equal(typeof XanoRequestError, "function"); // the class the SDK raises refused calls with

const apiGroupBaseUrl = process.env.LAMBDA_AUTH_BASE_URL;
assert.ok(apiGroupBaseUrl, "LAMBDA_AUTH_BASE_URL is not set");

const password = "correct horse 42";
const email = `sdk.${randomUUID().slice(0, 12)}@example.com`;

function client(authToken) {
  return new XanoNodeClient({ apiGroupBaseUrl, ...(authToken ? { authToken } : {}) });
}

// A refused call raises XanoRequestError carrying our status and JSON body; `expected`
// is the whole body, or a function that checks it. The SDK is compiled to ES5, where a
// subclass of Error loses its prototype, so `instanceof XanoRequestError` is false even
// for its own errors: what identifies one is its message and its getResponse().
const REQUEST_ERROR = "There was an error with your request"; // the SDK's XanoRequestError message

async function refused(call, status, expected) {
  await assert.rejects(call, (error) => {
    assert.equal(error.message, REQUEST_ERROR, `not a XanoRequestError: ${error}`);
    assert.equal(typeof error.getResponse, "function", "a XanoRequestError has getResponse()");
    const response = error.getResponse();
    assert.ok(response instanceof XanoResponse);
    assert.equal(response.getStatusCode(), status);
    if (typeof expected === "function") {
      expected(response.getBody());
    } else {
      assert.deepEqual(response.getBody(), expected);
    }
    return true;
  });
}

test("signs up, logs in, and reads /auth/me with the token it received", async () => {
  const signup = await client().post("/auth/signup", { name: "Ada Lovelace", email, password });
  assert.equal(signup.getStatusCode(), 200);
  assert.deepEqual(Object.keys(signup.getBody()), ["authToken"]);

  const sdk = client();
  const login = await sdk.post("/auth/login", { email, password });
  const { authToken } = login.getBody();
  assert.equal(typeof authToken, "string");
  sdk.setAuthToken(authToken); // the SDK sends it as Authorization: Bearer <token>
  assert.ok(sdk.hasAuthToken());

  const me = await sdk.get("/auth/me");
  assert.equal(me.getStatusCode(), 200);
  const profile = me.getBody();
  assert.deepEqual(Object.keys(profile).sort(), ["created_at", "email", "id", "name"]);
  assert.equal(profile.email, email);
  assert.equal(profile.name, "Ada Lovelace");
  assert.ok(Number.isSafeInteger(profile.id) && profile.id > 0);

  const signupToken = signup.getBody().authToken;
  const again = await client(signupToken).get("/auth/me");
  assert.deepEqual(again.getBody(), profile);
});

test("an invalid field raises XanoRequestError 400 naming it", async () => {
  await refused(client().post("/auth/signup", { email: "not-an-address", password }), 400, (body) => {
    assert.equal(body.code, "ERROR_CODE_INPUT_ERROR");
    assert.equal(typeof body.message, "string");
    assert.deepEqual(body.payload, { param: "email" });
  });
});

test("/auth/me without a token or with a malformed one raises XanoRequestError 401", async () => {
  const unauthorized = { code: "ERROR_CODE_UNAUTHORIZED", message: "Invalid token." };
  await refused(client().get("/auth/me"), 401, unauthorized);
  await refused(client("not.a.valid.jwe.token").get("/auth/me"), 401, unauthorized);
});

test("wrong credentials and an email in use raise XanoRequestError 403", async () => {
  const taken = `sdk.${randomUUID().slice(0, 12)}@example.com`;
  await client().post("/auth/signup", { email: taken, password });
  await refused(client().post("/auth/login", { email: taken, password: "wrong pass 1" }), 403, {
    code: "ERROR_CODE_ACCESS_DENIED",
    message: "Invalid Credentials.",
  });
  await refused(client().post("/auth/signup", { email: taken, password }), 403, {
    code: "ERROR_CODE_ACCESS_DENIED",
    message: "This account is already in use.",
  });
});

test("an unknown route raises XanoRequestError 404", async () => {
  await refused(client().get("/auth/nowhere"), 404, {
    code: "ERROR_CODE_NOT_FOUND",
    message: "Unable to locate request.",
  });
});

// Logout: POST /auth/logout with the SDK's token, as a Xano front end would call it.

const unauthorized = { code: "ERROR_CODE_UNAUTHORIZED", message: "Invalid token." };

async function signedIn(address) {
  const sdk = client();
  const { authToken } = (await sdk.post("/auth/login", { email: address, password })).getBody();
  sdk.setAuthToken(authToken);
  return sdk;
}

test("logs out with the SDK's token: /auth/me then refuses it with 401, another login's token still works", async () => {
  const address = `sdk.${randomUUID().slice(0, 12)}@example.com`;
  await client().post("/auth/signup", { name: "Grace Hopper", email: address, password });
  const sdk = await signedIn(address);
  const elsewhere = await signedIn(address);

  const me = await sdk.get("/auth/me");
  assert.equal(me.getStatusCode(), 200);
  assert.equal(me.getBody().email, address);

  const logout = await sdk.post("/auth/logout", {});
  assert.equal(logout.getStatusCode(), 200);
  assert.deepEqual(logout.getBody(), {});
  await refused(sdk.get("/auth/me"), 401, unauthorized);
  await refused(sdk.post("/auth/logout", {}), 401, unauthorized); // a session ends once

  assert.equal((await elsewhere.get("/auth/me")).getStatusCode(), 200); // the default scope is this session
});

test('logout with scope "global" ends a second login\'s token too', async () => {
  const address = `sdk.${randomUUID().slice(0, 12)}@example.com`;
  await client().post("/auth/signup", { email: address, password });
  const sdk = await signedIn(address);
  const second = await signedIn(address);
  assert.equal((await second.get("/auth/me")).getStatusCode(), 200);

  const logout = await sdk.post("/auth/logout", { scope: "global" });
  assert.equal(logout.getStatusCode(), 200);
  await refused(second.get("/auth/me"), 401, unauthorized);
  await refused(sdk.get("/auth/me"), 401, unauthorized);

  const fresh = await signedIn(address); // a new sign-in works after a global logout
  assert.equal((await fresh.get("/auth/me")).getBody().email, address);
});
