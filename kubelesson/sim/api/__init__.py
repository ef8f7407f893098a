"""The API surface kubectl talks to: the HTTP server and its connections, discovery and
OpenAPI, request bodies (JSON, protobuf, patches) and their schema, the apiserver's
semantics on top of the store (cluster.py: validation, defaults, deletes), the kinds
served, selectors, errors and the table printers."""
