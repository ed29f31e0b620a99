"""docker-compose.yml: every service runs a command of this repository whose arguments
its own argument parser accepts (with the documented defaults of ${VAR:-default}),
on the project image, as uid 1000, with ./data and ./runs mounted; the GPU training
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
        assert service["user"].split(":")[0] == "1000", name
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


@pytest.mark.parametrize("environment", [{}, {"PROTOCOL": "hde", "MODEL": "temporal", "RUN": "temporal-hde"}])
def test_every_command_exists_and_its_arguments_parse(compose, environment):
    for name, service in compose["services"].items():
        command = [interpolate(part, environment) for part in service["command"]]
        if command[0] == "make":
            targets = re.findall(r"^([\w-]+):", open(os.path.join(REPO, "Makefile")).read(), re.M)
            assert command[1] in targets, name
            continue
        assert command[0] == "python", name
        assert os.path.isfile(os.path.join(REPO, command[1])), (name, command[1])
        train_support.load_script(command[1]).parse_args(command[2:])  # argparse exits on a bad argument


def test_documented_variables_pick_protocol_model_and_run(compose):
    services = compose["services"]
    hde = [interpolate(p, {"PROTOCOL": "hde"}) for p in services["make-lmdb"]["command"]]
    assert hde[hde.index("--protocol") + 1] == "hde" and hde[hde.index("--out") + 1] == "data/lmdb/hde"
    train = [interpolate(p) for p in services["train-cde"]["command"]]
    assert train[train.index("--model") + 1] == "fusion" and train[train.index("--out") + 1] == "runs/fusion-cde"

