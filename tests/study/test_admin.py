"""The study-admin service: finding studies, checking configs and options before any work."""

from __future__ import annotations

import pytest

from studio.config import StudioConfig
from studio.study.admin import MAX_CONFIG_BYTES, AdminError, StudyAdmin
from studio.study.definition import DefinitionError

STUDIES = {1: "12345678" + "a" * 56, 2: "123456ff" + "b" * 56}  # one shared prefix, one all-digit


class _Store:
    """A store of :data:`STUDIES` as far as finding a study needs one."""

    def get_study(self, key):
        for i, sha in STUDIES.items():
            if key in (i, sha):
                return f"study {i}"
        raise KeyError(key)

    def list_studies(self):
        return [(i, sha, "x") for i, sha in STUDIES.items()]


@pytest.fixture
def admin(tmp_path) -> StudyAdmin:
    return StudyAdmin(StudioConfig(output_dir=tmp_path), _Store())


def test_a_study_is_found_by_id_hash_or_unique_prefix(admin):
    assert admin.find(2) == "study 2" and admin.find("2") == "study 2"
    assert admin.find("12345678") == "study 1"  # no study 12345678: the digits are a prefix
    assert admin.find("123456FF") == "study 2"  # hex digits in either case
    with pytest.raises(AdminError, match="matches 2 studies"):
        admin.find("123456")
    with pytest.raises(AdminError, match="no study 7"):
        admin.find(7)
    with pytest.raises(AdminError, match="choose a study first"):
        admin.find(None)


def test_configs_and_options_are_checked_before_any_work(admin):
    with pytest.raises(DefinitionError, match="larger than"):
        admin.parse_config("#" * (MAX_CONFIG_BYTES + 1), "pasted", None)
    with pytest.raises(AdminError, match="frame size"):
        admin.render("not used", size=10)
    with pytest.raises(AdminError, match="reduction must be one of"):
        admin.report("not used", reduction="median")
    with pytest.raises(AdminError, match="bootstrap resamples"):
        admin.report("not used", n_bootstrap=-1)


def test_opening_needs_the_secret(tmp_path):
    with pytest.raises(AdminError, match="STUDIO_STUDY_SECRET"):
        StudyAdmin.open(StudioConfig(output_dir=tmp_path, study_secret=None))
