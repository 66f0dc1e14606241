"""Validates an OpenAPI document with openapi-spec-validator (an outside validator):
`python validate_openapi.py openapi.json`. Prints "valid OpenAPI 3.1" or the errors."""

import json
import sys

from openapi_spec_validator import OpenAPIV31SpecValidator


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        document = json.load(f)
    if document.get("openapi", "").split(".")[:2] != ["3", "1"]:
        print(f"not an OpenAPI 3.1 document: {document.get('openapi')!r}")
        return 1
    errors = list(OpenAPIV31SpecValidator(document).iter_errors())
    for error in errors:
        print(f"error: {error.message} at {'/'.join(str(p) for p in error.absolute_path)}")
    if errors:
        return 1
    operations = sum(len(ops) for ops in document["paths"].values())
    print(f"valid OpenAPI 3.1: {len(document['paths'])} paths, {operations} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
