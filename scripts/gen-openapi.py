#!/usr/bin/env python3
"""Writes policy/src/openapi.json, the OpenAPI 3.1 description of the decision API.

Edit this script, not the JSON; `cargo test` checks that every route the
server has is described (policy/tests/openapi.rs)."""
import json, pathlib

def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def body(schema, ctype="application/json"): return {"required": True, "content": {ctype: {"schema": schema}}}
def ok(schema, desc="OK"): return {"description": desc, "content": {"application/json": {"schema": schema}}}
ERR = {"description": "Malformed request", "content": {"application/json": {"schema": ref("Error")}}}
TOO_LARGE = {"description": "Body larger than server.max_body_bytes"}
RID = {"name": "X-Request-ID", "in": "header", "required": False, "schema": {"type": "string"},
       "description": "Echoed in the response and recorded in the decision log; generated when absent."}
ADMIN = [{"bearerAuth": []}]
def decision_op(summary, req, resp, tag):
    return {"post": {"summary": summary, "tags": [tag], "parameters": [RID], "requestBody": body(req),
                     "responses": {"200": ok(resp), "400": ERR, "413": TOO_LARGE}}}
def token_op(summary, req, resp, tag):
    op = decision_op(summary, req, resp, tag)
    op["post"]["responses"]["401"] = {"description": "The token did not verify (the reason is logged, never returned)",
                                      "content": {"application/json": {"schema": ref("Error")}}}
    return op
def admin_op(method, summary, req=None, ctypes=("text/plain",)):
    op = {"summary": summary, "tags": ["admin"], "security": ADMIN,
          "parameters": [{"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                          "description": "Apply only if this etag is still being served (412 otherwise)."}],
          "responses": {"200": ok(ref("PolicyVersion"), "The new version, now serving"),
                        "401": {"description": "Missing or wrong admin token"},
                        "404": {"description": "Admin API disabled"},
                        "412": {"description": "If-Match does not match the served etag"},
                        "422": ok(ref("Rejected"), "Update rejected; the previous version keeps serving")}}
    if req is not None:
        op["requestBody"] = {"required": True, "content": {c: {"schema": req} for c in ctypes}}
    return {method: op}

entity = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "description": "Cedar entity type (after the configured mapping)."},
    "id": {"type": "string", "description": "Entity id; omitted for the searched-for entity of a search."},
    "properties": {"type": "object", "description": "Attributes laid over the stored entity's attributes."}}}
action = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "description": "Action id (Action::\"name\"), or a full Cedar action uid."},
    "properties": {"type": "object", "description": "Ignored by Cedar."}}}
uid = {"oneOf": [{"type": "string", "description": "Cedar syntax: User::\"alice\""},
                 {"type": "object", "required": ["type", "id"], "properties": {"type": {"type": "string"}, "id": {"type": "string"}}}]}
