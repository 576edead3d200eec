"""Target profiles: every key optional (SPEC defaults), checked, overridden by options and HARNESS_*."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Settings
from harness.profile import Profile, ProfileError, Route

ROOT = Path(__file__).resolve().parents[1]


def test_an_empty_profile_is_the_spec() -> None:
    profile = Profile.from_dict({})
    assert str(profile.bloodbank.publish) == "POST /events"
    assert profile.bloodbank.success == (202,)
    assert profile.candystore.by_id.url(event_id="x") == "/events/x"
    assert profile.broker.exchange == "bloodbank.events.v1"


def test_the_documented_example_profile_loads() -> None:
    profile = Profile.load(ROOT / "docs" / "target-profile.toml")
    assert profile.source.endswith("target-profile.toml")
    assert profile.bloodbank.success == (200, 202)
    assert str(profile.bloodbank.publish) == "POST /api/v2/publish"


def test_routes_statuses_params_and_broker_names_are_read(tmp_path: Path) -> None:
    file = tmp_path / "team.toml"
    file.write_text(
        "[bloodbank]\n"
        'publish = "PUT /ingest"\n'
        "success = [200]\n"
        'batch = ""\n'
        'metrics = "http://127.0.0.1:9100/metrics"\n'
        "[candystore]\n"
        'by_id = "/v1/events/{event_id}"\n'
        'params = { session_id = "session" }\n'
        "[broker]\n"
        'exchange = "team.events"\n'
    )
    profile = Profile.load(file)
    assert profile.bloodbank.publish == Route("PUT", "/ingest")
    assert profile.bloodbank.success == (200,)
    assert not profile.bloodbank.batch.present
    assert profile.bloodbank.metrics.path == "http://127.0.0.1:9100/metrics"
    assert profile.candystore.by_id == Route("GET", "/v1/events/{event_id}")
    assert profile.candystore.query(session_id="s", limit=5) == {"session": "s", "limit": 5}
    assert profile.broker.exchange == "team.events" and profile.broker.dlx == "bloodbank.events.dlq"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[bloodbank]\npublsh = '/x'\n", "unknown key 'publsh'"),
        ("[bloodbank]\nsuccess = [2020]\n", "give HTTP statuses"),
        ("[bloodbank]\npublish = 'FETCH /x'\n", "unknown method 'FETCH'"),
        ("[bloodbank]\npublish = 'events'\n", "must start with '/'"),
        ("[candystor]\n", "unknown section"),
        ("[bloodbank\n", "not valid TOML"),
    ],
)
def test_a_bad_profile_names_the_key_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ProfileError, match=message) as caught:
        Profile.load(file)
    assert str(file) in str(caught.value)


def test_environment_overrides_the_profile_broker_names(tmp_path: Path) -> None:
    file = tmp_path / "team.toml"
    file.write_text('[broker]\nexchange = "team.events"\nqueue = "team.store"\n')
    settings = Settings.resolve({"profile": str(file)}, environ={"HARNESS_EXCHANGE": "override.events"})
    assert settings.topology.exchange == "override.events"
    assert settings.topology.queue == "team.store"
    assert settings.surface.source == str(file)


def test_a_missing_profile_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not found"):
        Settings.resolve({"profile": str(tmp_path / "nope.toml")}, environ={})


def test_the_stream_url_follows_the_profile_route_and_parameter_names(tmp_path: Path) -> None:
    from harness.probes import CandystoreClient

    file = tmp_path / "team.toml"
    file.write_text('[candystore]\nstream = "/v2/live"\nparams = { event_type = "type" }\n')
    client = CandystoreClient("https://cs.example:8443", surface=Profile.load(file).candystore)
    try:
        assert client.stream_url() == "wss://cs.example:8443/v2/live"
        assert (
            client.stream_url(event_type="a.#", after="t")
            == "wss://cs.example:8443/v2/live?type=a.%23&after=t"
        )
    finally:
        client.http.close()
    assert CandystoreClient("http://127.0.0.1:1").stream_url() == "ws://127.0.0.1:1/events/stream"
