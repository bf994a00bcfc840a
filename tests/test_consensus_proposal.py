"""The union rule lives on the server: what an automatic decision makes of a slice, for the viewer's edit."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from annotations import services as review_services
from ildplatform import labelmaps

from .review_fixtures import build_cast, client_of, reader_2_labels


def proposal_url(cast, decision: str, z_index: int = 1) -> str:
    return f"/api/v1/series/{cast.series.pk}/consensus/slices/{z_index}/proposal?decision={decision}"


def second_thoughts_of_reader_1() -> np.ndarray:
    labels = np.zeros((64, 64), dtype=np.uint8)
    labels[10:40, 5:35] = 1
    labels[40:45, 50:60] = 2
    return labels


@pytest.fixture
def cast(db):
    """Reader 1 saved slice 1 twice before submitting: only the latest version counts."""
    cast = build_cast("assigned")
    review_services.mask_save(reading=cast.r1, z_index=1, png=labelmaps.encode_png(second_thoughts_of_reader_1()),
                              if_match=1, user=cast.r1.user)  # fmt: skip
    for reading in (cast.r1, cast.r2):
        review_services.reading_submit(reading=reading, user=reading.user)
    return cast


def test_union_and_intersection_follow_their_definition_on_the_latest_versions(cast):
    adjudicator = client_of(cast.users["adjudicator"])
    first, second = second_thoughts_of_reader_1(), reader_2_labels()
    # From the definition: every pixel either reader marked; reader 1's pattern where both marked one.
    union = second.copy()
    union[first != 0] = first[first != 0]
    both = (first != 0) & (second != 0)
    intersection = np.zeros_like(first)
    intersection[both] = first[both]
    assert both.any() and (union != 0).sum() > (first != 0).sum()
    expected = {"union": union, "intersection": intersection, "reader_1": first, "reader_2": second}
    for decision, labels in expected.items():
        answer = adjudicator.get(proposal_url(cast, decision))
        assert answer.status_code == 200, answer.content
        assert answer["Content-Type"] == "image/png"
        assert np.array_equal(labelmaps.decode_png(answer.content), labels), decision


def test_proposal_is_refused_with_a_reason(cast):
    adjudicator = client_of(cast.users["adjudicator"])
    bad = adjudicator.get(proposal_url(cast, "edited"))
    assert bad.status_code == 400 and "decision must be one of" in bad.json()["detail"]
    assert adjudicator.get(proposal_url(cast, "union", z_index=99)).status_code == 404
    reader = client_of(cast.users["reader_1"]).get(proposal_url(cast, "union"))
    assert reader.status_code == 403 and "adjudicator" in reader.json()["detail"]


def test_adjudicator_sees_no_proposal_before_both_readers_submitted(db):
    cast = build_cast("one_submitted")
    answer = client_of(cast.users["adjudicator"]).get(proposal_url(cast, "union"))
    assert answer.status_code == 403 and "both readers" in answer.json()["detail"]


def test_label_table_is_served_with_the_values_the_masks_hold(db, make_user, client_for):
    table = client_for(make_user("reader")).get("/api/v1/labels/").json()
    assert [(label["value"], label["key"]) for label in table["patterns"]] == [(1, "reticulation"), (2, "ggo")]
    assert [label["value"] for label in table["disagreement"]] == [1, 2, 3, 4, 5]
    colours = [label["colour"] for kind in table.values() for label in kind]
    assert all(len(colour) == 7 and colour.startswith("#") for colour in colours)
    for kind, labels in table.items():
        assert len({label["colour"] for label in labels}) == len(labels), f"every {kind} label has its own colour"
    pattern_colour = {label["key"]: label["colour"] for label in table["patterns"]}
    agree_colour = {label["key"]: label["colour"] for label in table["disagreement"]}
    # Where both readers agree, the map shows the pattern they agree on, in that pattern's colour.
    assert agree_colour["agree_reticulation"] == pattern_colour["reticulation"]
    assert agree_colour["agree_ggo"] == pattern_colour["ggo"]
    assert APIClient().get("/api/v1/labels/").status_code == 401


def test_disagreement_map_tells_agreement_by_pattern_from_each_kind_of_disagreement():
    from annotations.agreement import disagreement_map

    reader_1 = np.array([[0, 1, 2, 1, 2, 0, 1, 2]], dtype=np.uint8)
    reader_2 = np.array([[0, 1, 2, 2, 1, 1, 0, 0]], dtype=np.uint8)
    # neither, both reticulation, both GGO, different x2, only reader 2, only reader 1 x2
    assert disagreement_map(reader_1, reader_2).tolist() == [[0, 4, 5, 3, 3, 2, 1, 1]]
