"""docker-compose.yml: every service runs on the project image, as ${UID:-1000}, with ./data and ./runs mounted; the GPU training
services run on the CUDA image, reserve an NVIDIA device and pass --gpu."""
import os
import re

import pytest
import yaml

import train_support

REPO = train_support.REPO
SERVICES = {"prepare", "make-lmdb", "train-cde", "train-hde", "evaluate", "compare", "test"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose():
    with open(os.path.join(REPO, "docker-compose.yml")) as handle:
        return yaml.safe_load(handle)


def interpolate(text, environment=None):
    """Compose's ${VAR:-default} with an empty environment (or ``environment``)."""
    environment = environment or {}
    return _VARIABLE.sub(lambda m: environment.get(m.group(1)) or (m.group(2) or ""), str(text))


def test_services_image_user_and_volumes(compose):
    services = compose["services"]
    assert SERVICES <= set(services)
    assert {"train-cde-gpu", "train-hde-gpu"} <= set(services)
    for name, service in services.items():
        dockerfile = "docker/Dockerfile.gpu" if name.endswith("-gpu") else "docker/Dockerfile"
        assert service["build"]["dockerfile"] == dockerfile, name
        assert service["image"] == ("atnet:gpu" if name.endswith("-gpu") else "atnet:cpu"), name
        assert os.path.isfile(os.path.join(REPO, service["build"]["context"], service["build"]["dockerfile"]))
        assert interpolate(service["user"]).split(":")[0] == "1000", name  # ${UID:-1000} by default
        assert service["working_dir"] == "/opt/atnet"  # WORKDIR of both Dockerfiles
        if name != "test":
            assert sorted(service["volumes"]) == ["./data:/opt/atnet/data", "./runs:/opt/atnet/runs"], name


def test_gpu_services_reserve_a_device_and_pass_gpu(compose):
    for name in ("train-cde-gpu", "train-hde-gpu"):
        service = compose["services"][name]
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
        assert service["command"][-2:] == ["--gpu", "0"]
        cpu = compose["services"][name.replace("-gpu", "")]["command"]
        assert service["command"][:-2] == cpu


# That every service's command parses (python and sh commands, in a sandbox with the
# data folders it expects) is tests/test_readme.py::test_every_command_of_docker_compose_parses.


def test_documented_variables_pick_protocol_model_and_run(compose):
    services = compose["services"]
    hde = [interpolate(p, {"PROTOCOL": "hde"}) for p in services["make-lmdb"]["command"]]
    assert hde[hde.index("--protocol") + 1] == "hde" and hde[hde.index("--out") + 1] == "data/lmdb/hde"
    train = [interpolate(p) for p in services["train-cde"]["command"]]
    assert train[train.index("--model") + 1] == "fusion" and train[train.index("--out") + 1] == "runs/fusion-cde"

