from pathlib import Path

import pytest

from schemas.config import ConfigError, apply_overrides, load_config
from schemas.taxonomy import builtin_taxonomies, load_taxonomy

REPO = Path(__file__).resolve().parents[1]


def test_quickstart_config_loads() -> None:
    cfg = load_config(REPO / "configs" / "quickstart.yaml")
    assert cfg.taxonomy == "mm-safetybench"
    assert cfg.variants == ["text_only", "typo", "figstep", "figstep_pro"]
    assert cfg.llm.provider == "offline"


def test_unknown_field_is_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("llm:\n  providr: openai\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "llm.providr" in str(err.value)


def test_wrong_type_and_bad_variant_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("questions_per_scenario: many\nvariants: [typo, hologram]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "questions_per_scenario" in message
    assert "variants: Value error, unknown variant(s) hologram" in message


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("llm: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_overrides_apply_dotted_keys_with_yaml_types() -> None:
    cfg = load_config(None, ["llm.temperature=0.2", "questions_per_scenario=7", "variants=[typo]"])
    assert cfg.llm.temperature == 0.2
    assert cfg.questions_per_scenario == 7
    assert cfg.variants == ["typo"]
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="llm.temperature"):
        load_config(None, ["llm.temperature=9"])


def test_release_version_must_be_semver() -> None:
    with pytest.raises(ConfigError, match="X.Y.Z"):
        load_config(None, ["release.version=v1"])


def test_builtin_taxonomies_have_the_reference_scenarios() -> None:
    assert {"mm-safetybench", "safebench"} <= set(builtin_taxonomies())
    mmsb = load_taxonomy("mm-safetybench")
    assert len(mmsb.scenarios) == 13
    kinds = [s.kind for s in mmsb.scenarios]
    # Scenarios 10-13 are the should-disclaim ones; 1-9 harmful.
    assert kinds == ["harmful"] * 9 + ["should_disclaim"] * 4
    safebench = load_taxonomy("safebench")
    assert len(safebench.scenarios) == 10
    assert safebench.scenario("adult_content").name == "Adult Content"
    with pytest.raises(KeyError, match="no scenario"):
        mmsb.scenario("cooking")


def test_unknown_taxonomy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="neither built in"):
        load_taxonomy("no-such-taxonomy")
