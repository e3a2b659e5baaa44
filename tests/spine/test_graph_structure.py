"""The graph gathers nothing that grows with the corpus into one worker, element or side input.

Builds the pipeline graph for a config with every stage on (for both shard write paths) and
walks it. Every gather (a ParDo side input: AsList/AsIter/AsDict/AsSingleton; a CombineGlobally
or a global combiner such as ToList, ToDict, Top) must be marked in the source, on the line of
its label, the three lines above, or the next three lines, with `# bounded: <why>`, so a reader sees the
argument next to the code. A gather whose label cannot be found in the source fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import apache_beam as beam
import pytest
import yaml
from apache_beam.pipeline import PipelineVisitor

from pipelines.config import load_config
from pipelines.graph import build_graph
from pipelines.run import prepare
from tests.spine.corpus import sources, write_corpus

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("pipelines", "transforms", "quality")
GATHER_NAMES = {
    "ToList",
    "ToDict",
    "ToSet",
    "Of",
    "Smallest",
    "Largest",
    "Globally",
    "FixedSizeGlobally",
}


def _is_gather(transform) -> bool:
    if isinstance(transform, beam.CombineGlobally):
        return True
    module = type(transform).__module__
    return module.startswith("apache_beam.transforms.combiners") and (
        type(transform).__name__ in GATHER_NAMES
    )


class _Gathers(PipelineVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []  # (full label, what)
        self._inside: list[str] = []

    def _visit(self, node) -> None:
        if any(node.full_label.startswith(g + "/") for g in self._inside):
            return
        if _is_gather(node.transform):
            self.found.append((node.full_label, type(node.transform).__name__))
            self._inside.append(node.full_label)
        for side in getattr(node, "side_inputs", ()) or ():
            self.found.append((node.full_label, type(side).__name__))

    def enter_composite_transform(self, node) -> None:
        self._visit(node)

    def visit_transform(self, node) -> None:
        self._visit(node)


LABEL = re.compile(r"""(?:\|\s*(f?)"([^"]+)")|(?:(f?)"([^"]+)"\s*>>)""")


def _label_sites() -> list[tuple[re.Pattern, str, list[str], int]]:
    """Every label literal in the source: (pattern, file, lines, line index).

    An f-string label matches any text where it has a {field}.
    """
    sites = []
    for d in SOURCE_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            lines = path.read_text().splitlines()
            for i, line in enumerate(lines):
                for m in LABEL.finditer(line):
                    is_f, text = (
                        (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(4))
                    )
                    parts = re.split(r"\{[^}]*\}", text) if is_f else [text]
                    pattern = re.compile(".+".join(re.escape(x) for x in parts) + r"\Z")
                    sites.append((pattern, str(path.relative_to(ROOT)), lines, i))
    return sites


def _is_marked(label: str, sites, marks=("# bounded:",)) -> tuple[bool, list[str]]:
    """Walks the label from its leaf up to the first component found in the source."""
    for component in reversed(label.split("/")):
        hits = [s for s in sites if s[0].match(component)]
        if not hits:
            continue
        places = [f"{f}:{i + 1}" for _, f, _, i in hits]
        for _, _, lines, i in hits:
            if any(m in w for w in lines[max(0, i - 3) : i + 4] for m in marks):
                return True, places
        return False, places
    return False, []


@pytest.fixture(scope="module")
def full_config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graph")
    corpus = tmp / "corpus"
    write_corpus(corpus)
    evalset = tmp / "eval.jsonl"
    evalset.write_text(
        '{"id": "e1", "text": "one two three four five six seven eight nine ten eleven twelve thirteen"}\n'
    )
    bloom_dir = tmp / "previous"
    bloom_dir.mkdir()
    from transforms.dedup.bloom import BloomFilter

    (bloom_dir / "bloom_filter.bin").write_bytes(BloomFilter.for_capacity(1000, 0.01, 1).to_bytes())
    cfg = {
        "run": {"name": "graph", "output": str(tmp / "out"), "progress": False},
        "input": {"sources": sources(corpus)},
        "tokenizer": {"vocab_size": 300, "train_sample_docs": 100},
        "dedup": {
            "cross_release": {"previous_filter": str(bloom_dir / "bloom_filter.bin")},
            "decontamination": {"eval_sets": [{"name": "ev", "paths": [str(evalset)]}]},
        },
        "sampling": {
            "mode": "budget",
            "token_budget": 2000,
            "eval_fraction": 0.1,
            "mixture": {"jsonl": 0.5, "parquet": 0.2, "text": 0.2, "hf": 0.1},
            "dsir": {
                "enabled": True,
                "target_paths": [str(corpus / "texts" / "t*.txt")],
                "buckets": 256,
            },
            "drift": {"enabled": True, "buckets": 256},
        },
        "train": {"enabled": True, "config": str(ROOT / "configs/train/lora_demo.yaml")},
    }
    path = tmp / "full.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("target", ["distributed", "local"])
def test_every_gather_is_marked_bounded(full_config, target):
    """The graph a distributed runner gets has only bounded gathers; the embedded runner's may
    also use gathers marked `# local runner only:` (one machine holds the metadata anyway)."""
    cfg = load_config(str(full_config))
    cfg.dedup.near.components = "rounds" if target == "distributed" else "local"
    # a distributed runner shuffles through its service: no on-disk groups in its graph
    cfg.run.local_shuffle = "memory" if target == "distributed" else "disk"
    cfg.dedup.near.band_filter = "exact" if target == "distributed" else "sketch"
    plan = prepare(cfg)
    write_path = plan.write_path = "shuffle" if target == "distributed" else "local"
    marks = ("# bounded:",) if target == "distributed" else ("# bounded:", "# local runner only")
    p = beam.Pipeline(runner="FnApiRunner")
    build_graph(p, plan)
    visitor = _Gathers()
    p.visit(visitor)
    labels = {label for label, _ in visitor.found}
    # The walk sees the gathers we know are there (the test would be empty otherwise).
    assert any(label.endswith("Finalize/Gather") for label in labels)  # tallies, Bloom filter
    assert any(label.endswith("RankBuckets") for label in labels)
    assert any(label.endswith("WriteDrops/File") for label in labels)  # the count per place
    if write_path == "shuffle":
        assert not any(label.endswith("WriteShards") for label in labels), "no runs side input"
    source = _label_sites()
    unmarked = []
    for label, what in sorted(set(visitor.found)):
        ok, places = _is_marked(label, source, marks)
        if not ok:
            unmarked.append(f"{label} ({what}) at {places or 'no source line found'}")
    assert not unmarked, "gathers without a `# bounded:` reason:\n" + "\n".join(unmarked)


def test_the_walk_catches_an_unmarked_gather(full_config):
    """Negative control: a ToList added without a reason is reported."""
    p = beam.Pipeline(runner="FnApiRunner")
    _ = p | beam.Create([1, 2]) | "UnmarkedGatherForTest" >> beam.combiners.ToList()
    visitor = _Gathers()
    p.visit(visitor)
    found = [label for label, _ in visitor.found if label.endswith("UnmarkedGatherForTest")]
    assert found and not _is_marked(found[0], _label_sites())[0]


class _Labels(beam.pipeline.PipelineVisitor):
    def __init__(self) -> None:
        self.labels: list[str] = []

    def visit_transform(self, node) -> None:
        self.labels.append(node.full_label)

    def enter_composite_transform(self, node) -> None:
        self.labels.append(node.full_label)


@pytest.mark.parametrize("local_shuffle", ["disk", "memory"])
def test_local_shuffle_decides_where_the_document_sized_groups_happen(full_config, local_shuffle):
    cfg = load_config(str(full_config))
    cfg.run.local_shuffle = local_shuffle
    p = beam.Pipeline(runner="FnApiRunner")
    build_graph(p, prepare(cfg))
    visitor = _Labels()
    p.visit(visitor)
    on_disk = {label.rsplit("/", 1)[0] for label in visitor.labels if label.endswith("/ReadParts")}
    expected = {
        "Dedup/Decisions/DuplicateIds/GroupById",
        "Dedup/Decisions/Exact/GroupByContent",
        "Dedup/Decisions/Near/GroupBuckets",
        "Dedup/Decisions/Route/JoinDecisionsById/Group",
        "PlanShards/GroupBuckets",
    }
    if local_shuffle == "disk":
        assert expected <= on_disk, sorted(on_disk)
    else:
        assert not on_disk


class _TaggedTypes(beam.pipeline.PipelineVisitor):
    """PCollections whose element type still carries `TaggedOutput` (an undeclared main output)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def visit_transform(self, node) -> None:
        for tag, pcoll in node.outputs.items():
            if "TaggedOutput" in str(pcoll.element_type):
                self.found.append(f"{node.full_label} [{tag}]: {pcoll.element_type}")


@pytest.mark.parametrize("target", ["distributed", "local"])
def test_graph_passes_beams_type_check_without_warnings(full_config, target, caplog):
    """Both graphs build with Beam's pipeline type check on (the default; Beam 2.78 rejected the
    components rounds), every multi-output step declares its main output type, and building
    logs none of Beam's "type hint will be ignored" warnings."""
    cfg = load_config(str(full_config))
    cfg.dedup.near.components = "rounds" if target == "distributed" else "local"
    cfg.run.local_shuffle = "memory" if target == "distributed" else "disk"
    cfg.dedup.near.band_filter = "exact" if target == "distributed" else "sketch"
    plan = prepare(cfg)
    plan.write_path = "shuffle" if target == "distributed" else "local"
    options = beam.options.pipeline_options.PipelineOptions([])
    assert options.view_as(beam.options.pipeline_options.TypeOptions).pipeline_type_check
    p = beam.Pipeline(runner="FnApiRunner", options=options)
    with caplog.at_level("WARNING"):
        build_graph(p, plan)
    visitor = _TaggedTypes()
    p.visit(visitor)
    assert not visitor.found, "\n".join(visitor.found)
    ignored = [
        r.getMessage() for r in caplog.records if "type hint will be ignored" in r.getMessage()
    ]
    assert not ignored, ignored[:3]
