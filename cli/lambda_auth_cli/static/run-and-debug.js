// Run & Debug: Swagger UI over /openapi.json, and a user picker that puts a token for the
// chosen user into Swagger UI's Authorize. Served by `lambda-auth serve` only, never deployed.
"use strict";

(function () {
  const SCHEMES = ["bearerAuth", "authtokenQuery"];
  const LIMIT = 50;
  const byId = (id) => document.getElementById(id);
  const rows = document.querySelector("#rd-users tbody");
  const status = byId("rd-status");
  const query = byId("rd-query");
  const carrier = byId("rd-carrier");
  const tokenBox = byId("rd-token");

  const ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    validatorUrl: null, // the default sends the description to a public validator
    tryItOutEnabled: true,
    displayRequestDuration: true,
    persistAuthorization: false,
    responseInterceptor: (response) => {
      // A new user signed up through the page: show them in the picker.
      if (response.ok && /\/auth\/signup$/.test(new URL(response.url).pathname)) {
        refresh();
      }
      return response;
    },
  });

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("rd-error", Boolean(isError));
  }

  function utc(milliseconds) {
    return new Date(milliseconds).toISOString().slice(0, 16).replace("T", " ");
  }

  async function askServer(path, options) {
    const response = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, options));
    let body = {};
    try {
      body = await response.json();
    } catch (error) {
      body = {};
    }
    if (!response.ok) {
      throw new Error(body.message || `the server answered ${response.status}`);
    }
    return body;
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text; // names and emails are user input: text, never HTML
    return td;
  }

  function render(users) {
    rows.replaceChildren();
    for (const user of users) {
      const tr = document.createElement("tr");
      tr.dataset.email = user.email;
      tr.append(cell(String(user.id)), cell(user.email), cell(user.name), cell(utc(user.created_at)));
      const action = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn rd-use";
      button.textContent = "Use";
      button.setAttribute("aria-label", `Get a token for ${user.email}`);
      button.addEventListener("click", () => use(user));
      action.append(button);
      tr.append(action);
      rows.append(tr);
    }
  }

  let latest = 0;
  async function refresh() {
    const asked = ++latest;
    const search = query.value.trim();
    try {
      const answer = await askServer(`/_local/users?${new URLSearchParams({ search, limit: String(LIMIT) })}`);
      if (asked !== latest) {
        return; // a newer search has been sent meanwhile
      }
      render(answer.users);
      const count = answer.users.length;
      const matching = search ? ` whose email contains "${search}"` : "";
      const more = count === LIMIT ? ` (the first ${LIMIT}: search to narrow)` : "";
      if (!tokenBox.value) {
        say(count ? `${count} user${count === 1 ? "" : "s"}${matching}${more}.` : `No users${matching} yet.`);
      }
    } catch (error) {
      say(`Cannot list users: ${error.message}`, true);
    }
  }

  async function use(user) {
    say(`Getting a token for ${user.email}…`);
    try {
      const answer = await askServer("/_local/token", {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify({ id: user.id }),
      });
      const scheme = carrier.value;
      const authorized = ui.authSelectors.authorized();
      const held = SCHEMES.filter((name) => authorized && authorized.has(name));
      if (held.length) {
        ui.authActions.logout(held); // one carrier at a time: the new token replaces the old
      }
      if (ui.preauthorizeApiKey(scheme, answer.authToken) === null) {
        throw new Error("the API description has not loaded yet; try again");
      }
      tokenBox.value = answer.authToken;
      for (const tr of rows.children) {
        tr.classList.toggle("rd-chosen", tr.dataset.email === user.email);
      }
      ui.layoutActions.show(["operations", "default", "me"], true);
      const until = utc(answer.expires_at * 1000);
      say(`Authorized as ${answer.user.email} (id ${answer.user.id}) with ${scheme}, until ${until} UTC. Run GET /auth/me below.`);
    } catch (error) {
      say(`No token for ${user.email}: ${error.message}`, true);
    }
  }

  let typing;
  query.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(refresh, 250);
  });
  byId("rd-search").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  refresh();
})();
