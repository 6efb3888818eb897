"""The Vespa content source against the protocol-level test server, with pyvespa as the client."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import pytest

from pipeline.config import VespaConfig
from pipeline.content import SCHEMA_ROUTES
from pipeline.errors import BackendUnavailableError, ConfigError
from pipeline.content.vespa import VespaContentSource
from tests.fixtures.s3 import free_port
from tests.vespa_server import VespaTestServer, corpus_documents


def searches(server: VespaTestServer) -> list[dict]:
    return [r for r in server.requests if r["path"] == "/search/"]


def visits(server: VespaTestServer) -> list[dict]:
    return [r for r in server.requests if r["path"].startswith("/document/v1/")]


def test_search_sampling_is_seeded_random_and_maps_vespa_fields(vespa_server, vespa_config):
    source = VespaContentSource(vespa_config())
    items = source.sample(10, seed=1, schemas=["video_frames"])
    assert len(items) == 10 and len({i.id for i in items}) == 10
    assert {i.schema_name for i in items} == {"video_frames"}
    # video titles and text live in video_title / frame_description in this application
    assert all(i.title and i.text and i.topics for i in items)
    assert all(i.source_id == f"id:cogniverse:video_frames::{i.id}" for i in items)
    assert any(i.entities for i in items)

    assert [i.id for i in source.sample(10, seed=1, schemas=["video_frames"])] == [i.id for i in items]
    other = source.sample(10, seed=2, schemas=["video_frames"])
    assert {i.id for i in other} != {i.id for i in items}
    # a random sample, not the first documents in index order
    first_ten = [d.local_id for d in vespa_server.documents if d.doctype == "video_frames"][:10]
    assert [i.id for i in items] != first_ten
    [probe, *_] = [r for r in vespa_server.requests if r["path"] == "/ApplicationStatus"]
    assert probe["method"] == "GET"
    assert searches(vespa_server)[0]["method"] == "POST"


def test_search_spreads_over_schemas_and_pages_with_offset(vespa_server, vespa_config):
    source = VespaContentSource(vespa_config(max_hits=25))
    items = source.sample(70, seed=3, schemas=["audio_transcripts"])
    assert len(items) == 70 and len({i.id for i in items}) == 70  # pages of one seed do not overlap
    assert len(searches(vespa_server)) == 3  # 25 + 25 + 20
    everything = source.sample(10, seed=3)
    assert sorted({i.schema_name for i in everything}) == sorted(SCHEMA_ROUTES)
    assert all(sum(i.schema_name == s for i in everything) == 2 for s in SCHEMA_ROUTES)
    # asking for more than the schema holds returns what there is, nothing made up
    assert len(source.sample(500, seed=3, schemas=["text_content"])) == 72
    # paging stops at the application's maxOffset (and says so): deeper samples need `visit`
    capped = VespaContentSource(vespa_config(max_hits=25, max_offset=30))
    assert len(capped.sample(70, seed=3, schemas=["audio_transcripts"])) == 50


def test_visit_follows_continuation_over_random_slices(vespa_server, vespa_config):
    source = VespaContentSource(vespa_config(sampling="visit", page_size=5, slices=4))
    items = source.sample(30, seed=5, schemas=["image_content"])
    assert len(items) == 30 and len({i.id for i in items}) == 30
    assert {i.schema_name for i in items} == {"image_content"}
    assert all(i.title and i.text for i in items)  # title / description fields in this schema
    params = [parse_qs(r["query"]) for r in visits(vespa_server)]
    assert all(p["cluster"] == ["content"] and p["slices"] == ["4"] for p in params)
    assert any("continuation" in p for p in params)  # more documents than one page
    assert int(params[0]["wantedDocumentCount"][0]) <= 5

    vespa_server.requests.clear()
    every = source.sample(1000, seed=5, schemas=["image_content"])
    assert len(every) == 72 and len({i.id for i in every}) == 72  # every slice read to its last page
    slice_ids = {p["sliceId"][0] for p in (parse_qs(r["query"]) for r in visits(vespa_server))}
    assert slice_ids == {"0", "1", "2", "3"}
    assert visits(vespa_server)[0]["path"] == "/document/v1/cogniverse/image_content/docid/"


def test_large_query_bodies_are_sent_gzipped(vespa_server, vespa_config):
    # A long filter (one real exclusion among many): the JSON body passes 1 KiB, pyvespa gzips it.
    where = " and ".join(["!(topics contains \"rockets\")", *(f'!(topics contains "unused-topic-{n}")' for n in range(60))])
    config = vespa_config(schemas={"video_frames": {"where": where}})
    items = VespaContentSource(config).sample(72, seed=1)
    [search] = searches(vespa_server)
    assert search["gzip"] and search["body_bytes"] > 1024
    assert items and all("rockets" not in i.topics for i in items)  # the server read the decompressed body
    assert len(items) == 72 - sum(1 for d in vespa_server.documents if d.doctype == "video_frames" and "rockets" in d.fields["topics"])


def test_vespa_error_bodies_become_clean_errors(vespa_config):
    with pytest.raises(ConfigError, match="does not contain requested rank profile 'bm25x'"):
        VespaContentSource(vespa_config(rank_profile="bm25x")).sample(5, seed=1)
    with pytest.raises(ConfigError, match="configured limit: 400"):  # the application's maxHits
        VespaContentSource(vespa_config(max_hits=500)).sample(450, seed=1, schemas=["video_frames"])
    with pytest.raises(ConfigError, match="no content cluster 'nope'"):
        VespaContentSource(vespa_config(sampling="visit", content_cluster="nope")).sample(5, seed=1)
    with pytest.raises(ConfigError, match="Could not instantiate query from YQL"):
        VespaContentSource(vespa_config(schemas={"text_content": {"where": "topics ~ 'x'"}})).sample(5, seed=1)
    with pytest.raises(ConfigError, match="needs both `modality` and `agent`"):
        VespaContentSource(vespa_config(schemas={"podcasts_v2": {}}))


def test_transient_server_errors_are_retried_then_reported(vespa_server, vespa_config):
    vespa_server.fail_next(2, status=503)
    items = VespaContentSource(vespa_config(retry_attempts=3)).sample(5, seed=1, schemas=["text_content"])
    assert len(items) == 5
    vespa_server.fail_next(10, status=503)
    with pytest.raises(BackendUnavailableError, match="after 2 attempts.*injected failure"):
        VespaContentSource(vespa_config(retry_attempts=2)).sample(5, seed=1)
    # a visit page that fails mid-slice is retried from its continuation, not from the start
    vespa_server.fail_next(0)
    source = VespaContentSource(vespa_config(sampling="visit", page_size=4, slices=2, retry_attempts=2))
    source.check_ready()
    vespa_server.requests.clear()
    vespa_server.fail_next(1, status=503, after=3)
    items = source.sample(72, seed=2, schemas=["document_content"])
    assert len(items) == 72 and len({i.id for i in items}) == 72
    pages = [r["query"] for r in visits(vespa_server)]
    assert "continuation=" in pages[3] and pages[3] == pages[4]  # the failed request, then its retry
    assert len(pages) == len(set(pages)) + 1


def test_unreachable_backend_fails_fast_with_its_own_error():
    config = VespaConfig(endpoint=f"http://127.0.0.1:{free_port()}", retry_attempts=3, retry_backoff_s=0.01)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="after 3 attempts.*ConnectError") as caught:
        VespaContentSource(config).sample(5, seed=1)
    assert time.monotonic() - started < 2.0  # pyvespa's own retries (10, ~1 s apart) are off
    assert caught.value.exit_code == 8


def test_empty_backend_gives_an_empty_sample(vespa_config, vespa_server):
    vespa_server.set_documents([])
    assert VespaContentSource(vespa_config()).sample(10, seed=1) == []
    assert VespaContentSource(vespa_config(sampling="visit")).sample(10, seed=1) == []


def test_field_mapping_is_configurable_per_schema():
    names = {"video_frames": {"title": "headline", "text": "caption"}}
    with VespaTestServer(corpus_documents(field_names=names)) as server:
        base = {"endpoint": server.url, "namespace": "cogniverse", "retry_attempts": 1}
        default = VespaContentSource(VespaConfig.model_validate(base))
        assert default.sample(5, seed=1, schemas=["video_frames"]) == []  # no known title/text field
        mapped = VespaContentSource(VespaConfig.model_validate(
            {**base, "schemas": {"video_frames": {"fields": {"title": ["headline"], "text": ["caption"]}}}}))
        items = mapped.sample(5, seed=1)
        assert len(items) == 5 and all(i.title and i.text for i in items)
        assert {p.name: (p.modality, p.agent) for p in mapped.profiles()} == {"video_frames": ("video", "video_search_agent")}


def test_the_server_speaks_document_get_like_vespa(vespa_server):
    from vespa.application import Vespa

    app = Vespa(url=vespa_server.url)
    found = app.get_data("video_frames", "video-001", namespace="cogniverse")
    assert found.status_code == 200 and found.json["fields"]["video_title"].startswith("Starship")
    missing = app.get_data("video_frames", "nope", namespace="cogniverse")
    assert missing.status_code == 404
