// Passkeys: the buttons carry their endpoints and the CSRF token in data- attributes (no inline script: CSP).
"use strict";
(function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, csrf, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: body === undefined ? "{}" : JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.message || r.status); return j; }); });
  }
  function showError(id, err) {
    var el = document.getElementById(id);
    if (el) { el.textContent = err.message || String(err); el.hidden = false; }
  }
  function assertionJson(cred) {
    return {id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      response: {clientDataJSON: bufToB64url(cred.response.clientDataJSON),
        authenticatorData: bufToB64url(cred.response.authenticatorData),
        signature: bufToB64url(cred.response.signature),
        userHandle: cred.response.userHandle ? bufToB64url(cred.response.userHandle) : null},
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}};
  }
  function signIn(button) {
    var csrf = button.dataset.csrf;
    post(button.dataset.options, csrf).then(function (reply) {
      var o = JSON.parse(reply.options);
      var publicKey = {challenge: b64urlToBuf(o.challenge), rpId: o.rpId, timeout: o.timeout,
        userVerification: o.userVerification,
        allowCredentials: (o.allowCredentials || []).map(function (c) {
          return {type: c.type, id: b64urlToBuf(c.id), transports: c.transports}; })};
      return navigator.credentials.get({publicKey: publicKey}).then(function (cred) {
        var answer = button.dataset.answer || ("/login/mfa/passkey?c=" + encodeURIComponent(reply.challenge));
        return post(answer, csrf, assertionJson(cred));
      });
    }).then(function (done) { window.location.assign(done.redirect); })
      .catch(function (err) { showError("passkey-error", err); });
  }
  function register(button) {
    var csrf = button.dataset.csrf, nameField = document.getElementById("passkey-name");
    post(button.dataset.options, csrf).then(function (reply) {
      var o = JSON.parse(reply.options);
      var publicKey = {challenge: b64urlToBuf(o.challenge), rp: o.rp,
        user: {id: b64urlToBuf(o.user.id), name: o.user.name, displayName: o.user.displayName},
        pubKeyCredParams: o.pubKeyCredParams, timeout: o.timeout, attestation: o.attestation,
        authenticatorSelection: o.authenticatorSelection,
        excludeCredentials: (o.excludeCredentials || []).map(function (c) {
          return {type: c.type, id: b64urlToBuf(c.id)}; })};
      return navigator.credentials.create({publicKey: publicKey}).then(function (cred) {
        return post(button.dataset.answer + "?c=" + encodeURIComponent(reply.challenge), csrf, {
          name: nameField ? nameField.value : "",
          credential: {id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
            response: {clientDataJSON: bufToB64url(cred.response.clientDataJSON),
              attestationObject: bufToB64url(cred.response.attestationObject),
              transports: cred.response.getTransports ? cred.response.getTransports() : []},
            clientExtensionResults: cred.getClientExtensionResults()}});
      });
    }).then(function () { window.location.reload(); })
      .catch(function (err) { showError("passkey-error", err); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var login = document.getElementById("passkey");
    if (login) login.addEventListener("click", function () { signIn(login); });
    var add = document.getElementById("passkey-register");
    if (add) add.addEventListener("click", function () { register(add); });
  });
})();
