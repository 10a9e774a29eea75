"""A Zimbra SOAP Admin API simulator (JSON form), for the connector's tests: Zimbra cannot run here.

Built from Zimbra's documented admin API: POST /service/admin/soap with {"Header": {"context": {"authToken"}},
"Body": {"<Name>Request": {"_jsns": "urn:zimbraAdmin", …}}}; answers {"Body": {"<Name>Response": …}} or a SOAP
Fault with Detail.Error.Code (account.ACCOUNT_EXISTS, account.NO_SUCH_ACCOUNT, service.AUTH_REQUIRED,
service.AUTH_EXPIRED, account.AUTH_FAILED) and HTTP 500, as Zimbra does.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ADMIN = ("admin@bacninh.gov.vn", "zimbra-admin-secret")


def fault(code: str, text: str) -> JSONResponse:
    body = {"Body": {"Fault": {"Code": {"Value": "soap:Sender"}, "Reason": {"Text": text},
                               "Detail": {"Error": {"Code": code, "_jsns": "urn:zimbra"}}}}, "_jsns": "urn:zimbraSoap"}
    return JSONResponse(body, status_code=500)


def answer(name: str, content: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"Header": {"context": {"_jsns": "urn:zimbra"}},
                         "Body": {name: {**content, "_jsns": "urn:zimbraAdmin"}}, "_jsns": "urn:zimbraSoap"})


def build() -> tuple[FastAPI, dict[str, Any]]:
    state: dict[str, Any] = {"accounts": {}, "tokens": set(), "requests": []}
    app = FastAPI()

    def info(account: dict[str, Any]) -> dict[str, Any]:
        # Multi-valued attributes (zimbraMailAlias) come as one {"n", "_content"} per value, as Zimbra sends them.
        return {"name": account["name"], "id": account["id"],
                "a": [{"n": k, "_content": v} for k, v in sorted(account["attrs"].items())]
                + [{"n": "zimbraMailAlias", "_content": a} for a in sorted(account.get("aliases", ()))]}

    def address_taken(address: str) -> bool:
        return any(a["name"] == address or address in a.get("aliases", ()) for a in state["accounts"].values())

    def by_name(name: str) -> dict[str, Any] | None:
        return next((a for a in state["accounts"].values() if a["name"] == name.lower()), None)

    @app.post("/service/admin/soap")
    async def soap(request: Request) -> JSONResponse:
        envelope = await request.json()
        (name, body), = envelope["Body"].items()
        state["requests"].append(name)
        if name == "AuthRequest":
            if (body.get("name"), body.get("password")) != ADMIN:
                return fault("account.AUTH_FAILED", "authentication failed for " + str(body.get("name")))
            token = "0_" + secrets.token_hex(16)
            state["tokens"].add(token)
            return answer("AuthResponse", {"authToken": [{"_content": token}], "lifetime": 43199998})
        auth_token: str | None = ((envelope.get("Header") or {}).get("context") or {}).get("authToken")
        if not auth_token:
            return fault("service.AUTH_REQUIRED", "no valid authtoken present")
        if auth_token not in state["tokens"]:
            return fault("service.AUTH_EXPIRED", "auth credentials have expired")
        if name == "CreateAccountRequest":
            if by_name(body["name"]):
                return fault("account.ACCOUNT_EXISTS", "email address already exists: " + body["name"])
            made = {"id": str(uuid.uuid4()), "name": body["name"].lower(),
                    "attrs": {"zimbraAccountStatus": "active", **{a["n"]: a["_content"] for a in body.get("a", [])}}}
            state["accounts"][made["id"]] = made
            return answer("CreateAccountResponse", {"account": [info(made)]})
        if name == "GetAccountRequest":
            wanted = body["account"]
            account = state["accounts"].get(wanted["_content"]) if wanted.get("by") == "id" else by_name(
                wanted["_content"])
            if account is None:
                return fault("account.NO_SUCH_ACCOUNT", "no such account: " + body["account"]["_content"])
            return answer("GetAccountResponse", {"account": [info(account)]})
        if name in ("ModifyAccountRequest", "SetPasswordRequest", "DeleteAccountRequest"):
            account = state["accounts"].get(body.get("id"))
            if account is None:
                return fault("account.NO_SUCH_ACCOUNT", "no such account: " + str(body.get("id")))
            if name == "ModifyAccountRequest":
                account["attrs"].update({a["n"]: a["_content"] for a in body.get("a", [])})
                return answer("ModifyAccountResponse", {"account": [info(account)]})
            if name == "SetPasswordRequest":
                account["password"] = body["newPassword"]
                return answer("SetPasswordResponse", {})
            del state["accounts"][account["id"]]
            return answer("DeleteAccountResponse", {})
        if name in ("AddAccountAliasRequest", "RemoveAccountAliasRequest"):
            account = state["accounts"].get(body.get("id"))
            alias = str(body.get("alias", "")).lower()
            if account is None:
                return fault("account.NO_SUCH_ACCOUNT", "no such account: " + str(body.get("id")))
            aliases = account.setdefault("aliases", set())
            if name == "AddAccountAliasRequest":
                if address_taken(alias):
                    return fault("account.ACCOUNT_EXISTS", "email address already exists: " + alias)
                aliases.add(alias)
                return answer("AddAccountAliasResponse", {})
            if alias not in aliases:
                return fault("account.NO_SUCH_ALIAS", "no such alias: " + alias)
            aliases.discard(alias)
            return answer("RemoveAccountAliasResponse", {})
        if name == "GetAllAccountsRequest":
            domain = "@" + body["domain"]["_content"]
            return answer("GetAllAccountsResponse", {"account": [info(a) for a in state["accounts"].values()
                                                                 if a["name"].endswith(domain)]})
        return fault("service.UNKNOWN_DOCUMENT", "unknown document: " + name)

    return app, state
