"""json_depth against the depth of the decoded object, computed here by recursion, on seeded random JSON
whose strings are full of brackets, quotes and backslashes."""

import json
import random

from ildplatform.parsing import json_depth


def depth_of(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def random_json(rng: random.Random, budget: int):
    kind = rng.choice(["list", "dict", "text", "number"] if budget else ["text", "number"])
    if kind == "list":
        return [random_json(rng, budget - 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return {
            rng.choice(['a"[', "}{", "\\]"]) + str(i): random_json(rng, budget - 1) for i in range(rng.randint(0, 3))
        }
    if kind == "text":
        return "".join(rng.choice('[]{}"\\ab') for _ in range(rng.randint(0, 6)))
    return rng.uniform(-1e6, 1e6)


def test_depth_equals_the_decoded_objects_depth():
    rng = random.Random(7)
    for _ in range(2000):
        value = random_json(rng, rng.randint(0, 8))
        assert json_depth(json.dumps(value)) == depth_of(value)


def test_token_endpoint_refuses_deep_json_with_400(db):
    from rest_framework.test import APIClient

    deep = "[" * 50_000 + "]" * 50_000  # DRF's own token view recursed into a 500 on this
    response = APIClient().post("/api/v1/auth/token/", data=deep, content_type="application/json")
    assert response.status_code == 400 and "nests 50000 levels" in response.json()["detail"]
