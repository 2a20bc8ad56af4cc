//! `GET /v1/openapi.json`: the API described in OpenAPI 3.1, beside the
//! handlers it describes (src/run/http.rs), so a change to one shows in the
//! other's review.

use serde_json::{json, Value};

pub fn document() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let problem = |what: &str| json!({ "description": what, "content": { "application/json": { "schema": error } } });
    let id =
        json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    let attributes = json!({
        "content": { "application/json": { "schema": { "type": "object", "description": "attributes by name, as [customer] in tend.toml declares them" } } }
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tend run",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Events in, customers' state and deliveries out. See docs/runner.md."
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Accept events: one JSON envelope, or JSON lines of them",
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/json": { "schema": { "$ref": "#/components/schemas/Envelope" } },
                            "application/x-ndjson": { "schema": { "type": "string", "description": "one Envelope per line" } }
                        }
                    },
                    "responses": {
                        "202": { "description": "at least one event accepted, or all were repeats", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Intake" } } } },
                        "422": { "description": "no event accepted", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Intake" } } } },
                        "400": problem("the body is not JSON"),
                        "401": problem("no or a wrong bearer token"),
                        "413": { "description": "the body is over 10 MiB" }
                    }
                }
            },
            "/v1/customers/{id}": {
                "parameters": [id],
                "put": {
                    "summary": "Create a customer or replace their attributes (their enrollments are kept)",
                    "requestBody": attributes,
                    "responses": { "204": { "description": "stored" }, "422": problem("an attribute does not fit the schema"), "400": problem("not JSON"), "401": problem("no or a wrong bearer token") }
                },
                "patch": {
                    "summary": "Change the attributes named, as a customer.updated input",
                    "requestBody": attributes,
                    "responses": { "202": { "description": "accepted" }, "422": problem("an attribute does not fit the schema"), "400": problem("not a JSON object"), "401": problem("no or a wrong bearer token") }
                },
                "get": {
                    "summary": "The customer, their running enrollments, latest deliveries and records",
                    "responses": { "200": { "description": "the customer", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Customer" } } } }, "404": problem("no such customer"), "401": problem("no or a wrong bearer token") }
                },
                "delete": {
                    "summary": "Erase the customer (an opt-out is kept as a salted hash)",
                    "responses": { "200": { "description": "what was removed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Erased" } } } }, "404": problem("no such customer"), "401": problem("no or a wrong bearer token") }
                }
            },
            "/v1/openapi.json": {
                "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": {} } }, "401": problem("no or a wrong bearer token") } }
            },
            "/healthz": {
                "get": { "security": [], "summary": "The store answers", "responses": { "200": { "description": "ok" }, "503": problem("the store did not answer") } }
            },
            "/metrics": {
                "get": { "security": [], "summary": "Prometheus text", "responses": { "200": { "description": "metrics", "content": { "text/plain": {} } } } }
            }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "TEND_API_TOKEN" } },
            "schemas": {
                "Envelope": {
                    "type": "object",
                    "required": ["name", "customer", "at"],
                    "properties": {
                        "id": { "type": "string", "description": "unique; a repeat with the same content is a duplicate" },
                        "name": { "type": "string", "description": "an event declared in tend.toml, or customer.updated" },
                        "customer": { "type": "string" },
                        "at": { "type": "string", "format": "date-time" },
                        "data": { "type": "object", "description": "the payload, as [events.\"name\"] declares it" },
                        "attributes": { "type": "object", "description": "a partial patch of the customer" }
                    },
                    "additionalProperties": false
                },
                "Intake": {
                    "type": "object",
                    "required": ["accepted", "rejected"],
                    "properties": {
                        "accepted": { "type": "array", "items": { "type": "object", "required": ["index", "id", "duplicate"], "properties": { "index": { "type": "integer" }, "id": { "type": "string" }, "duplicate": { "type": "boolean" } } } },
                        "rejected": { "type": "array", "items": { "type": "object", "required": ["index", "id", "field", "message"], "properties": { "index": { "type": "integer" }, "id": { "type": ["string", "null"] }, "field": { "type": ["string", "null"], "description": "the field at fault, as a path such as data.order_id" }, "message": { "type": "string" } } } }
                    }
                },
                "Customer": {
                    "type": "object",
                    "required": ["id", "attributes", "do_not_contact", "enrollments", "deliveries", "records"],
                    "properties": {
                        "id": { "type": "string" },
                        "attributes": { "type": "object" },
                        "do_not_contact": { "type": "boolean" },
                        "enrollments": { "type": "array", "items": { "type": "object" } },
                        "deliveries": { "type": "array", "items": { "type": "object" } },
                        "records": { "type": "array", "items": { "type": "object" } }
                    }
                },
                "Erased": {
                    "type": "object",
                    "required": ["erased", "removed"],
                    "properties": {
                        "erased": { "type": "string" },
                        "removed": { "type": "object", "properties": { "events": { "type": "integer" }, "deliveries": { "type": "integer" }, "records": { "type": "integer" }, "kept_opt_out": { "type": "boolean" } } }
                    }
                },
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } }
            }
        }
    })
}
