"""Validates YAML files against a JSON Schema: prints {file: [error, ...]} as JSON."""
import json
import sys

import jsonschema_rs
import yaml

schema = json.load(open(sys.argv[1]))
validator = jsonschema_rs.Draft7Validator(schema)
print(json.dumps({
    path: [str(e.message) for e in validator.iter_errors(yaml.safe_load(open(path)) or {})]
    for path in sys.argv[2:]
}))
