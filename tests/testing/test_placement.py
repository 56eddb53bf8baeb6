"""DefaultDeviceFor: factories called from the model's packages default to 'meta', other
libraries keep theirs, and explicit devices are honoured."""

import torch

from matforge.testing.placement import DefaultDeviceFor

HERE = __name__.split(".")[0]


def test_factories_called_from_the_packages_default_to_meta():
    with DefaultDeviceFor({HERE}):
        assert torch.zeros(2).device.type == "meta"
        assert torch.arange(3).device.type == "meta"
        assert torch.tensor([1.0]).device.type == "meta"


def test_explicit_devices_and_existing_tensors_keep_their_device():
    cpu = torch.ones(2)
    with DefaultDeviceFor({HERE}):
        assert torch.zeros(2, device=cpu.device).device.type == "cpu"
        assert torch.as_tensor(cpu).device.type == "cpu"
        assert torch.zeros_like(cpu).device.type == "cpu" and cpu.new_zeros(3).device.type == "cpu"


def test_other_packages_keep_the_default_device():
    with DefaultDeviceFor({"some_other_plugin"}):
        assert torch.zeros(2).device.type == "cpu"
    with DefaultDeviceFor({HERE}):
        # torch's own Python code (torch.empty inside nn.Linear) is not the model's
        assert torch.nn.Linear(2, 2).weight.device.type == "cpu"
