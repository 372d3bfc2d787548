"""Locations: local paths, URLs and S3 objects; the settings workers get; secrets redacted."""

import pytest

from geoseg.locations import gdal_path, is_remote, location, name_of, redact, remote_settings


@pytest.mark.parametrize(
    ("text", "remote", "gdal"),
    [
        ("s3://bucket/scenes/a.tif", True, "/vsis3/bucket/scenes/a.tif"),
        ("https://host/a.tif", True, "https://host/a.tif"),
        ("/data/a.tif", False, "/data/a.tif"),
    ],
)
def test_locations_and_the_names_gdal_opens_them_by(text: str, remote: bool, gdal: str) -> None:
    assert is_remote(text) is remote
    assert gdal_path(text) == gdal
    assert name_of(text) == "a.tif"


def test_a_relative_path_is_made_absolute_and_a_url_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/tmp")
    assert location("x/a.tif") == "/tmp/x/a.tif"
    assert location("http://h/x/a.tif") == "http://h/x/a.tif"


def test_remote_settings_are_the_aws_and_gdal_http_variables() -> None:
    environ = {
        "AWS_S3_ENDPOINT": "minio:9000",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
        "GDAL_HTTP_MAX_RETRY": "5",
        "GDAL_DATA": "/client/only/path",
        "HOME": "/root",
    }
    assert remote_settings(environ) == {
        "AWS_S3_ENDPOINT": "minio:9000",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
        "GDAL_HTTP_MAX_RETRY": "5",
    }


def test_secrets_are_redacted_from_messages() -> None:
    environ = {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}
    line = "s3://b/a.tif: cannot reach (signature for s3cr3t-value rejected; key AKIAEXAMPLE)"
    assert redact(line, environ) == (
        "s3://b/a.tif: cannot reach (signature for *** rejected; key AKIAEXAMPLE)"
    )