spec = {
  "openapi": "3.1.0",
  "info": {"title": "Palisade decision API", "version": "1.0",
           "description": "Authorization decisions on Cedar policies: OpenID AuthZEN Authorization API 1.0, a Cedar-native API, admin and operations endpoints. Every error is a deny; 200 is returned for permit and deny alike."},
  "tags": [{"name": "authzen"}, {"name": "cedar"}, {"name": "admin"}, {"name": "operations"}],
  "paths": {
    "/access/v1/evaluation": decision_op("AuthZEN access evaluation", ref("EvaluationRequest"), ref("EvaluationResponse"), "authzen"),
    "/access/v1/evaluations": decision_op("AuthZEN access evaluations (batch)", ref("EvaluationsRequest"), ref("EvaluationsResponse"), "authzen"),
    "/access/v1/search/subject": decision_op("AuthZEN subject search", ref("SearchRequest"), ref("SearchResponse"), "authzen"),
    "/access/v1/search/resource": decision_op("AuthZEN resource search", ref("SearchRequest"), ref("SearchResponse"), "authzen"),
    "/access/v1/search/action": decision_op("AuthZEN action search", ref("SearchRequest"), ref("SearchResponse"), "authzen"),
    "/.well-known/authzen-configuration": {"get": {"summary": "AuthZEN PDP metadata", "tags": ["authzen"], "responses": {"200": ok(ref("PdpMetadata"))}}},
    "/v1/is_authorized": decision_op("Cedar-native decision", ref("CedarRequest"), ref("CedarResponse"), "cedar"),
    "/v1/is_authorized/batch": decision_op("Cedar-native batch", {"type": "object", "required": ["requests"], "properties": {"requests": {"type": "array", "items": ref("CedarRequest")}}},
                                            {"type": "object", "properties": {"responses": {"type": "array", "items": ref("CedarResponse")}}}, "cedar"),
    "/access/v1/token/evaluation": token_op("AuthZEN access evaluation whose subject is a bearer token (needs [[identity.issuers]])", ref("TokenEvaluationRequest"), ref("EvaluationResponse"), "authzen"),
    "/v1/is_authorized_with_token": token_op("Cedar-native decision whose principal comes from a token, like IsAuthorizedWithToken (needs [[identity.issuers]])", ref("TokenCedarRequest"), ref("CedarResponse"), "cedar"),
    "/admin/v1/policy": {"get": {"summary": "The version being served", "tags": ["admin"], "security": ADMIN, "responses": {"200": ok(ref("PolicyVersion")), "401": {"description": "Missing or wrong admin token"}}}},
    "/admin/v1/versions": {"get": {"summary": "Policy version history, newest first", "tags": ["admin"], "security": ADMIN,
                                   "responses": {"200": ok({"type": "array", "items": {"type": "object", "properties": {"etag": {"type": "string"}, "source": {"type": "string"}, "created_at": {"type": "string"}}}}), "401": {"description": "Missing or wrong admin token"}}}},
    "/admin/v1/policies": admin_op("put", "Replace the policies (text/plain: one Cedar file, keeping links; JSON: files and links)",
                                   {"oneOf": [{"type": "string"}, {"type": "object", "required": ["files"], "properties": {"files": {"type": "array", "items": ref("SourceFile")}, "links": {"type": "array", "items": ref("SourceFile")}}}]},
                                   ("text/plain", "application/json")),
    "/admin/v1/entities": admin_op("put", "Replace the entities (Cedar entity JSON array)", {"type": "array"}, ("application/json",)),
    "/admin/v1/schema": admin_op("put", "Replace the schema (Cedar syntax, or JSON with application/json; empty removes it)", {"type": "string"}, ("text/plain", "application/json")),
    "/admin/v1/reload": admin_op("post", "Reload everything from the policy directory"),
    "/healthz": {"get": {"summary": "Liveness", "tags": ["operations"], "responses": {"200": {"description": "Alive"}}}},
    "/readyz": {"get": {"summary": "Readiness: a policy version is loaded", "tags": ["operations"], "responses": {"200": ok({"type": "object"})}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["operations"], "responses": {"200": {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "tags": ["operations"], "responses": {"200": ok({"type": "object"})}}},
  },
  "components": {
    "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "The admin token (server.admin_token_file)."}},
    "schemas": {
      "Entity": entity, "Action": action, "EntityUid": uid,
      "EvaluationRequest": {"type": "object", "required": ["subject", "action", "resource"], "properties": {
          "subject": ref("Entity"), "action": ref("Action"), "resource": ref("Entity"), "context": {"type": "object"}}},
      "EvaluationResponse": {"type": "object", "required": ["decision"], "properties": {
          "decision": {"type": "boolean"},
          "context": {"type": "object", "properties": {
              "policy_version": {"type": "string"}, "reasons": {"type": "array", "items": {"type": "string"}},
              "error": {"type": "object", "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}},
              "errors": {"type": "array", "items": {"type": "string"}}}}}},
      "EvaluationsRequest": {"type": "object", "properties": {
          "subject": ref("Entity"), "action": ref("Action"), "resource": ref("Entity"), "context": {"type": "object"},
          "evaluations": {"type": "array", "items": {"type": "object", "properties": {
              "subject": ref("Entity"), "action": ref("Action"), "resource": ref("Entity"), "context": {"type": "object"}}}},
          "options": {"type": "object", "properties": {"evaluations_semantic": {"enum": ["execute_all", "deny_on_first_deny", "permit_on_first_permit"]}}}}},
      "EvaluationsResponse": {"description": "One decision per item; a request without items is a single evaluation and gets a single response.",
          "oneOf": [{"type": "object", "required": ["evaluations"], "properties": {"evaluations": {"type": "array", "items": ref("EvaluationResponse")}}},
                    ref("EvaluationResponse")]},
      "SearchRequest": {"type": "object", "properties": {
          "subject": ref("Entity"), "action": ref("Action"), "resource": ref("Entity"), "context": {"type": "object"},
          "page": {"type": "object", "properties": {"token": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}}}}},
      "SearchResponse": {"type": "object", "properties": {
          "results": {"type": "array", "items": {"type": "object"}},
          "page": {"type": "object", "properties": {"next_token": {"type": "string", "description": "Empty on the last page."}}}}},
      "PdpMetadata": {"type": "object", "properties": {k: {"type": "string"} for k in [
          "policy_decision_point", "access_evaluation_endpoint", "access_evaluations_endpoint",
          "search_subject_endpoint", "search_resource_endpoint", "search_action_endpoint"]}},
      "CedarRequest": {"type": "object", "required": ["principal", "action", "resource"], "properties": {
          "principal": ref("EntityUid"), "action": ref("EntityUid"), "resource": ref("EntityUid"),
          "context": {"type": "object"}, "entities": {"type": "array", "description": "Request-scoped entities (Cedar entity JSON)."}}},
      "TokenEvaluationRequest": {"type": "object", "required": ["subject_token", "action", "resource"], "properties": {
          "subject_token": {"type": "string", "description": "A JWT access token or ID token from a configured issuer."},
          "action": ref("Action"), "resource": ref("Entity"),
          "context": {"type": "object", "description": "`token` is replaced by the claims configured in principal.context."}}},
      "TokenCedarRequest": {"type": "object", "required": ["action", "resource"], "properties": {
          "access_token": {"type": "string"}, "identity_token": {"type": "string", "description": "Exactly one of access_token and identity_token."},
          "action": ref("EntityUid"), "resource": ref("EntityUid"), "context": {"type": "object"},
          "entities": {"type": "array", "description": "Request-scoped entities; none may be the principal."}}},
      "CedarResponse": {"type": "object", "properties": {
          "decision": {"enum": ["Allow", "Deny"]}, "policy_version": {"type": "string"},
          "diagnostics": {"type": "object", "properties": {"reason": {"type": "array", "items": {"type": "string"}}, "errors": {"type": "array", "items": {"type": "string"}}}}}},
      "SourceFile": {"type": "object", "required": ["name", "text"], "properties": {"name": {"type": "string"}, "text": {"type": "string"}}},
      "PolicyVersion": {"type": "object", "properties": {
          "etag": {"type": "string"}, "loaded_at": {"type": "string"}, "policies": {"type": "integer"}, "templates": {"type": "integer"},
          "entities": {"type": "integer"}, "schema": {"type": "boolean"}, "files": {"type": "array", "items": {"type": "string"}}}},
      "Rejected": {"type": "object", "properties": {"error": ref("ErrorBody"), "diagnostics": {"type": "array", "items": {"type": "object", "properties": {
          "file": {"type": "string"}, "line": {"type": "integer"}, "column": {"type": "integer"}, "message": {"type": "string"}, "help": {"type": "string"}}}}}},
      "ErrorBody": {"type": "object", "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}},
      "Error": {"type": "object", "properties": {"error": ref("ErrorBody")}},
    }},
}
out = pathlib.Path(__file__).resolve().parent.parent / "policy" / "src" / "openapi.json"
out.write_text(json.dumps(spec, indent=1) + "\n")
print(f"wrote {out}")
