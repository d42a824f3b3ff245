"""What can be checked of images/postgres/Dockerfile without a Docker engine: a pinned
PostgreSQL base, barman-cloud from exactly the pins the data tests run with, and its
commands on PATH for archive_command and restore_command; rclone for the off-site
mirror."""

from __future__ import annotations

from tests.tools.conftest import ROOT
from tests.tools.test_dockerfile import instructions

DOCKERFILE = ROOT / "images" / "postgres" / "Dockerfile"
REQUIREMENTS = "hack/barman-cloud/requirements.txt"


def test_base_is_the_official_postgres_image_of_a_pinned_major_on_bookworm() -> None:
    steps = instructions(DOCKERFILE)
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG")
    bases = [a for k, a in steps if k == "FROM"]
    assert bases == ["postgres:${PG_MAJOR}-bookworm"]
    assert args["PG_MAJOR"].isdigit()


def test_barman_cloud_is_installed_from_the_pinned_requirements_the_tests_use() -> None:
    steps = instructions(DOCKERFILE)
    copies = [a for k, a in steps if k == "COPY"]
    assert f"{REQUIREMENTS} /opt/barman-cloud/requirements.txt" in copies
    runs = " ".join(a for k, a in steps if k == "RUN")
    assert "pip install --no-deps -r /opt/barman-cloud/requirements.txt" in runs
    pins = [
        line
        for line in (ROOT / REQUIREMENTS).read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all("==" in pin for pin in pins), pins
    assert any(pin.startswith("barman==") for pin in pins)


def test_barman_cloud_commands_are_on_path() -> None:
    env = " ".join(a for k, a in instructions(DOCKERFILE) if k == "ENV")
    assert 'PATH="/opt/barman-cloud/bin:${PATH}"' in env


def test_rclone_for_the_offsite_mirror_is_debians_package_and_runs() -> None:
    runs = [a for k, a in instructions(DOCKERFILE) if k == "RUN"]
    installs = [r for r in runs if "apt-get install" in r]
    assert installs and "rclone" in installs[0].split()
    assert any("&& rclone version" in r for r in runs)
