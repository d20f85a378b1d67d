"""The README opens with the run and test commands; .ci/run must run exactly the test command."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = ROOT.joinpath("README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash\n")[1:3]]
    assert len(blocks) == 2 and "constrain generate" in blocks[0] and "pytest" in blocks[1]
    ci = ROOT.joinpath(".ci", "run").read_text()
    assert blocks[1] in ci.splitlines()
