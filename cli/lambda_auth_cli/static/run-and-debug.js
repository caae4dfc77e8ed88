// Run & Debug: Swagger UI over /openapi.json, a user picker that puts a token for the
// chosen user into Swagger UI's Authorize, and the Mail panel, which shows what the functions
// mailed (the local outbox) with each message's code. Served by `lambda-auth serve` only,
// never deployed.
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
  const mailRows = document.querySelector("#rd-mails tbody");
  const mailStatus = byId("rd-mail-status");
  const MAIL_LIMIT = 10;
  const MAIL_WAIT_MS = 15000; // how long the panel looks for the mail of a reset asked for here
  const MAIL_POLL_MS = 500;
  const CODE = /\b\d{6,}\b/; // a message's code: its first run of six or more digits

  const ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    validatorUrl: null, // the default sends the description to a public validator
    tryItOutEnabled: true,
    displayRequestDuration: true,
    persistAuthorization: false,
    responseInterceptor: (response) => {
      const path = new URL(response.url).pathname;
      // A new user signed up through the page: show them in the picker.
      if (response.ok && /\/auth\/signup$/.test(path)) {
        refresh();
      }
      // A reset asked for through the page: its mail comes a moment later, from the mailer.
      if (response.ok && /\/auth\/password-reset$/.test(path)) {
        awaitMail();
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
      ui.layoutActions.show(["operations", "account", "me"], true); // GET /auth/me, under its tag in openapi.yaml
      const until = utc(answer.expires_at * 1000);
      say(`Authorized as ${answer.user.email} (id ${answer.user.id}) with ${scheme}, until ${until} UTC. Run GET /auth/me below.`);
    } catch (error) {
      say(`No token for ${user.email}: ${error.message}`, true);
    }
  }

  function sayMail(text, isError) {
    mailStatus.textContent = text;
    mailStatus.classList.toggle("rd-error", Boolean(isError));
  }

  function renderMail(messages) {
    mailRows.replaceChildren();
    for (const mail of messages) {
      const tr = document.createElement("tr");
      tr.dataset.to = mail.to;
      const code = document.createElement("td");
      const found = CODE.exec(mail.text);
      if (found) {
        const shown = document.createElement("code");
        shown.className = "rd-code";
        shown.textContent = found[0];
        code.append(shown);
      }
      const text = document.createElement("td");
      const details = document.createElement("details");
      details.className = "rd-mail-text";
      const summary = document.createElement("summary");
      summary.textContent = "show";
      const body = document.createElement("pre");
      body.textContent = mail.text; // mail holds user input (the address): text, never HTML
      details.append(summary, body);
      text.append(details);
      const sent = mail.sent_at.replace("T", " ").replace("Z", "");
      tr.append(cell(sent), cell(mail.to), cell(mail.subject), code, text);
      mailRows.append(tr);
    }
  }

  let mailTotal = 0; // messages in the outbox at the latest look
  let latestMail = 0;
  async function refreshMail() {
    const asked = ++latestMail;
    try {
      const answer = await askServer(`/_local/outbox?${new URLSearchParams({ limit: String(MAIL_LIMIT) })}`);
      if (asked !== latestMail) {
        return null; // a newer look has been sent meanwhile
      }
      renderMail(answer.messages);
      mailTotal = answer.total;
      const more = answer.total > answer.messages.length ? ` (the latest ${answer.messages.length})` : "";
      sayMail(
        answer.total
          ? `${answer.total} message${answer.total === 1 ? "" : "s"}${more}, newest first.`
          : "No mail yet. Ask for a password reset to get a code.",
      );
      return answer;
    } catch (error) {
      sayMail(`Cannot read the outbox: ${error.message}`, true);
      return null;
    }
  }

  // Look again until a new message is in, or MAIL_WAIT_MS have passed (an email without an
  // account gets no mail, and the answer does not say so).
  let watching = null;
  function awaitMail() {
    clearTimeout(watching);
    const before = mailTotal;
    const until = Date.now() + MAIL_WAIT_MS;
    sayMail("Waiting for the mail…");
    const look = async () => {
      const answer = await refreshMail();
      if (answer && answer.total > before) {
        return;
      }
      if (Date.now() < until) {
        watching = setTimeout(look, MAIL_POLL_MS);
      } else if (answer) {
        sayMail("No new mail: an email without an account gets none.");
      }
    };
    look();
  }

  byId("rd-mail-refresh").addEventListener("click", refreshMail);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      refreshMail();
    }
  });

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
  refreshMail();
})();
