"""OpenAPI conformance (schemathesis) of both services over real HTTP, from the committed OpenAPI files."""
