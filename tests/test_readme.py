"""The README's four-language examples are the files in examples/snippets/, and those run against pscache.

Each README code block marked `<!-- snippet: PATH -->` must be, character for character, the lines between PATH's
`readme:begin` and `readme:end` markers (dedented). Each file is then run as a function's code runs: with the
function's AWS_SESSION_TOKEN and pscache's port variable, against a real pscache in front of the local AWS, twice;
the value comes through and the second read is served from the cache (one call reached AWS).
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from app import __version__
from harness import ROOT, TOKEN
from locallambda.runtimes import go_build

README = ROOT / "README.md"
SNIPPETS = ROOT / "examples" / "snippets"
BLOCK = re.compile(r"<!-- snippet: (\S+) -->\n```\w+\n(.*?)\n```", re.S)
PARAMETER, PARAMETER_VALUE = "/app/flag", "readme-flag-on"
SECRET, SECRET_VALUE = "prod/db", "readme-db-password"


def region(path) -> str:
    """The lines between the readme markers, dedented."""
    lines = path.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip().endswith("readme:begin"))
    end = next(i for i, line in enumerate(lines) if line.strip().endswith("readme:end"))
    return textwrap.dedent("\n".join(lines[begin + 1:end]))


def test_readme_blocks_are_the_snippet_files():
    blocks = BLOCK.findall(README.read_text())
    assert [path for path, _ in blocks] == [f"examples/snippets/{name}" for name in
                                            ("get_parameter.py", "get_secret.mjs", "GetParameter.java", "get_secret.go")]
    for path, block in blocks:
        expected = region(ROOT / path)
        assert block == expected, f"README's block for {path} is not the file's; it should read:\n{expected}"


@pytest.mark.parametrize("path", ["README.md", "docs/deploying.md", "examples/container/Dockerfile",
                                  "examples/container/README.md"])
def test_copy_from_lines_name_this_version(path):
    """The one line a container-image function adds names the image scripts/build-layer --image tags."""
    versions = re.findall(r"COPY --from=pscache:(\d\S*) /opt /opt", (ROOT / path).read_text())  # not <version>
    assert versions and set(versions) == {__version__}, (path, versions)


def command(language: str, scratch) -> list[str]:
    if language == "python":
        return [sys.executable, "-S", str(SNIPPETS / "get_parameter.py"), PARAMETER]  # -S: standard library only
    if language == "node":
        return ["node", str(SNIPPETS / "get_secret.mjs")]
    if language == "java":
        assert shutil.which("java"), "the Java snippet needs `java`: apt-get install default-jdk-headless"
        return ["java", str(SNIPPETS / "GetParameter.java")]  # Java 11+ runs a single source file
    return [str(go_build(SNIPPETS, "get_secret.go", scratch / "get_secret", scratch))]


@pytest.fixture
def seeded(aws):
    aws["ssm"].put_parameter(Name=PARAMETER, Value=PARAMETER_VALUE, Type="String", Overwrite=True)
    try:
        aws["sm"].create_secret(Name=SECRET, SecretString=SECRET_VALUE)
    except aws["sm"].exceptions.ResourceExistsException:
        aws["sm"].put_secret_value(SecretId=SECRET, SecretString=SECRET_VALUE)


@pytest.mark.parametrize("language, operation, shows", [
    ("python", "GetParameter", PARAMETER_VALUE),
    ("node", "GetSecretValue", SECRET_VALUE),
    pytest.param("java", "GetParameter", f'"Value":"{PARAMETER_VALUE}"', marks=pytest.mark.slow),  # a JVM per run
    pytest.param("go", "GetSecretValue", f'"SecretString":"{SECRET_VALUE}"', marks=pytest.mark.slow),  # go build
])
def test_snippet_reads_through_pscache_and_the_second_read_is_a_hit(seeded, start_ext, proxy, tmp_path, language,
                                                                     operation, shows):
    ext = start_ext()
    argv = command(language, tmp_path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_SESSION_TOKEN": TOKEN,
           "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(ext.port)}
    for _ in range(2):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and shows in done.stdout, (done, ext.output())
    assert proxy.count(operation) == 1  # the second run was answered from pscache's cache
