"""The OpenAPI schema: every view's nested Input/Output serializer is a component of its own."""

from drf_spectacular.generators import SchemaGenerator


def test_each_views_input_and_output_serializers_get_their_own_component(db):
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    assert {"WorklistOutput", "AuditOutput", "MaskHistoryOutput", "SeriesDetailOutput", "SeriesLungOutput"} <= set(
        components
    )
    assert {"ReopenInput", "ReviewAssignInput", "ConsensusDecisionInput", "SeriesInferenceInput"} <= set(components)
    assert "Output" not in components and "Input" not in components
    audit_fields = set(components["AuditOutput"]["properties"])
    assert {"action", "before_version", "after_version"} <= audit_fields
