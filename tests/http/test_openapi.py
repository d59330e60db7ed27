"""The OpenAPI schema names every workflow with its typed input (the request body) and output."""

from __future__ import annotations

from typing import Any

from http_support import make_app

from pikku._registry import workflows


def _schema() -> dict[str, Any]:
    spec: dict[str, Any] = make_app().openapi()
    return spec


def test_each_workflow_has_a_start_route_typed_by_its_models() -> None:
    """The example's workflows: Order/Invoice and OnboardingInput/OnboardingOutput, by reference."""
    spec = _schema()
    for workflow, input_model, output_model in [
        ("invoice", "Order", "Invoice"),
        ("onboarding", "OnboardingInput", "OnboardingOutput"),
        ("http-add", "AddInput", "AddOutput"),
    ]:
        operation = spec["paths"][f"/pikku/workflows/{workflow}/runs"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert _title(spec, body["$ref"]) == input_model, workflow
        created = operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
        output = _resolve(spec, created)["properties"]["output"]["anyOf"]
        assert [_title(spec, s["$ref"]) for s in output if "$ref" in s] == [output_model], workflow
        assert operation["operationId"] == f"start_{workflow}"
        assert {"422", "413", "403"} <= set(operation["responses"])


def _resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    """The component a ``$ref`` names (FastAPI qualifies a name with its module when two models share it)."""
    assert ref.startswith("#/components/schemas/")
    found: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def _title(spec: dict[str, Any], ref: str) -> str:
    title: str = _resolve(spec, ref)["title"]
    return title


def test_every_registered_workflow_is_in_the_schema() -> None:
    """No workflow is left out (each has its own operation)."""
    paths = _schema()["paths"]
    assert {f"/pikku/workflows/{name}/runs" for name in workflows()} <= set(paths)


def test_the_run_routes_and_their_error_body_are_described() -> None:
    """Run routes are in the schema with the shared error body; the console is not."""
    spec = _schema()
    paths = spec["paths"]
    assert {"/pikku/runs", "/pikku/runs/{run_id}", "/pikku/runs/{run_id}/stream", "/pikku/runs/{run_id}/cancel"} <= set(
        paths
    )
    assert paths["/pikku/runs/{run_id}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert not [p for p in paths if "/ui" in p]
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {"code", "message", "detail"}
