"""Two releases with the same name and version in different folders must not share the
`datasets` cache: it keys local folders by basename + config + card metadata, not by content."""

from pathlib import Path

import datasets
from release_data import make_inputs


def _release(root: Path, questions: int) -> Path:
    inputs = make_inputs(root / "artifacts", questions_per_scenario=questions)
    return Path(inputs.write(root / "releases").path)


def test_same_version_elsewhere_loads_its_own_rows(tmp_path: Path) -> None:
    small = _release(tmp_path / "a", questions=1)
    large = _release(tmp_path / "b", questions=3)
    assert small.name == large.name == "0.1.0"
    cache = tmp_path / "hf-cache"
    first = datasets.load_dataset(str(small), "typo", split="test", cache_dir=str(cache))
    second = datasets.load_dataset(str(large), "typo", split="test", cache_dir=str(cache))
    assert (len(first), len(second)) == (2, 6)
